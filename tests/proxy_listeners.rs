//! Listening sockets: extra conf ports (synapse's 8448), IPv6, errors.

#[path = "support/env.rs"]
mod env;
#[path = "support/proxy.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use moat::conf::{Action, Listen};
use support::*;

fn free_port() -> u16 {
    stable_tcp_port()
}

include!("support/ports.rs");

#[tokio::test]
async fn extra_conf_listen_port_terminates_tls_and_reports_its_port() {
    let port = free_port();
    let listens = vec![
        Listen {
            addr: None,
            port,
            ipv6: false,
            ssl: true,
            proxy_protocol: false,
        },
        Listen {
            addr: None,
            port: 443,
            ipv6: false,
            ssl: true,
            proxy_protocol: false,
        },
    ];
    let routes = FnRoutes::with_listens(listens, |req| {
        decision(Action::Return {
            status: 200,
            location: None,
            body: Some(format!("port={} tls={}", req.server_port, req.tls)),
        })
    });
    let moat = start_moat(routes, None);
    let extra = moat
        .handle
        .bound()
        .iter()
        .find(|b| b.conf_port == port)
        .expect("extra listener bound");
    assert!(extra.tls);
    let c = client(&["matrix.example.test"], extra.addr);
    let body = c
        .get(format!("https://matrix.example.test:{port}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, format!("port={port} tls=true"));
    // The main listeners report the confs' ports, whatever port they really use.
    let c = client(&["example.test"], moat.https);
    assert_eq!(
        c.get("https://example.test/")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "port=443 tls=true"
    );
    let c = client(&["example.test"], moat.http);
    let body = c
        .get(format!("http://example.test:{}/", moat.http.port()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "port=80 tls=false");
}

/// nginx ORs `ssl` across the `listen` lines of one address: a port one
/// server lists with `ssl` and another without is TLS for both, never a
/// plain-text port that would serve the TLS server's site unencrypted.
#[tokio::test]
async fn a_port_listed_with_and_without_ssl_is_tls() {
    let port = free_port();
    let listen = |ssl| Listen {
        addr: None,
        port,
        ipv6: false,
        ssl,
        proxy_protocol: false,
    };
    let routes = FnRoutes::with_listens(vec![listen(false), listen(true)], |req| {
        decision(Action::Return {
            status: 200,
            location: None,
            body: Some(format!("tls={}", req.tls)),
        })
    });
    let moat = start_moat(routes, None);
    let extra = moat
        .handle
        .bound()
        .iter()
        .find(|b| b.conf_port == port)
        .expect("extra listener bound");
    assert!(extra.tls, "the port must be bound with TLS");
    let c = client(&["plain.example.test"], extra.addr);
    let body = c
        .get(format!("https://plain.example.test:{port}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "tls=true");
}

#[tokio::test]
async fn ipv6_loopback_is_served_when_the_host_has_it() {
    if !env::require(
        "ipv6_loopback_is_served_when_the_host_has_it",
        std::net::TcpListener::bind("[::1]:0").is_ok(),
        "this host has no IPv6 loopback",
    ) {
        return;
    }
    let routes = FnRoutes::new(|req| {
        decision(Action::Return {
            status: 200,
            location: None,
            body: Some(req.remote.ip().to_string()),
        })
    });
    let moat = start_moat_with(routes, None, |c| {
        c.addresses = vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
    });
    let v6 = moat
        .handle
        .bound()
        .iter()
        .find(|b| b.addr.is_ipv6() && b.tls)
        .expect("IPv6 TLS listener")
        .addr;
    assert_eq!(v6.port(), moat.https.port(), "both families share the port");
    let c = client(&["example.test"], v6);
    assert_eq!(
        c.get(format!("https://example.test:{}/", v6.port()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "::1"
    );
}

#[test]
fn a_taken_port_is_an_error_naming_the_address() {
    init();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let routes = FnRoutes::new(|_| decision(Action::NotFound));
    let mut config = moat::proxy::ProxyConfig::new(
        routes,
        moat::proxy::CertStore::new(),
        moat::acme::Http01Tokens::new(),
    );
    config.addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    config.http_port = port;
    config.https_port = 0;
    let err = moat::proxy::spawn(config).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on 127.0.0.1:{port}: ")),
        "{err}"
    );
}
