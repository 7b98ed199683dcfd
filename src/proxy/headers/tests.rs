use super::*;
use crate::conf::UpstreamOptions;
use std::time::Duration;

fn target(headers: &[(&str, &str)]) -> ProxyTarget {
    ProxyTarget {
        url: "http://app:8080/x?y=1".into(),
        scheme: "http".into(),
        host: "app".into(),
        port: 8080,
        path_and_query: "/x?y=1".into(),
        method: None,
        headers: UpstreamHeaders::explicit(headers.iter().copied()),
        hide_headers: std::sync::Arc::new(vec!["x-powered-by".into()]),
        redirects: vec![("http://app:8080/".into(), "https://example.com/".into())],
        cookie_paths: vec![("/".into(), "/app/".into())],
        body_filter: None,
        options: UpstreamOptions {
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            send_timeout: Duration::from_secs(1),
            http11: true,
            resolver: std::sync::Arc::from([]),
            resolver_valid: None,
            resolver_ipv6: true,
            ssl_verify: false,
            ssl_server_name: false,
        },
    }
}

fn names(req: &RequestHeader) -> Vec<(String, String)> {
    req.headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn sends_exactly_the_conf_list_and_keeps_body_framing() {
    let mut req = RequestHeader::build("POST", b"/orig", None).unwrap();
    req.insert_header("Host", "example.com").unwrap();
    req.insert_header("Cookie", "secret").unwrap();
    req.insert_header("Content-Length", "5").unwrap();
    let t = target(&[
        ("Host", "example.com"),
        ("X-Forwarded-Proto", "https"),
        ("Connection", "close"),
        ("Upgrade", ""),
        ("Content-Length", "99"),
    ]);
    req = upstream_head(&req, &t, false, false, true).unwrap();
    assert_eq!(req.uri.to_string(), "/x?y=1");
    let got = names(&req);
    assert!(got.contains(&("host".into(), "example.com".into())));
    assert!(got.contains(&("x-forwarded-proto".into(), "https".into())));
    assert!(
        got.contains(&("content-length".into(), "5".into())),
        "{got:?}"
    );
    assert!(
        !got.iter()
            .any(|(n, _)| n == "cookie" || n == "connection" || n == "upgrade"),
        "{got:?}"
    );
}

#[test]
fn upgrade_requests_keep_upgrade_and_say_connection_upgrade() {
    let mut req = RequestHeader::build("GET", b"/ws", None).unwrap();
    let t = target(&[
        ("Host", "h"),
        ("Upgrade", "websocket"),
        ("Connection", "upgrade"),
    ]);
    req = upstream_head(&req, &t, true, false, true).unwrap();
    let got = names(&req);
    assert!(got.contains(&("upgrade".into(), "websocket".into())));
    assert!(got.contains(&("connection".into(), "upgrade".into())));
}

#[test]
fn response_rules_hide_rewrite_location_cookie_and_add() {
    let mut resp = ResponseHeader::build(302, None).unwrap();
    resp.insert_header("X-Powered-By", "php").unwrap();
    resp.insert_header("Location", "http://app:8080/login")
        .unwrap();
    resp.insert_header("Refresh", "5; url=http://app:8080/next")
        .unwrap();
    resp.append_header("Set-Cookie", "a=1; Path=/; HttpOnly")
        .unwrap();
    resp.append_header("Set-Cookie", "b=2").unwrap();
    upstream_response(&mut resp, &target(&[]));
    assert!(resp.headers.get("x-powered-by").is_none());
    assert_eq!(resp.headers["location"], "https://example.com/login");
    assert_eq!(resp.headers["refresh"], "5; url=https://example.com/next");
    let cookies: Vec<_> = resp
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, vec!["a=1; Path=/app/; HttpOnly", "b=2"]);

    let rules = vec![
        HeaderRule {
            name: "X-Frame".into(),
            value: "DENY".into(),
            always: false,
        },
        HeaderRule {
            name: "X-Always".into(),
            value: "1".into(),
            always: true,
        },
    ];
    add_response_headers(&mut resp, &rules);
    assert_eq!(resp.headers["x-frame"], "DENY");
    let mut err = ResponseHeader::build(500, None).unwrap();
    add_response_headers(&mut err, &rules);
    assert!(
        err.headers.get("x-frame").is_none(),
        "non-always rules skip 500"
    );
    assert_eq!(err.headers["x-always"], "1");
}

/// The client's headers under names no entry takes go up as the client
/// sent them (spelling and repeated values); an entry's name replaces the
/// client's values, and an empty entry keeps the name away.
#[test]
fn passes_the_client_headers_no_entry_takes_and_replaces_the_others() {
    let mut req = RequestHeader::build("GET", b"/x?y=1", None).unwrap();
    req.append_header("X-Custom-ID".to_owned(), "7").unwrap();
    req.append_header("Accept".to_owned(), "a").unwrap();
    req.append_header("Accept".to_owned(), "b").unwrap();
    req.append_header("X-Forwarded-For".to_owned(), "10.0.0.1")
        .unwrap();
    req.append_header("Cookie".to_owned(), "dropped").unwrap();
    let mut t = target(&[
        ("Host", "backend"),
        ("X-Forwarded-For", "10.0.0.1, 127.0.0.1"),
        ("X-Dup", "1"),
        ("X-Dup", "2"),
        ("Cookie", ""),
    ]);
    t.headers = t.headers.with_client_headers();
    req = upstream_head(&req, &t, false, false, true).unwrap();
    let got = names(&req);
    let values = |n: &str| -> Vec<&str> {
        got.iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(values("x-custom-id"), ["7"]);
    assert_eq!(values("accept"), ["a", "b"]);
    assert_eq!(values("x-forwarded-for"), ["10.0.0.1, 127.0.0.1"]);
    assert_eq!(values("x-dup"), ["1", "2"]);
    assert_eq!(values("host"), ["backend"]);
    assert!(values("cookie").is_empty(), "{got:?}");
    // The client's spelling of a header passed through is what goes out.
    let mut buf = bytes::BytesMut::new();
    req.header_to_h1_wire(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(text.contains("X-Custom-ID: 7"), "{text}");
    assert!(
        text.contains("X-Forwarded-For: 10.0.0.1, 127.0.0.1"),
        "{text}"
    );
}

/// The names go out in nginx's order (the conf's `proxy_set_header`
/// lines, then the client's headers passed through in the client's
/// order); a passed-through name keeps the client's spelling, body framing
/// comes first.
#[test]
fn sends_names_in_the_targets_order() {
    let mut req = RequestHeader::build("POST", b"/x?y=1", Some(8)).unwrap();
    for (n, v) in [
        ("Host", "a.example"),
        ("X-Custom-ID", "7"),
        ("Upgrade", "websocket"),
        ("Accept", "a"),
        ("Content-Length", "3"),
        ("Accept", "b"),
        ("Cookie", "c=1"),
    ] {
        req.append_header(n.to_owned(), v).unwrap();
    }
    let mut t = target(&[
        ("Connection", "upgrade"),
        ("Host", "a.example"),
        ("Upgrade", "websocket"),
        ("X-Forwarded-For", "127.0.0.1"),
        ("X-Real-IP", "127.0.0.1"),
    ]);
    t.headers = t.headers.with_client_headers();
    req = upstream_head(&req, &t, true, false, true).unwrap();
    let mut buf = bytes::BytesMut::new();
    req.header_to_h1_wire(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines,
        [
            "Content-Length: 3",
            "Connection: upgrade",
            "Host: a.example",
            "Upgrade: websocket",
            "X-Forwarded-For: 127.0.0.1",
            "X-Real-IP: 127.0.0.1",
            "X-Custom-ID: 7",
            "Accept: a",
            "Accept: b",
            "Cookie: c=1",
        ],
        "{text}"
    );
}

fn wire_lines(req: &RequestHeader) -> Vec<String> {
    let mut buf = bytes::BytesMut::new();
    req.header_to_h1_wire(&mut buf);
    String::from_utf8_lossy(&buf)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A name the conf sets twice goes out once, with both values together at
/// its first line; of two `Host` lines only the last is sent, where it
/// stands; a hop-by-hop conf value is not sent.
#[test]
fn repeated_names_go_out_together_and_only_the_last_host() {
    let mut req = RequestHeader::build("GET", b"/x?y=1", None).unwrap();
    req.append_header("Host", "client.example").unwrap();
    let t = target(&[
        ("Host", "first.example"),
        ("X-A", "1"),
        ("B", "2"),
        ("X-A", "3"),
        ("Host", "last.example"),
        ("Connection", "close"),
    ]);
    req = upstream_head(&req, &t, false, false, true).unwrap();
    assert_eq!(
        wire_lines(&req),
        ["X-A: 1", "X-A: 3", "B: 2", "Host: last.example"]
    );
}

/// For an HTTP/2 (gRPC) upstream the edits add `te: trailers` and a Host
/// of the upstream's address when the conf sends neither, before the
/// conf's own names.
#[test]
fn an_h2_upstream_gets_te_and_host_first() {
    let mut req = RequestHeader::build("POST", b"/x?y=1", None).unwrap();
    req.append_header("Content-Type", "application/grpc")
        .unwrap();
    let t = target(&[("X-A", "1"), ("Content-Type", "application/grpc")]);
    req = upstream_head(&req, &t, false, true, true).unwrap();
    assert_eq!(
        wire_lines(&req),
        [
            "te: trailers",
            "Host: app:8080",
            "X-A: 1",
            "Content-Type: application/grpc"
        ]
    );
}

/// A client request as Pingora's HTTP/1 parser leaves it: names with
/// the client's spelling.
fn client(method: &str, path: &[u8], headers: &[(&str, &str)]) -> RequestHeader {
    let mut req = RequestHeader::build(method, path, None).unwrap();
    for (n, v) in headers {
        req.append_header(n.to_string(), *v).unwrap();
    }
    req
}

/// moat's own loop writes the upstream head as bytes from the plan
/// (`upstream_wire`); those bytes are exactly what Pingora writes for the
/// head `upstream_head` builds, as HTTP/1.1, in every shape of conf list:
/// SWAG's proxy.conf, repeated names, two Hosts, hop-by-hop values, the
/// client's headers passed with their spelling, body framing, a rewritten
/// URI, `proxy_method`, an HTTP/1.0 client and an HTTP/2 one.
#[test]
fn wire_bytes_are_pingoras_serialization_of_the_same_head() {
    let swag = [
        ("Host", "app.example.test"),
        ("X-Forwarded-For", "10.0.0.1, 127.0.0.1"),
        ("X-Forwarded-Host", "app.example.test"),
        ("X-Forwarded-Method", "GET"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Server", "app.example.test"),
        ("X-Forwarded-Ssl", "on"),
        ("X-Forwarded-Uri", "/x?y=1"),
        ("X-Original-Method", "GET"),
        ("X-Original-URL", "https://app.example.test/x?y=1"),
        ("X-Real-IP", "127.0.0.1"),
        ("Connection", "close"),
        ("Upgrade", ""),
        ("Early-Data", ""),
        ("Proxy", ""),
    ];
    let browser = [
        ("Host", "app.example.test"),
        ("User-Agent", "curl/8"),
        ("accept", "*/*"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("Cookie", "a=1"),
        ("Content-Length", "0"),
        ("Connection", "keep-alive"),
        ("Accept", "text/html"),
    ];
    let mut cases = Vec::new();
    let mut t = target(&swag);
    t.path_and_query = "/x?y=1".into();
    t.headers = t.headers.with_client_headers();
    cases.push((client("GET", b"/x?y=1", &browser), t.clone()));
    // Rewritten URI and proxy_method.
    let mut rewritten = t.clone();
    rewritten.path_and_query = "/rewritten/p%20q?b=1".into();
    rewritten.method = Some("POST".into());
    cases.push((client("GET", b"/x?y=1", &browser), rewritten));
    // Repeated names, two Hosts, no client headers passed.
    let repeated = target(&[
        ("Host", "first.example"),
        ("X-A", "1"),
        ("B", "2"),
        ("X-A", "3"),
        ("Host", "last.example"),
        ("Keep-Alive", "300"),
    ]);
    cases.push((client("DELETE", b"/x?y=1", &browser), repeated));
    // An HTTP/1.0 client.
    let mut old = client("GET", b"/x?y=1", &[("Host", "a"), ("X-Old", "1")]);
    old.set_version(http::Version::HTTP_10);
    cases.push((old, t.clone()));
    // An HTTP/2 client: names without their spelling (lower-case), the
    // URI with `:authority`, the Host that the head checks add from it.
    let mut h2 = RequestHeader::build_no_case("GET", b"/x?y=1", None).unwrap();
    h2.set_uri("https://app.example.test/x?y=1".parse().unwrap());
    h2.set_version(http::Version::HTTP_2);
    for (n, v) in [
        ("user-agent", "chromium"),
        ("accept", "*/*"),
        ("cookie", "a=1; b=2"),
        ("te", "trailers"),
        ("host", "app.example.test"),
    ] {
        h2.append_header(n, v).unwrap();
    }
    assert!(!h2.has_case());
    cases.push((h2, t.clone()));
    for (req, t) in cases {
        let mut head = upstream_head(&req, &t, false, false, true).unwrap();
        head.set_version(http::Version::HTTP_11);
        let pingora = pingora::protocols::http::v1::client::http_req_header_to_wire(&head).unwrap();
        let mut wire = Vec::new();
        upstream_wire(&req, &t, &mut wire).unwrap();
        let (wire, pingora) = (
            String::from_utf8_lossy(&wire),
            String::from_utf8_lossy(&pingora),
        );
        if req.has_case() {
            assert_eq!(wire, pingora);
        } else {
            // A head without spelling makes Pingora lower-case the conf's
            // names too; the wire keeps them as the conf spells them, as
            // nginx sends them whatever the client's HTTP version.
            assert_eq!(wire.to_ascii_lowercase(), pingora.to_ascii_lowercase());
            assert!(wire.contains("\r\nX-Forwarded-For: 10.0.0.1"), "{wire}");
            assert!(wire.contains("\r\nuser-agent: chromium\r\n"), "{wire}");
        }
    }
}

/// What Pingora's map refuses to hold (a value with a line break, a name
/// with a space), the wire writer refuses too, rather than split a header.
#[test]
fn wire_bytes_refuse_what_pingora_refuses() {
    let req = client("GET", b"/x?y=1", &[("Host", "a")]);
    for bad in [
        [("X-Injected", "a\r\nEvil: 1")],
        [("X-Nul", "a\0b")],
        [("Bad Name", "1")],
    ] {
        let t = target(&bad);
        assert!(
            upstream_head(&req, &t, false, false, true).is_err(),
            "{bad:?}"
        );
        let mut wire = Vec::new();
        assert!(upstream_wire(&req, &t, &mut wire).is_err(), "{bad:?}");
    }
}
