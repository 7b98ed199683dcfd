//! TLS termination: certificate per SNI, hot swap under load, protocol policy.

#[path = "support/proxy.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moat::conf::Action;
use support::*;

fn ok_routes() -> Arc<FnRoutes> {
    FnRoutes::new(|_| {
        decision(Action::Return {
            status: 200,
            location: None,
            body: Some("ok".into()),
        })
    })
}

#[tokio::test]
async fn certificate_is_chosen_by_exact_name_then_wildcard_then_default() {
    let moat = start_moat(ok_routes(), None);
    let wildcard = cert(&["example.test", "*.example.test"], 100);
    let exact = cert(&["chat.example.test"], 200);
    moat.certs
        .install(&lineage(
            "example.test",
            &["example.test", "*.example.test"],
            &wildcard,
        ))
        .unwrap();
    moat.certs
        .install(&lineage(
            "chat.example.test",
            &["chat.example.test"],
            &exact,
        ))
        .unwrap();
    let default_serial = handshake_serial(moat.https, "unknown.other").await.unwrap();
    assert_eq!(
        handshake_serial(moat.https, "chat.example.test")
            .await
            .unwrap(),
        exact.serial
    );
    assert_eq!(
        handshake_serial(moat.https, "cloud.example.test")
            .await
            .unwrap(),
        wildcard.serial
    );
    assert_eq!(
        handshake_serial(moat.https, "example.test").await.unwrap(),
        wildcard.serial
    );
    assert_eq!(
        handshake_serial(moat.https, "a.b.example.test")
            .await
            .unwrap(),
        default_serial
    );
    assert_ne!(default_serial, wildcard.serial);
}

#[tokio::test]
async fn certificate_swaps_under_load_without_a_failed_handshake() {
    let moat = start_moat(ok_routes(), None);
    let first = cert(&["app.example.test"], 1000);
    moat.certs
        .install(&lineage("app", &["app.example.test"], &first))
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let handshakes = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let requests = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    // New TLS connections in a loop.
    for _ in 0..3 {
        let (stop, handshakes, failures, addr) = (
            stop.clone(),
            handshakes.clone(),
            failures.clone(),
            moat.https,
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match handshake_serial(addr, "app.example.test").await {
                    Ok(_) => handshakes.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        failures.lock().unwrap().push(e);
                        0
                    }
                };
            }
        }));
    }
    // Requests on an established keep-alive connection.
    {
        let (stop, requests, failures) = (stop.clone(), requests.clone(), failures.clone());
        let c = client(&["app.example.test"], moat.https);
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match c.get("https://app.example.test/").send().await {
                    Ok(r) if r.status() == 200 => requests.fetch_add(1, Ordering::Relaxed),
                    Ok(r) => {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("status {}", r.status()));
                        0
                    }
                    Err(e) => {
                        failures.lock().unwrap().push(e.to_string());
                        0
                    }
                };
            }
        }));
    }

    let mut last = first;
    for i in 1..=20u64 {
        let next = cert(&["app.example.test"], 1000 + i);
        moat.certs
            .install(&lineage("app", &["app.example.test"], &next))
            .unwrap();
        // The very next handshake sees it.
        assert_eq!(
            handshake_serial(moat.https, "app.example.test")
                .await
                .unwrap(),
            next.serial,
            "swap {i}"
        );
        last = next;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "failed handshakes/requests: {failures:?}"
    );
    assert!(handshakes.load(Ordering::Relaxed) > 20, "the load loop ran");
    assert!(
        requests.load(Ordering::Relaxed) > 5,
        "keep-alive requests ran"
    );
    assert_eq!(
        handshake_serial(moat.https, "app.example.test")
            .await
            .unwrap(),
        last.serial
    );
}

use std::sync::Mutex;

#[tokio::test]
async fn tls_12_and_13_are_offered_with_h2_by_alpn() {
    let moat = start_moat(ok_routes(), None);
    for (version, expect) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let mut config = rustls::ClientConfig::builder_with_protocol_versions(&[version])
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(moat.https).await.unwrap();
        let tls = connector
            .connect(
                rustls_pki_types::ServerName::try_from("x.example.test").unwrap(),
                tcp,
            )
            .await
            .unwrap();
        let conn = tls.get_ref().1;
        assert_eq!(conn.protocol_version(), Some(expect));
        assert_eq!(conn.alpn_protocol(), Some(&b"h2"[..]));
        let suite = format!("{:?}", conn.negotiated_cipher_suite().unwrap().suite());
        assert!(
            suite.contains("GCM") || suite.contains("CHACHA20"),
            "{suite}"
        );
    }
}
