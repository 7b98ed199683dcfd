//! Requests routed and forwarded over real sockets: subdomains, subfolders,
//! forwarded headers, HTTP/2 downstream, WebSockets, gRPC, local answers.

#[path = "support/proxy.rs"]
mod support;

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use moat::conf::{Action, HeaderRule};
use support::*;

/// `app.example.test` → backend A, `example.test/b/` → backend B by name
/// through the test DNS, everything else 404.
async fn two_backends() -> (Moat, EchoBackend, EchoBackend, TestDns) {
    let dns = TestDns::start().await;
    let a = EchoBackend::start(Ipv4Addr::new(127, 0, 0, 1), "a").await;
    let b = EchoBackend::start(Ipv4Addr::new(127, 0, 0, 1), "b").await;
    dns.set("backend-a", Ipv4Addr::LOCALHOST);
    dns.set("backend-b", Ipv4Addr::LOCALHOST);
    let (pa, pb, dns_addr) = (a.addr.port(), b.addr.port(), dns.addr);
    let routes = FnRoutes::new(move |req| {
        let host = host_of(req);
        if host == "app.example.test" {
            decision(Action::Proxy(swag_target(
                "http",
                "backend-a",
                pa,
                req,
                Some(dns_addr),
            )))
        } else if host == "example.test" && req.uri.starts_with("/b/") {
            decision(Action::Proxy(swag_target(
                "http",
                "backend-b",
                pb,
                req,
                Some(dns_addr),
            )))
        } else {
            decision(Action::NotFound)
        }
    });
    (start_moat(routes, None), a, b, dns)
}

#[tokio::test]
async fn routes_by_subdomain_and_by_subfolder() {
    let (moat, _a, _b, _dns) = two_backends().await;
    let c = client(&["app.example.test", "example.test"], moat.https);
    let r = c
        .get("https://app.example.test/x?y=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(json["backend"], "a");
    assert_eq!(json["target"], "/x?y=1");

    let json: serde_json::Value = c
        .get("https://example.test/b/page")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["backend"], "b");
    let r = c
        .get("https://example.test/elsewhere")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn backend_receives_forwarded_headers_and_host() {
    let (moat, a, _b, _dns) = two_backends().await;
    let c = client(&["app.example.test"], moat.https);
    let json: serde_json::Value = c
        .get("https://app.example.test/h")
        .header("X-Forwarded-For", "203.0.113.7")
        .header("X-Custom", "kept")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        echoed_header(&json, "x-forwarded-proto").as_deref(),
        Some("https")
    );
    assert_eq!(
        echoed_header(&json, "x-forwarded-for").as_deref(),
        Some("203.0.113.7, 127.0.0.1")
    );
    assert_eq!(
        echoed_header(&json, "x-real-ip").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        echoed_header(&json, "host").as_deref(),
        Some("app.example.test")
    );
    assert_eq!(echoed_header(&json, "x-custom").as_deref(), Some("kept"));
    assert_eq!(
        echoed_header(&json, "connection"),
        None,
        "Connection: close is not sent upstream"
    );

    // Keep-alive pooling: more requests, still one upstream connection.
    for _ in 0..5 {
        let r = c
            .get("https://app.example.test/again")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    assert_eq!(
        a.connections.load(Ordering::SeqCst),
        1,
        "upstream connection reused"
    );
}

#[tokio::test]
async fn http2_downstream_is_negotiated_and_forwarded_over_http1() {
    let (moat, _a, _b, _dns) = two_backends().await;
    let c = client(&["app.example.test"], moat.https);
    let r = c
        .post("https://app.example.test/h2")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(json["method"], "POST");
    assert_eq!(json["body_len"], 5);
    assert_eq!(
        echoed_header(&json, "host").as_deref(),
        Some("app.example.test")
    );
}

#[tokio::test]
async fn websocket_is_relayed_both_ways() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (moat, _a, _b, _dns) = two_backends().await;
    // Plain-HTTP listener, Host routed like TLS: the conf decides (here: same closure).
    let tcp = tokio::net::TcpStream::connect(moat.http).await.unwrap();
    let request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        "ws://app.example.test/socket",
    )
    .unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("upgrade through moat");
    assert_eq!(resp.status(), 101);
    for i in 0..3 {
        ws.send(Message::text(format!("ping {i}"))).await.unwrap();
        let back = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(back, Message::text(format!("ping {i}")));
    }
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    let back = ws.next().await.unwrap().unwrap();
    assert_eq!(back, Message::binary(vec![1u8, 2, 3]));
}

#[tokio::test]
async fn grpc_is_forwarded_over_h2_with_trailers() {
    let grpc = grpc_backend().await;
    let routes = FnRoutes::new(move |req| {
        // SWAG's `Connection` entry is hop-by-hop: never sent to h2.
        let target = swag_target("grpc", "127.0.0.1", grpc.port(), req, None);
        decision(Action::Grpc(target))
    });
    let moat = start_moat(routes, None);

    // An h2 client over TLS (ALPN h2), as a gRPC client would connect.
    let config = tls_h2_client();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(moat.https).await.unwrap();
    let tls = connector
        .connect(
            rustls_pki_types::ServerName::try_from("grpc.example.test").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut h2c, conn) = h2::client::handshake(tls).await.unwrap();
    tokio::spawn(conn);
    let request = http::Request::builder()
        .method("POST")
        .uri("https://grpc.example.test/echo.Echo/Say")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (resp, mut send) = h2c.send_request(request, false).unwrap();
    send.send_data(bytes::Bytes::from_static(b"\0\0\0\0\x03abc"), true)
        .unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/grpc");
    let mut body = resp.into_body();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    assert_eq!(data, b"\0\0\0\0\x03abc");
    let trailers = body
        .trailers()
        .await
        .unwrap()
        .expect("grpc trailers relayed");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "path=/echo.Echo/Say;te=trailers");
}

fn tls_h2_client() -> rustls::ClientConfig {
    init();
    let mut config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(NoVerify))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

#[tokio::test]
async fn port_80_answers_acme_challenge_and_redirects_the_rest() {
    let routes = FnRoutes::new(|req| {
        if req.tls {
            decision(Action::NotFound)
        } else {
            decision(Action::Return {
                status: 301,
                location: Some(format!("https://{}{}", host_of(req), req.uri)),
                body: None,
            })
        }
    });
    let moat = start_moat(routes, None);
    moat.tokens.insert("tok123", "tok123.thumbprint");
    let c = client(&["example.test"], moat.http);
    let port = moat.http.port();
    let r = c
        .get(format!(
            "http://example.test:{port}/.well-known/acme-challenge/tok123"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "tok123.thumbprint");

    let r = c
        .get(format!("http://example.test:{port}/path?q=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], "https://example.test/path?q=1");
    // An unpublished token goes to the confs like any other path.
    let r = c
        .get(format!(
            "http://example.test:{port}/.well-known/acme-challenge/unknown"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
}

#[tokio::test]
async fn deny_unauthorized_unavailable_and_return_answer_locally() {
    let routes = FnRoutes::new(|req| {
        let mut d = decision(match req.uri.as_str() {
            "/deny" => Action::Deny { status: 403 },
            "/internal" => Action::Deny { status: 404 },
            "/auth" => Action::Unauthorized {
                realm: "Restricted \"zone\"".into(),
            },
            "/authreq" => Action::Unavailable {
                reason: "auth_request to authelia".into(),
            },
            _ => Action::Return {
                status: 200,
                location: None,
                body: Some("hello from return".into()),
            },
        });
        d.response_headers = vec![
            HeaderRule {
                name: "X-Only-Ok".into(),
                value: "1".into(),
                always: false,
            },
            HeaderRule {
                name: "X-Always".into(),
                value: "1".into(),
                always: true,
            },
        ];
        d
    });
    let moat = start_moat(routes, None);
    let c = client(&["example.test"], moat.https);
    let r = c.get("https://example.test/deny").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-always"], "1");
    assert!(r.headers().get("x-only-ok").is_none());
    assert_eq!(
        c.get("https://example.test/internal")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = c.get("https://example.test/auth").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"Restricted \\\"zone\\\"\""
    );
    assert_eq!(
        c.get("https://example.test/authreq")
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    let r = c.get("https://example.test/").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-only-ok"], "1");
    assert_eq!(r.text().await.unwrap(), "hello from return");
}

#[tokio::test]
async fn body_over_client_max_body_size_gets_413() {
    let backend = EchoBackend::start(Ipv4Addr::LOCALHOST, "a").await;
    let port = backend.addr.port();
    let routes = FnRoutes::new(move |req| {
        let mut d = decision(Action::Proxy(swag_target(
            "http",
            "127.0.0.1",
            port,
            req,
            None,
        )));
        d.max_body_size = Some(1024);
        d
    });
    let moat = start_moat(routes, None);
    let c = client(&["example.test"], moat.https);
    // Declared by Content-Length (HTTP/2 here).
    let r = c
        .post("https://example.test/up")
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Within the limit.
    let r = c
        .post("https://example.test/up")
        .body(vec![b'x'; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Streamed without a length (HTTP/2 data frames).
    let stream = futures_util::stream::iter((0..8).map(|_| {
        Ok::<_, std::io::Error>(hyper::body::Frame::data(bytes::Bytes::from(vec![
            b'y';
            512
        ])))
    }));
    let r = c
        .post("https://example.test/up")
        .body(reqwest::Body::wrap(http_body_util::StreamBody::new(stream)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    // HTTP/1.1, chunked, on the plain listener.
    let h1 = client(&["example.test"], moat.http);
    let stream = futures_util::stream::iter((0..8).map(|_| {
        Ok::<_, std::io::Error>(hyper::body::Frame::data(bytes::Bytes::from(vec![
            b'z';
            512
        ])))
    }));
    let r = h1
        .post(format!("http://example.test:{}/up", moat.http.port()))
        .body(reqwest::Body::wrap(http_body_util::StreamBody::new(stream)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = h1
        .post(format!("http://example.test:{}/up", moat.http.port()))
        .body(vec![b'x'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn unresolvable_upstream_is_a_prompt_502() {
    let dns = TestDns::start().await;
    let dns_addr = dns.addr;
    let routes = FnRoutes::proxy_all("http", "gone-container", 80, Some(dns_addr));
    let moat = start_moat(routes, None);
    let c = client(&["example.test"], moat.https);
    let started = std::time::Instant::now();
    let r = c.get("https://example.test/").send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(started.elapsed() < moat::proxy::RESOLVE_DEADLINE + Duration::from_secs(1));
    assert!(dns.queries() >= 1, "the conf's resolver was asked");
}

#[tokio::test]
async fn upstream_refusing_connections_is_502() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let routes = FnRoutes::proxy_all("http", "127.0.0.1", port, None);
    let moat = start_moat(routes, None);
    let c = client(&["example.test"], moat.https);
    assert_eq!(
        c.get("https://example.test/")
            .send()
            .await
            .unwrap()
            .status(),
        502
    );
}

#[tokio::test]
async fn response_rules_rewrite_location_cookies_and_hide_headers() {
    let backend = EchoBackend::start(Ipv4Addr::LOCALHOST, "app").await;
    let port = backend.addr.port();
    let routes = FnRoutes::new(move |req| {
        let mut t = swag_target("http", "127.0.0.1", port, req, None);
        t.hide_headers = std::sync::Arc::new(vec!["x-powered-by".into()]);
        t.redirects = vec![("http://app/".into(), "https://example.test/app/".into())];
        t.cookie_paths = vec![("/".into(), "/app/".into())];
        decision(Action::Proxy(t))
    });
    let moat = start_moat(routes, None);
    let c = client(&["example.test"], moat.https);
    let r = c.get("https://example.test/redirect").send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "https://example.test/app/login");
    assert_eq!(r.headers()["set-cookie"], "sid=1; Path=/app/; HttpOnly");
    assert!(r.headers().get("x-powered-by").is_none());
}

#[tokio::test]
async fn static_files_come_from_the_root_and_never_from_outside() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("www");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), "<h1>moat</h1>").unwrap();
    std::fs::write(dir.path().join("secret"), "no").unwrap();
    let root2 = root.clone();
    let routes = FnRoutes::new(move |req| {
        decision(Action::Static {
            root: root2.clone(),
            path: req.uri.split('?').next().unwrap().to_owned(),
            index: vec!["index.html".into()],
            add_slash: "https://example.test/dir/".into(),
            post: false,
        })
    });
    let moat = start_moat(routes, None);
    let c = client(&["example.test"], moat.https);
    let r = c.get("https://example.test/").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html");
    assert_eq!(r.text().await.unwrap(), "<h1>moat</h1>");
    assert_eq!(
        c.get("https://example.test/missing.css")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // reqwest normalises `..`, so send the raw target over a plain socket.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(moat.http).await.unwrap();
    s.write_all(b"GET /../secret HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
}

#[tokio::test]
async fn return_444_closes_without_a_response_and_204_has_no_body() {
    let routes = FnRoutes::new(|req| {
        decision(Action::Return {
            status: if req.uri == "/drop" { 444 } else { 204 },
            location: None,
            body: None,
        })
    });
    let moat = start_moat(routes, None);
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(moat.http).await.unwrap();
    s.write_all(b"GET /drop HTTP/1.1\r\nHost: example.test\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .ok();
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));

    let c = client(&["example.test"], moat.https);
    let r = c.get("https://example.test/empty").send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn https_upstream_with_a_self_signed_certificate_is_not_verified() {
    let echo = EchoProcess::start_tls("127.0.0.1:0".parse().unwrap(), "secure");
    let port = echo.addr.port();
    let routes = FnRoutes::proxy_all("https", "127.0.0.1", port, None);
    let moat = start_moat(routes, None);
    let c = client(&["nas.example.test"], moat.https);
    let json: serde_json::Value = c
        .get("https://nas.example.test/")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["name"], "secure");
    assert_eq!(json["tls"], true);
    assert_eq!(
        echoed_header(&json, "x-forwarded-proto").as_deref(),
        Some("https")
    );
}
