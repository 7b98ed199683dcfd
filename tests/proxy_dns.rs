//! Upstream names resolved at request time through the conf's resolver
//! (a test DNS server standing in for Docker's 127.0.0.11).

#[path = "support/proxy.rs"]
mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use moat::conf::Action;
use support::*;

#[tokio::test]
async fn recreated_backend_is_reached_at_its_new_address_within_the_valid_window() {
    let dns = TestDns::start().await;
    let old = EchoProcess::start("127.0.0.2:0".parse().unwrap(), "old");
    let port = old.addr.port();
    dns.set("nextcloud", Ipv4Addr::new(127, 0, 0, 2));
    let valid = Duration::from_secs(2);
    let dns_addr = dns.addr;
    let routes = FnRoutes::new(move |req| {
        let mut t = swag_target("http", "nextcloud", port, req, Some(dns_addr));
        t.options.resolver_valid = Some(valid);
        decision(Action::Proxy(t))
    });
    let moat = start_moat(routes, None);
    let c = client(&["cloud.example.test"], moat.https);
    let get = |c: reqwest::Client| async move {
        let r = c
            .get("https://cloud.example.test/status")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<serde_json::Value>().await.unwrap()
    };
    for _ in 0..20 {
        assert_eq!(get(c.clone()).await["name"], "old");
    }
    let queries_for_20 = dns.queries();
    assert!(
        queries_for_20 <= 4,
        "answers are cached ({queries_for_20} queries for 20 requests)"
    );

    // "docker compose up" recreates the container: same port, new address.
    drop(old);
    let new = EchoProcess::start(SocketAddr::from(([127, 0, 0, 3], port)), "new");
    dns.set("nextcloud", Ipv4Addr::new(127, 0, 0, 3));
    let changed = Instant::now();
    loop {
        let r = c
            .get("https://cloud.example.test/status")
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            let json: serde_json::Value = r.json().await.unwrap();
            if json["name"] == "new" {
                assert_eq!(json["local_addr"], new.addr.to_string());
                break;
            }
        } else {
            // The old address is gone: until the cache expires nginx would 502 too.
            assert_eq!(r.status(), 502);
        }
        assert!(
            changed.elapsed() < valid + Duration::from_secs(3),
            "new address not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(changed.elapsed() <= valid + Duration::from_secs(3));
}

#[tokio::test]
async fn ip_literal_upstreams_skip_dns() {
    let dns = TestDns::start().await;
    let backend = EchoProcess::start("127.0.0.1:0".parse().unwrap(), "literal");
    let (port, dns_addr) = (backend.addr.port(), dns.addr);
    let routes = FnRoutes::proxy_all("http", "127.0.0.1", port, Some(dns_addr));
    let moat = start_moat(routes, None);
    let c = client(&["example.test"], moat.https);
    let json: serde_json::Value = c
        .get("https://example.test/")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["name"], "literal");
    assert_eq!(dns.queries(), 0);
}

#[tokio::test]
async fn silent_name_server_gives_502_within_the_resolver_deadline() {
    // A UDP socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let routes = FnRoutes::proxy_all("http", "app", 80, Some(silent_addr));
    let moat = start_moat(routes, None);
    let c = client(&["example.test"], moat.https);
    let started = Instant::now();
    let r = c.get("https://example.test/").send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(
        started.elapsed() <= moat::proxy::RESOLVE_DEADLINE + Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}
