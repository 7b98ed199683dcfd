//! ACME through the proxy: pebble validates HTTP-01 on the proxy's plain
//! listener (answers from the shared `Http01Tokens`), the issued chain is
//! installed in the proxy's certificate store through the renewer's sink,
//! and a renewal that falls due (the threshold moved past the certificate's
//! remaining lifetime, as time would) is swapped in while a client loop
//! handshakes without a single failure.

#[path = "support/env.rs"]
mod env;
#[path = "support/pebble.rs"]
mod pebble;
#[path = "support/proxy.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use moat::acme::{AcmeConfig, ChallengeSolver, Directory, Outcome, RenewThreshold, Renewer};
use moat::conf::Action;
use pebble::{Pebble, PebbleOpts};
use support::{decision, handshake_serial, start_moat_with, FnRoutes};

fn leaf_serial(fullchain_pem: &str) -> Vec<u8> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(fullchain_pem.as_bytes()).unwrap();
    pem.parse_x509().unwrap().raw_serial().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_serves_the_pebble_certificate_and_swaps_renewals_without_failed_handshakes() {
    let test = "proxy_serves_the_pebble_certificate_and_swaps_renewals_without_failed_handshakes";
    let Some(p) = Pebble::start(test, PebbleOpts::default()) else {
        return;
    };
    let routes = FnRoutes::new(|_| {
        decision(Action::Return {
            status: 200,
            location: None,
            body: Some("ok".into()),
        })
    });
    let http_port = p.http_port;
    let moat = start_moat_with(routes, None, move |c| c.http_port = http_port);
    assert_eq!(
        moat.http.port(),
        p.http_port,
        "pebble validates on the proxy's port 80"
    );

    let config = tempfile::tempdir().unwrap();
    let names = vec![
        "proxy.moat.test".to_string(),
        "www.proxy.moat.test".to_string(),
    ];
    let cfg = AcmeConfig::new(
        config.path(),
        names.clone(),
        Directory::Custom {
            url: p.directory_url.clone(),
            ca_root: Some(p.listener_ca.clone()),
        },
    )
    .unwrap();
    let renewer_for = |cfg: AcmeConfig| {
        let store = moat.certs.clone();
        Renewer::new(
            cfg,
            ChallengeSolver::Http01(moat.tokens.clone()),
            Arc::new(move |l| store.install(&l).expect("the proxy accepts the lineage")),
        )
    };
    let renewer = renewer_for(cfg.clone());

    // First issuance: every name is served pebble's certificate.
    let (r, _) = renewer.attempt(false, None).await;
    let Outcome::Issued(first) = r.unwrap_or_else(|e| panic!("{e}\n{}", p.log_text())) else {
        panic!("expected a new certificate")
    };
    assert!(
        first.info.issuer.to_lowercase().contains("pebble"),
        "{}",
        first.info.issuer
    );
    let first_serial = leaf_serial(&first.lineage.fullchain_pem);
    for n in &names {
        assert_eq!(
            handshake_serial(moat.https, n).await.unwrap(),
            first_serial,
            "{n}"
        );
    }
    pebble::verify_chain(&first.lineage.fullchain_pem, &p.issuing_root(), &names);

    // Renewal under load: handshakes never fail, and the next one after the
    // install sees the new certificate.
    let stop = Arc::new(AtomicBool::new(false));
    let handshakes = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut loops = Vec::new();
    for _ in 0..2 {
        let (stop, handshakes, failures, addr) = (
            stop.clone(),
            handshakes.clone(),
            failures.clone(),
            moat.https,
        );
        loops.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match handshake_serial(addr, "proxy.moat.test").await {
                    Ok(_) => {
                        handshakes.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => failures.lock().unwrap().push(e),
                }
            }
        }));
    }
    let before = handshakes.load(Ordering::Relaxed);
    // Not forced: the scheduler's own rule finds it due. Pebble's
    // certificates last five years; a six-year threshold is "less than
    // that remains", which a real certificate reaches with time.
    let (r, _) = renewer.attempt(false, None).await;
    assert!(
        matches!(r, Ok(Outcome::Current(_))),
        "a fresh certificate is not due yet: {r:?}"
    );
    let mut due = cfg.clone();
    due.renew_threshold = RenewThreshold::Before(std::time::Duration::from_secs(6 * 365 * 86_400));
    let (r, _) = renewer_for(due).attempt(false, None).await;
    let Outcome::Issued(second) = r.unwrap() else {
        panic!("a certificate inside the renewal threshold is renewed")
    };
    let second_serial = leaf_serial(&second.lineage.fullchain_pem);
    assert_ne!(second_serial, first_serial);
    assert_eq!(
        handshake_serial(moat.https, "proxy.moat.test")
            .await
            .unwrap(),
        second_serial
    );
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "failed handshakes during renewal: {failures:?}"
    );
    assert!(
        handshakes.load(Ordering::Relaxed) > before,
        "the client loop ran during renewal"
    );
}
