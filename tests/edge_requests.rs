//! Malformed requests at the edge (issue 17 items 5, 8, 9), differential
//! against Debian's nginx: each request goes as raw bytes over TLS to
//! nginx and to moat, each proxying to its own recording upstream, so
//! "nothing reached the app" is asserted from what the upstream saw.
//! Also: pipelined requests on one connection, a generative test over raw
//! HTTP/1.1 heads and chunked bodies, and secrets absent from trace logs.

#[path = "support/env.rs"]
mod env;
#[path = "support/log_capture.rs"]
mod log_capture;
#[path = "support/oracle.rs"]
mod oracle;
#[path = "support/oracle_conf.rs"]
mod oracle_conf;
#[path = "support/proxy.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use log_capture::Capture;

// ------------------------------------------------------------ logging

/// Everything moat logs in this test binary, at trace level.
fn log_capture() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        moat::supervisor::init_logging_into(
            "trace",
            moat::settings::LogFormat::Text,
            moat::clock::LocalZone::utc(),
            move || Capture(sink.clone()),
        )
        .expect("the test installs the first subscriber");
        // Panics on the proxy's own threads are counted (a panic in a
        // request task would otherwise only kill that task).
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("moat-proxy"))
            {
                PROXY_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
        buf
    })
}

static PROXY_PANICS: AtomicUsize = AtomicUsize::new(0);

// ------------------------------------------------------------ upstream

/// An upstream that records every request head it receives and answers
/// 200 with the request-target as body (and a `Set-Cookie`).
struct Recorder {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<Vec<u8>>>>,
}

const SET_COOKIE_SECRET: &str = "sid=upstream-set-cookie-secret-77";

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let record = heads.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let record = record.clone();
                std::thread::spawn(move || serve_one(conn, &record));
            }
        });
        Recorder { addr, heads }
    }

    fn count(&self) -> usize {
        self.heads.lock().unwrap().len()
    }

    fn heads(&self) -> Vec<String> {
        self.heads
            .lock()
            .unwrap()
            .iter()
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .collect()
    }
}

fn serve_one(mut conn: TcpStream, record: &Mutex<Vec<Vec<u8>>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(3)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = buf[..head_end].to_vec();
    record.lock().unwrap().push(head.clone());
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length = header_values(&text, "content-length")
        .first()
        .and_then(|v| v.parse::<usize>().ok());
    let chunked = text.contains("transfer-encoding: chunked");
    // Read the body so the proxy's write never meets a reset.
    loop {
        let body = &buf[head_end..];
        let done = match length {
            Some(n) => body.len() >= n,
            None => !chunked || body.ends_with(b"0\r\n\r\n"),
        };
        if done {
            break;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let target = text.split(' ').nth(1).unwrap_or("").to_owned();
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nSet-Cookie: {SET_COOKIE_SECRET}\r\nConnection: close\r\n\r\n{target}",
        target.len()
    );
    let _ = conn.write_all(answer.as_bytes());
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Values of `name` in a lower-cased head.
fn header_values(head: &str, name: &str) -> Vec<String> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

// ------------------------------------------------------------ the two proxies

struct Edge {
    nginx: Option<(oracle::Nginx, SocketAddr, Recorder)>,
    moat: support::Moat,
    moat_up: Recorder,
    _dir: tempfile::TempDir,
}

fn write_nginx_tree(dir: &Path, port: u16, upstream: SocketAddr) {
    let ck = rcgen::generate_simple_self_signed(vec!["example.test".to_string()]).unwrap();
    std::fs::create_dir_all(dir.join("nginx")).unwrap();
    std::fs::create_dir_all(dir.join("log/nginx")).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let d = dir.display();
    let conf = format!(
        "daemon off;
master_process off;
pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name _;
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        location / {{
            proxy_pass http://{upstream};
        }}
    }}
}}
"
    );
    std::fs::write(dir.join("nginx/nginx.conf"), conf).unwrap();
}

/// nginx (when installed) and moat, each in front of its own recorder.
fn edge() -> Edge {
    log_capture();
    let dir = tempfile::tempdir().unwrap();
    let nginx = env::require_program("edge_requests", "nginx").map(|bin| {
        let up = Recorder::start();
        let port = oracle::free_port();
        write_nginx_tree(dir.path(), port, up.addr);
        let n = oracle::Nginx::start(&bin, dir.path(), port).expect("nginx starts");
        (n, SocketAddr::from(([127, 0, 0, 1], port)), up)
    });
    let moat_up = Recorder::start();
    let port = moat_up.addr.port();
    let routes = support::FnRoutes::proxy_all("http", "127.0.0.1", port, None);
    let moat = support::start_moat(routes, None);
    Edge {
        nginx,
        moat,
        moat_up,
        _dir: dir,
    }
}

// ------------------------------------------------------------ raw clients

/// Write `raw` in one piece over TLS and read until the server closes (or 5 s).
fn send_tls(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = rustls_pki_types::ServerName::try_from("example.test").unwrap();
    let conn = rustls::ClientConnection::new(support::raw_tls_config(), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(raw).unwrap();
    tls.flush().unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// Plain HTTP: write `raw`, close the write side, read the answer.
fn send_plain(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = tcp.write_all(raw);
    let _ = tcp.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out);
    out
}

/// Status codes of every response in `wire`, in order.
fn statuses(wire: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(wire);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

fn first_status(wire: &[u8]) -> u16 {
    statuses(wire).first().copied().unwrap_or(0)
}

// ------------------------------------------------------------ the rules, test side

/// Whether a head that reached an upstream obeys item 5's rules: written
/// independently of `head_checks.rs`, from the issue text.
fn forwardable(head: &str) -> Result<(), String> {
    let mut lines = head.trim_end_matches("\r\n").split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let target = request_line.split(' ').nth(1).unwrap_or_default();
    if !target.starts_with('/') && target != "*" {
        return Err(format!("target {target:?}"));
    }
    let mut hosts = Vec::new();
    let mut auth = 0;
    let mut lengths = Vec::new();
    let mut encodings = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(format!("line {line:?}"))?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("header name {name:?}"));
        }
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "host" => hosts.push(value.to_owned()),
            "authorization" => auth += 1,
            "content-length" => lengths.push(value.to_owned()),
            "transfer-encoding" => encodings.push(value.to_ascii_lowercase()),
            _ => {}
        }
    }
    match hosts.as_slice() {
        [h] if !h.is_empty()
            && !h.contains("..")
            && !h
                .bytes()
                .any(|b| b"/\\@".contains(&b) || b <= 0x20 || b == 0x7f) => {}
        _ => return Err(format!("Host {hosts:?}")),
    }
    if auth > 1 {
        return Err("two Authorization".into());
    }
    if lengths.len() > 1
        || lengths
            .iter()
            .any(|l| !l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("Content-Length {lengths:?}"));
    }
    if encodings.len() > 1 || encodings.iter().any(|e| e != "chunked") {
        return Err(format!("Transfer-Encoding {encodings:?}"));
    }
    if !encodings.is_empty() && !lengths.is_empty() {
        return Err("Content-Length with Transfer-Encoding".into());
    }
    Ok(())
}

// ------------------------------------------------------------ tests

/// One malformed request; `stricter` says why moat refuses what nginx forwards.
struct Case {
    name: &'static str,
    raw: &'static [u8],
    stricter: Option<&'static str>,
}

const HOSTILE: &[Case] = &[
    Case { name: "Host with /", raw: b"GET / HTTP/1.1\r\nHost: a/b\r\nConnection: close\r\n\r\n", stricter: None },
    Case { name: "Host with \\", raw: b"GET / HTTP/1.1\r\nHost: a\\b\r\nConnection: close\r\n\r\n", stricter: Some("`\\` is no DNS name character; nginx accepts it on Unix") },
    Case { name: "Host with space", raw: b"GET / HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n", stricter: None },
    Case { name: "Host with ..", raw: b"GET / HTTP/1.1\r\nHost: a..b\r\nConnection: close\r\n\r\n", stricter: None },
    Case { name: "Host with @", raw: b"GET / HTTP/1.1\r\nHost: user@a\r\nConnection: close\r\n\r\n", stricter: Some("`@` turns https://$host/ into a URL with userinfo") },
    Case { name: "Host with control", raw: b"GET / HTTP/1.1\r\nHost: a\x01b\r\nConnection: close\r\n\r\n", stricter: None },
    Case { name: "Host with non-ASCII", raw: b"GET / HTTP/1.1\r\nHost: ex\xe4mple.test\r\nConnection: close\r\n\r\n", stricter: Some("DNS names are ASCII (IDNs come punycoded); such a Host is no string moat can route on") },
    Case { name: "empty Host", raw: b"GET / HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n", stricter: None },
    Case { name: "HTTP/1.1 without Host", raw: b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", stricter: None },
    Case { name: "target @host/x", raw: b"GET @host/x HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n", stricter: None },
    Case { name: "target \\admin", raw: b"GET \\admin HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n", stricter: None },
    Case { name: "target ..;/admin", raw: b"GET ..;/admin HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n", stricter: None },
    Case { name: "GET *", raw: b"GET * HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n", stricter: None },
    Case { name: "absolute-form disagreeing with Host", raw: b"GET http://other.test/x HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n", stricter: Some("nginx silently routes by the target's host; the app would see a Host the client did not send") },
    Case { name: "Content-Length list", raw: b"POST / HTTP/1.1\r\nHost: example.test\r\nContent-Length: 3, 3\r\nConnection: close\r\n\r\nabc", stricter: None },
    Case { name: "duplicate Content-Length", raw: b"POST / HTTP/1.1\r\nHost: example.test\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", stricter: None },
    Case { name: "two Authorization", raw: b"GET / HTTP/1.1\r\nHost: example.test\r\nAuthorization: Basic YTpi\r\nAuthorization: Basic Yzpk\r\nConnection: close\r\n\r\n", stricter: None },
    Case { name: "two Host", raw: b"GET / HTTP/1.1\r\nHost: example.test\r\nHost: other.test\r\nConnection: close\r\n\r\n", stricter: None },
    Case { name: "Transfer-Encoding gzip", raw: b"POST / HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n", stricter: Some("Pingora's HTTP/1 parser refuses an unknown Transfer-Encoding with 400 before moat sees the head; nginx says 501") },
    Case { name: "Transfer-Encoding gzip, chunked", raw: b"POST / HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n", stricter: Some("Pingora's HTTP/1 parser refuses an unknown Transfer-Encoding with 400 before moat sees the head; nginx says 501") },
];

/// Every hostile head gets a 4xx/5xx from moat, never reaches moat's
/// upstream, and gets the same status class as from nginx (except the
/// documented stricter cases, where nginx's behaviour is printed).
#[test]
fn hostile_heads_are_refused_like_nginx_and_never_reach_the_upstream() {
    let e = edge();
    let mut report = Vec::new();
    for case in HOSTILE {
        let before = e.moat_up.count();
        let moat = first_status(&send_tls(e.moat.https, case.raw));
        assert!(
            (400..=599).contains(&moat),
            "{}: moat answered {moat}",
            case.name
        );
        assert_eq!(
            e.moat_up.count(),
            before,
            "{}: moat forwarded it: {:?}",
            case.name,
            e.moat_up.heads().last()
        );
        if let Some((_, addr, up)) = &e.nginx {
            let before = up.count();
            let nginx = first_status(&send_tls(*addr, case.raw));
            let nginx_forwarded = up.count() > before;
            match case.stricter {
                None => {
                    assert_eq!(moat / 100, nginx / 100, "{}: moat {moat}, nginx {nginx}", case.name);
                    assert!(!nginx_forwarded, "{}: nginx forwarded it", case.name);
                }
                Some(why) => report.push(format!(
                    "{}: moat {moat}, nginx {nginx} (forwarded: {nginx_forwarded}); stricter because {why}",
                    case.name
                )),
            }
            if case.name.starts_with("Transfer-Encoding gzip") {
                assert!(matches!(moat, 400 | 501), "{}: moat {moat}", case.name);
                assert_eq!(nginx, 501, "{}: nginx answers 501", case.name);
            }
        }
    }
    for line in report {
        eprintln!("{line}");
    }
}

/// Well-formed edge cases are forwarded by both, the same way: absolute-form
/// arrives upstream as origin-form, `_` and invalid header names are dropped.
#[test]
fn absolute_form_is_origin_form_upstream_and_ignored_headers_are_dropped() {
    let e = edge();
    let raw = b"GET http://example.test/abs?q=1 HTTP/1.1\r\nHost: example.test\r\nX_Under: u\r\nX.Dot: d\r\nX-Kept: k\r\nConnection: close\r\n\r\n";
    let moat = send_tls(e.moat.https, raw);
    assert_eq!(
        first_status(&moat),
        200,
        "{}",
        String::from_utf8_lossy(&moat)
    );
    let head = e.moat_up.heads().pop().expect("moat forwarded the request");
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("get /abs?q=1 http/1.1\r\n"), "{head}");
    assert!(lower.contains("x-kept: k"), "{head}");
    assert!(
        !lower.contains("x_under") && !lower.contains("x.dot"),
        "{head}"
    );
    forwardable(&head).unwrap();
    if let Some((_, addr, up)) = &e.nginx {
        assert_eq!(first_status(&send_tls(*addr, raw)), 200);
        let nginx_head = up.heads().pop().expect("nginx forwarded the request");
        let n = nginx_head.to_ascii_lowercase();
        assert!(n.starts_with("get /abs?q=1 http/1.0\r\n"), "{nginx_head}");
        assert!(n.contains("x-kept: k"), "{nginx_head}");
        assert!(
            !n.contains("x_under") && !n.contains("x.dot"),
            "{nginx_head}"
        );
    }
}

/// Three requests in one write on one keep-alive connection: three answers,
/// in order, from moat as from nginx.
#[test]
fn pipelined_requests_are_all_answered_in_order() {
    let e = edge();
    let raw = b"GET /p1 HTTP/1.1\r\nHost: example.test\r\n\r\nPOST /p2 HTTP/1.1\r\nHost: example.test\r\nContent-Length: 4\r\n\r\nbodyGET /p3 HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n";
    let check = |who: &str, wire: Vec<u8>| {
        let text = String::from_utf8_lossy(&wire).into_owned();
        assert_eq!(statuses(&wire), [200, 200, 200], "{who}: {text}");
        let order: Vec<usize> = ["/p1", "/p2", "/p3"]
            .iter()
            .map(|p| {
                text.find(&format!("\r\n\r\n{p}"))
                    .unwrap_or_else(|| panic!("{who}: no answer for {p}: {text}"))
            })
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{who}: out of order: {text}"
        );
    };
    check("moat", send_tls(e.moat.https, raw));
    assert_eq!(e.moat_up.count(), 3);
    if let Some((_, addr, _)) = &e.nginx {
        check("nginx", send_tls(*addr, raw));
    }
}

/// At trace level, no credential, cookie or body sent through moat (or
/// returned by the upstream) appears in anything moat logs.
#[test]
fn secrets_never_reach_the_trace_log() {
    let e = edge();
    let body = "body-secret-payload-31";
    let raw = format!(
        "POST /login HTTP/1.1\r\nHost: example.test\r\nAuthorization: Basic YXV0aC1zZWNyZXQtMTE=\r\nProxy-Authorization: Basic cHJveHktc2VjcmV0LTIy\r\nCookie: session=cookie-secret-44\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let wire = send_tls(e.moat.https, raw.as_bytes());
    let text = String::from_utf8_lossy(&wire);
    assert_eq!(first_status(&wire), 200, "{text}");
    assert!(
        text.contains(SET_COOKIE_SECRET),
        "the upstream's Set-Cookie came back"
    );
    let head = e.moat_up.heads().pop().unwrap();
    assert!(head.contains("YXV0aC1zZWNyZXQtMTE=") && head.contains("cookie-secret-44"));
    // A chunked body too (Pingora's chunk parser has its own trace lines).
    let chunked = "POST /c HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n16\r\nbody-secret-payload-31\r\n0\r\n\r\n";
    assert_eq!(
        first_status(&send_tls(e.moat.https, chunked.as_bytes())),
        200
    );
    let log = String::from_utf8_lossy(&log_capture().lock().unwrap()).into_owned();
    assert!(
        log.contains("TRACE"),
        "trace logging is on: {} bytes",
        log.len()
    );
    for secret in [
        "YXV0aC1zZWNyZXQtMTE=",
        "cHJveHktc2VjcmV0LTIy",
        "cookie-secret-44",
        "upstream-set-cookie-secret-77",
        body,
    ] {
        if let Some(i) = log.find(secret) {
            let line_start = log[..i].rfind('\n').map_or(0, |n| n + 1);
            let line_end = log[i..].find('\n').map_or(log.len(), |n| i + n);
            panic!(
                "secret {secret:?} in the log: {}",
                &log[line_start..line_end]
            );
        }
    }
}

/// `Transfer-Encoding: chunked` with `Content-Length`: nginx 1.22 answers
/// 400; moat (Pingora, RFC 9112 section 6.3) lets chunked win, drops the
/// client's Content-Length and closes the connection after the answer.
/// The body, read whole by its chunks (`proxy_request_buffering on`), goes
/// up with the one framing moat makes for it: `Content-Length` of the
/// decoded body, no `Transfer-Encoding`. The upstream sees one unambiguous
/// framing and the bytes after the body are never forwarded, so nothing
/// can be smuggled; this test pins that, and that nginx refuses.
#[test]
fn chunked_with_content_length_reaches_the_upstream_with_one_framing() {
    let e = edge();
    let raw = b"POST / HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: example.test\r\n\r\n";
    let wire = send_tls(e.moat.https, raw);
    assert_eq!(
        statuses(&wire),
        [200],
        "one answer, then close: {}",
        String::from_utf8_lossy(&wire)
    );
    let heads = e.moat_up.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    forwardable(&heads[0]).unwrap();
    let lower = heads[0].to_ascii_lowercase();
    assert!(!lower.contains("transfer-encoding"), "{}", heads[0]);
    assert_eq!(
        lower.matches("content-length").count(),
        1,
        "one length: {}",
        heads[0]
    );
    assert!(lower.contains("content-length: 3\r\n"), "{}", heads[0]);
    if let Some((_, addr, up)) = &e.nginx {
        assert_eq!(first_status(&send_tls(*addr, raw)), 400);
        assert_eq!(up.count(), 0);
    }
}

/// Seeded random mutations of valid heads (and chunked bodies) sent to
/// moat: no panic on the proxy's threads, every head that reached the
/// upstream obeys the rules, and moat still serves afterwards.
#[test]
fn generated_heads_never_forward_what_the_rules_refuse() {
    let e = edge();
    let addr = e.moat.http;
    let bases: &[&[u8]] = &[
        b"GET /a?b=c HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t\r\nConnection: close\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        b"POST /c HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
        b"GET http://example.test/abs HTTP/1.1\r\nHost: example.test\r\nAuthorization: Basic YTpi\r\nConnection: close\r\n\r\n",
    ];
    let inserts: &[&[u8]] = &[
        b"/",
        b"\\",
        b" ",
        b"..",
        b"@",
        b"\x01",
        b"\x7f",
        b"_",
        b".",
        b",",
        b"\r\n",
        b"\n",
        b"\t",
        b":",
        b"\r\nHost: x.test",
        b"\r\nContent-Length: 3",
        b"\r\nTransfer-Encoding: chunked",
        b"\r\nAuthorization: Basic Yzpk",
        b"\r\nX_Y: 1",
        b"http://",
        b"*",
        b"0",
        b"ffffffff",
        b"\x00",
        b"\xff",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let started = Instant::now();
    let cases = 3000;
    let mut offenders = Vec::new();
    for _ in 0..cases {
        let mut raw = bases[(next() % bases.len() as u64) as usize].to_vec();
        for _ in 0..1 + next() % 3 {
            let at = (next() % raw.len() as u64) as usize;
            match next() % 3 {
                0 => {
                    let ins = inserts[(next() % inserts.len() as u64) as usize];
                    raw.splice(at..at, ins.iter().copied());
                }
                1 => {
                    raw.remove(at);
                }
                _ => raw[at] = (next() % 256) as u8,
            }
        }
        let before = e.moat_up.count();
        let _ = send_plain(addr, &raw);
        let heads = e.moat_up.heads();
        if heads.len() > before && forwardable(&heads[before]).is_err() && offenders.len() < 5 {
            offenders.push(String::from_utf8_lossy(&raw).into_owned());
        }
    }
    let heads = e.moat_up.heads();
    let bad: Vec<_> = heads
        .iter()
        .filter_map(|h| forwardable(h).err().map(|why| format!("{why}: {h:?}")))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} forwarded heads break the rules:\n{}\nsent for example:\n{offenders:#?}",
        bad.len(),
        heads.len(),
        bad.join("\n")
    );
    assert!(
        heads.len() > cases / 20,
        "enough mutations stay valid to exercise forwarding: {}",
        heads.len()
    );
    assert_eq!(
        PROXY_PANICS.load(Ordering::SeqCst),
        0,
        "a proxy thread panicked"
    );
    let ok = send_tls(e.moat.https, bases[0]);
    assert_eq!(first_status(&ok), 200, "moat still serves");
    eprintln!(
        "{cases} generated heads in {:?}; {} reached the upstream",
        started.elapsed(),
        heads.len()
    );
}

/// HTTP/2 (curl `--http2`, as browsers connect): `:authority` is the
/// request's Host, so `$http_host` is set (SWAG's `X-Original-URL` is built
/// from it) and the upstream gets a Host header.
#[test]
fn http2_authority_is_the_host_header() {
    let Some(curl) = env::require_program("http2_authority_is_the_host_header", "curl") else {
        return;
    };
    log_capture();
    let up = Recorder::start();
    let port = up.addr.port();
    let routes = support::FnRoutes::new(move |req| {
        let mut target = support::swag_target("http", "127.0.0.1", port, req, None);
        let http_host = req
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        target.headers.push((
            "X-Original-URL".into(),
            format!("https://{http_host}{}", req.uri),
        ));
        support::decision(moat::conf::Action::Proxy(target))
    });
    let moat = support::start_moat(routes, None);
    let url = format!("https://example.test:{}/h2/path?x=1", moat.https.port());
    let out = std::process::Command::new(curl)
        .args([
            "-sk",
            "--http2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
        ])
        .arg("--resolve")
        .arg(format!("example.test:{}:127.0.0.1", moat.https.port()))
        .arg(&url)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200", "{out:?}");
    let head = up.heads().pop().expect("forwarded");
    let lower = head.to_ascii_lowercase();
    let authority = format!("example.test:{}", moat.https.port());
    assert!(
        lower.contains(&format!("\r\nhost: {authority}\r\n")),
        "{head}"
    );
    assert!(
        lower.contains(&format!("x-original-url: https://{authority}/h2/path?x=1")),
        "{head}"
    );
}
