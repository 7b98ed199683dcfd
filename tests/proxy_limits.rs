//! Slow and abusive clients, and graceful stop.

#[path = "support/proxy.rs"]
mod support;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use moat::conf::Action;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn proxied(adjust: impl FnOnce(&mut moat::proxy::ProxyConfig)) -> (Moat, EchoBackend) {
    let backend = EchoBackend::start(Ipv4Addr::LOCALHOST, "a").await;
    let port = backend.addr.port();
    let routes = FnRoutes::proxy_all("http", "127.0.0.1", port, None);
    (start_moat_with(routes, None, adjust), backend)
}

/// Read until the peer closes (Ok(bytes)) or `limit` passes (Err).
async fn read_until_closed(s: &mut tokio::net::TcpStream, limit: Duration) -> Result<Vec<u8>, ()> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return Err(()),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(out),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn slowloris_is_cut_off_by_the_header_timeout_while_others_are_served() {
    let (moat, _backend) = proxied(|c| c.header_timeout = Duration::from_secs(1)).await;
    let addr = moat.http;
    let started = Instant::now();
    let slow = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        // One header byte every 100 ms, never finishing the head.
        let trickle = async {
            for b in b"X-Slow: ".iter().chain([b'a'; 200].iter()).cycle() {
                if s.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), trickle).await;
        started.elapsed()
    });
    // Others are served meanwhile.
    let c = client(&["example.test"], moat.http);
    let url = format!("http://example.test:{}/fast", moat.http.port());
    let mut served = 0;
    while !slow.is_finished() && started.elapsed() < Duration::from_secs(10) {
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        served += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cut_after = slow.await.unwrap();
    assert!(
        cut_after < Duration::from_secs(4),
        "slow client cut after {cut_after:?}"
    );
    assert!(
        served >= 5,
        "only {served} requests served while the slow client trickled"
    );
}

#[tokio::test]
async fn header_timeout_is_rearmed_for_the_next_keepalive_request() {
    let (moat, _backend) = proxied(|c| c.header_timeout = Duration::from_secs(1)).await;
    let mut s = tokio::net::TcpStream::connect(moat.http).await.unwrap();
    s.write_all(b"GET /first HTTP/1.1\r\nHost: example.test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Second head, started and never finished.
    s.write_all(b"GET /second HTTP/1.1\r\nHost: exa")
        .await
        .unwrap();
    let started = Instant::now();
    let rest = read_until_closed(&mut s, Duration::from_secs(5))
        .await
        .expect("connection closed by moat");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));
}

#[tokio::test]
async fn oversized_headers_get_431_and_huge_heads_400() {
    let (moat, _backend) = proxied(|_| {}).await;
    let c = client(&["example.test"], moat.https);
    let r = c
        .get("https://example.test/")
        .header("X-Big", "a".repeat(16 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    let many = (0..40).fold(c.get("https://example.test/"), |rb, i| {
        rb.header(format!("X-H{i}"), "b".repeat(1000))
    });
    assert_eq!(many.send().await.unwrap().status(), 431);
    let r = c
        .get("https://example.test/")
        .header("X-Fine", "c".repeat(4000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Over Pingora's hard 1 MiB head limit: 400 (or a closed connection), never a hang.
    let mut s = tokio::net::TcpStream::connect(moat.http).await.unwrap();
    let mut head = b"GET / HTTP/1.1\r\nHost: example.test\r\n".to_vec();
    for i in 0..200 {
        head.extend_from_slice(format!("X-{i}: {}\r\n", "d".repeat(6000)).as_bytes());
    }
    let (mut rd, mut wr) = s.split();
    let write = async {
        let _ = wr.write_all(&head).await;
        let _ = wr.write_all(b"\r\n").await;
    };
    let read = async {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut out))
            .await
            .expect("moat answers or closes");
        out
    };
    let (_, out) = tokio::join!(write, read);
    let text = String::from_utf8_lossy(&out);
    assert!(out.is_empty() || text.starts_with("HTTP/1.1 400"), "{text}");
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_and_refuses_new_connections() {
    let (moat, _backend) = proxied(|c| c.grace = Duration::from_secs(5)).await;
    let c = client(&["example.test"], moat.https);
    let in_flight = tokio::spawn({
        let c = c.clone();
        async move {
            c.get("https://example.test/slow/800")
                .send()
                .await
                .map(|r| r.status())
        }
    });
    let handle = moat.handle;
    assert!(
        wait_for(Duration::from_secs(5), || handle.inflight() == 1).await,
        "request reached moat"
    );
    let https = moat.https;
    let started = Instant::now();
    handle.shutdown().await;
    let took = started.elapsed();
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        200,
        "in-flight request finished"
    );
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    assert!(
        tokio::net::TcpStream::connect(https).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn graceful_shutdown_gives_up_after_the_grace_period() {
    let (moat, _backend) = proxied(|c| c.grace = Duration::from_millis(500)).await;
    let c = client(&["example.test"], moat.https);
    let stuck = tokio::spawn(async move {
        c.get("https://example.test/slow/10000")
            .send()
            .await
            .is_err()
    });
    let handle = moat.handle;
    assert!(wait_for(Duration::from_secs(5), || handle.inflight() == 1).await);
    let started = Instant::now();
    handle.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stopped at the grace period"
    );
    assert!(stuck.await.unwrap(), "the stuck request was cut");
}

#[tokio::test]
async fn upstream_read_timeout_from_the_conf_gives_504() {
    let backend = EchoBackend::start(Ipv4Addr::LOCALHOST, "slow").await;
    let port = backend.addr.port();
    let routes = FnRoutes::new(move |req| {
        let mut t = swag_target("http", "127.0.0.1", port, req, None);
        t.options.read_timeout = Duration::from_millis(300);
        decision(Action::Proxy(t))
    });
    let moat = start_moat(routes, None);
    let c = client(&["example.test"], moat.https);
    let started = Instant::now();
    let r = c
        .get("https://example.test/slow/3000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        c.get("https://example.test/slow/10")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn idle_websocket_outlives_the_header_timeout() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (moat, _backend) = proxied(|c| c.header_timeout = Duration::from_millis(500)).await;
    let tcp = tokio::net::TcpStream::connect(moat.http).await.unwrap();
    let request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        "ws://example.test/socket",
    )
    .unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(request, tcp).await.unwrap();
    ws.send(Message::text("before")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("before"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ws.send(Message::text("after idle")).await.unwrap();
    let back = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(back, Message::text("after idle"));
}
