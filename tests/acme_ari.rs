//! ACME Renewal Information (RFC 9773): a certificate that is nowhere near
//! its renewal threshold is renewed when the CA's `renewalInfo` says its
//! suggested window has opened, and left alone while the window is ahead.
//!
//! Debian's pebble 2.4 has no ARI, so the test serves the directory itself:
//! pebble's directory plus a `renewalInfo` URL on a loopback server that
//! answers with a window the test moves. Orders still go to pebble.
//!
//! The same run checks that another directory URL gets its own account:
//! accounts are per ACME server, as certbot keeps them.

#[path = "support/env.rs"]
mod env;
#[path = "support/pebble.rs"]
mod pebble;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use moat::acme::{AcmeConfig, ChallengeSolver, Directory, LetsencryptPaths, Outcome, Renewer};
use pebble::{Pebble, PebbleOpts};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// pebble's directory, fetched over its TLS listener.
async fn pebble_directory(p: &Pebble) -> serde_json::Value {
    let ca = std::fs::read(&p.listener_ca).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    client
        .get(&p.directory_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// What the fake ARI endpoint has seen and will answer.
#[derive(Default)]
struct Ari {
    /// The suggested window has opened.
    due: AtomicBool,
    /// Requests for `/renewal-info/<id>`.
    asked: AtomicUsize,
    /// The certificate ids asked about.
    ids: Mutex<Vec<String>>,
}

/// Serves `/dir` (pebble's directory with `renewalInfo` added) and
/// `/renewal-info/<id>`; returns the directory URL.
async fn serve_directory(mut directory: serde_json::Value, ari: Arc<Ari>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    directory["renewalInfo"] = serde_json::Value::String(format!("{base}/renewal-info"));
    let directory = directory.to_string();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let (directory, ari) = (directory.clone(), ari.clone());
            tokio::spawn(async move {
                let (read, mut write) = conn.into_split();
                let mut lines = BufReader::new(read).lines();
                let Ok(Some(request_line)) = lines.next_line().await else {
                    return;
                };
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.is_empty() {
                        break;
                    }
                }
                let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
                let (status, body) = if path == "/dir" {
                    (200, directory)
                } else if let Some(id) = path.strip_prefix("/renewal-info/") {
                    ari.asked.fetch_add(1, Ordering::SeqCst);
                    ari.ids.lock().unwrap().push(id.to_owned());
                    let now = time::OffsetDateTime::now_utc();
                    let start = if ari.due.load(Ordering::SeqCst) {
                        now - time::Duration::hours(1)
                    } else {
                        now + time::Duration::days(30)
                    };
                    let fmt = &time::format_description::well_known::Rfc3339;
                    let body = serde_json::json!({
                        "suggestedWindow": {
                            "start": start.format(fmt).unwrap(),
                            "end": (start + time::Duration::days(2)).format(fmt).unwrap(),
                        }
                    });
                    (200, body.to_string())
                } else {
                    (404, "{}".to_owned())
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nretry-after: 21600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = write.write_all(head.as_bytes()).await;
                let _ = write.write_all(body.as_bytes()).await;
            });
        }
    });
    format!("{base}/dir")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cas_renewal_window_triggers_an_early_renewal() {
    let Some(p) = Pebble::start(
        "the_cas_renewal_window_triggers_an_early_renewal",
        PebbleOpts::default(),
    ) else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http01 = p.serve_http01().await;
    let tokens = http01.tokens.clone();

    let ari = Arc::new(Ari::default());
    let directory_url = serve_directory(pebble_directory(&p).await, ari.clone()).await;
    let config = tempfile::tempdir().unwrap();
    let cfg = AcmeConfig::new(
        config.path(),
        vec!["ari.moat.test".to_string()],
        Directory::Custom {
            url: directory_url,
            ca_root: Some(p.listener_ca.clone()),
        },
    )
    .unwrap();
    let renewer = Renewer::new(
        cfg,
        ChallengeSolver::Http01(tokens.clone()),
        Arc::new(|_| {}),
    );

    // A first certificate (five years from pebble: far from any threshold).
    let (r, _) = renewer.attempt(false, None).await;
    let Outcome::Issued(first) = r.unwrap_or_else(|e| panic!("{e}\n{}", p.log_text())) else {
        panic!("expected a first certificate")
    };

    // The window is a month away: nothing to do, but the CA was asked.
    let (r, _) = renewer.attempt(false, None).await;
    assert!(matches!(r, Ok(Outcome::Current(_))), "{r:?}");
    assert!(
        ari.asked.load(Ordering::SeqCst) >= 1,
        "the renewalInfo endpoint was not asked"
    );

    // The window opens: the same unforced check renews.
    ari.due.store(true, Ordering::SeqCst);
    let (r, _) = renewer.attempt(false, None).await;
    let Outcome::Issued(second) = r.unwrap_or_else(|e| panic!("{e}\n{}", p.log_text())) else {
        panic!("an open ARI window renews the certificate")
    };
    assert_ne!(second.info.der, first.info.der);
    // RFC 9773's certificate identifier: base64url(AKI) "." base64url(serial).
    let ids = ari.ids.lock().unwrap().clone();
    assert!(
        ids.iter()
            .all(|id| id.split('.').count() == 2 && !id.contains('=')),
        "{ids:?}"
    );

    // Reaching the CA by another directory URL means another ACME server to
    // moat: a second account is registered and kept beside the first.
    let accounts = LetsencryptPaths::new(config.path()).accounts_dir();
    let count = || {
        let mut n = 0;
        let mut stack = vec![accounts.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    n += 1;
                }
            }
        }
        n
    };
    assert_eq!(count(), 1, "one account for the first directory");
    let direct = AcmeConfig::new(
        config.path(),
        vec!["ari.moat.test".to_string()],
        Directory::Custom {
            url: p.directory_url.clone(),
            ca_root: Some(p.listener_ca.clone()),
        },
    )
    .unwrap();
    let (r, _) = Renewer::new(direct, ChallengeSolver::Http01(tokens), Arc::new(|_| {}))
        .attempt(true, None)
        .await;
    assert!(matches!(r, Ok(Outcome::Issued(_))), "{r:?}");
    assert_eq!(count(), 2, "a second account for the second directory");
}
