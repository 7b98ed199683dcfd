//! The HTTP clients moat uses for DNS provider APIs resolve names through
//! hickory, never getaddrinfo (which cannot resolve anything in the static
//! image built FROM scratch): a provider endpoint named in `dns-conf/*.ini`
//! is found through the DNS server the resolver is given.

#[path = "support/proxy.rs"]
mod support;

use std::net::Ipv4Addr;
use std::sync::Arc;

use moat::dns::HickoryDns;
use support::TestDns;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn api_clients_find_their_endpoint_through_hickory() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dns = TestDns::start().await;
    dns.set("alidns.provider.test", Ipv4Addr::LOCALHOST);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut head = [0u8; 2048];
            let _ = conn.read(&mut head).await;
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .await;
        }
    });
    let client = reqwest::Client::builder()
        .dns_resolver(Arc::new(HickoryDns::with_nameservers(&[dns.addr]).unwrap()))
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();

    let body = client
        .get(format!("http://alidns.provider.test:{port}/"))
        .send()
        .await
        .expect("resolved through the test DNS server")
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ok");

    // A name that server does not know is an error, not a fallback to the
    // C library (which would find nothing in the image either).
    let err = client
        .get(format!("http://missing.provider.test:{port}/"))
        .send()
        .await
        .expect_err("unknown name");
    assert!(err.is_connect() || err.is_request(), "{err:?}");
}
