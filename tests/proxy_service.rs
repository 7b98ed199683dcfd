//! The proxy as the supervisor runs it: settings, /config layout, the
//! default certificate from keys/cert.crt, ACME lineages through the sink,
//! graceful stop on the supervisor's shutdown.

#[path = "support/proxy.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use moat::bootstrap::{BootstrapOptions, ConfigLayout};
use moat::proxy::{CertStore, ProxyService};
use moat::settings::Settings;
use moat::supervisor::{Service, ServiceContext, Shutdown};
use support::*;

fn free_port() -> u16 {
    stable_tcp_port()
}

include!("support/ports.rs");

#[tokio::test]
async fn supervised_proxy_serves_keys_cert_then_acme_lineage_and_stops_on_shutdown() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.1\n").unwrap();
    let layout = ConfigLayout::new(dir.path());
    moat::bootstrap::prepare(
        &layout,
        &BootstrapOptions {
            resolv_conf: resolv,
            ..BootstrapOptions::default()
        },
    )
    .unwrap();
    let (http_port, https_port) = (free_port(), free_port());
    let settings = Settings::from_vars([
        ("CONFIG_DIR".to_owned(), dir.path().display().to_string()),
        ("HTTP_PORT".to_owned(), http_port.to_string()),
        ("HTTPS_PORT".to_owned(), https_port.to_string()),
        ("WORKERS".to_owned(), "1".to_owned()),
    ])
    .expect("settings");
    let (table, _) = moat::conf::load(dir.path()).expect("bootstrapped confs load");
    let (trigger, shutdown) = Shutdown::new();
    let (_updates_tx, route_updates) = tokio::sync::watch::channel(0u64);
    let ctx = ServiceContext {
        settings: Arc::new(settings),
        layout: layout.clone(),
        routes: Arc::new(ArcSwap::from_pointee(table)),
        route_updates,
        shutdown,
        grace: Duration::from_secs(2),
    };
    let certs = CertStore::new();
    let mut service = ProxyService::new(certs.clone(), moat::acme::Http01Tokens::new());
    service.addresses = Some(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let running = tokio::spawn(async move { service.run(ctx).await });

    let https = SocketAddr::from(([127, 0, 0, 1], https_port));
    let mut served = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while served.is_none() && Instant::now() < deadline {
        served = handshake_serial(https, "app.example.test").await.ok();
        if served.is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let served = served.expect("the proxy listens on HTTPS_PORT");
    let pem = std::fs::read(layout.cert_file()).unwrap();
    let (_, der) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let (_, keys_cert) = x509_parser::parse_x509_certificate(&der.contents).unwrap();
    assert_eq!(
        served,
        keys_cert.raw_serial(),
        "keys/cert.crt is the default certificate"
    );

    // The ACME side hands over a lineage through the sink.
    let issued = cert(&["app.example.test"], 4242);
    (certs.sink())(lineage("app.example.test", &["app.example.test"], &issued));
    assert_eq!(
        handshake_serial(https, "app.example.test").await.unwrap(),
        issued.serial
    );

    // Port 80: the bootstrapped default.conf redirects.
    let c = client(
        &["app.example.test"],
        SocketAddr::from(([127, 0, 0, 1], http_port)),
    );
    let r = c
        .get(format!("http://app.example.test:{http_port}/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], "https://app.example.test/x");

    let started = Instant::now();
    trigger.fire();
    let result = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        tokio::net::TcpStream::connect(https).await.is_err(),
        "HTTPS_PORT closed"
    );
}
