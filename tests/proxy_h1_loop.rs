//! moat's own request path (`src/proxy/engine/request.rs`) over real
//! sockets, on its HTTP/1 loop (`h1.rs`) and on HTTP/2 streams: its
//! upstream pool reuses connections and retries a reused one the upstream
//! closed (with the request's body), and requests with a body
//! (`engine/body.rs`) arrive whole on the same pooled connections,
//! pipelined or not, in the framing the upstream is told, with later
//! requests on the same client connection still served. The backend
//! records every request, its framing and the connection it came on, so
//! what reached it is asserted.

#[path = "support/proxy.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moat::conf::Action;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the backend received it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    conn: usize,
    method: String,
    path: String,
    body: String,
    /// How the body was framed: `length N`, `chunked` or `none`.
    framing: String,
}

/// A keep-alive HTTP/1.1 backend that answers `conn:METHOD path body`.
struct Backend {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Backend {
    /// `close_after` closes each connection after that many answers.
    async fn start(close_after: Option<usize>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (s, a, c) = (seen.clone(), accepted.clone(), closed.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let conn = a.fetch_add(1, Ordering::SeqCst) + 1;
                let (s, c) = (s.clone(), c.clone());
                tokio::spawn(async move {
                    serve(stream, conn, &s, close_after).await;
                    c.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            port,
            seen,
            accepted,
            closed,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    conn: usize,
    seen: &Mutex<Vec<Seen>>,
    close_after: Option<usize>,
) {
    let mut buf = Vec::new();
    let mut answered = 0;
    while let Some((head, body)) = read_message(&mut stream, &mut buf).await {
        let line = head.lines().next().unwrap_or_default().to_owned();
        let mut parts = line.split(' ');
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let framing = framing(&head);
        let body = String::from_utf8_lossy(&body).into_owned();
        let text = format!("{conn}:{method} {path} {body}");
        seen.lock().unwrap().push(Seen {
            conn,
            method,
            path,
            body,
            framing,
        });
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
        answered += 1;
        if close_after == Some(answered) {
            return;
        }
    }
}

/// A header's value in `head`.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// How the message with `head` frames its body.
fn framing(head: &str) -> String {
    match (
        header(head, "transfer-encoding"),
        header(head, "content-length"),
    ) {
        (Some(te), None) if te.eq_ignore_ascii_case("chunked") => "chunked".into(),
        (None, Some(length)) => format!("length {length}"),
        (None, None) => "none".into(),
        other => panic!("conflicting framing {other:?}"),
    }
}

/// The next message (head, body by Content-Length or chunked) from
/// `stream`, with `buf` holding what was read past the previous one.
async fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            if framing(&head) == "chunked" {
                buf.drain(..end + 4);
                return Some((head, read_chunked(stream, buf).await?));
            }
            let length = header(&head, "content-length").map_or(0, |v| v.parse().unwrap());
            let start = end + 4;
            while buf.len() < start + length {
                if !fill(stream, buf).await {
                    return None;
                }
            }
            let body = buf[start..start + length].to_vec();
            buf.drain(..start + length);
            return Some((head, body));
        }
        if !fill(stream, buf).await {
            return None;
        }
    }
}

/// A chunked body from the start of `buf` (and `stream`), decoded.
async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
                break at;
            }
            if !fill(stream, buf).await {
                return None;
            }
        };
        let size = usize::from_str_radix(std::str::from_utf8(&buf[..line_end]).unwrap(), 16)
            .expect("a chunk size");
        let need = line_end + 2 + size + 2;
        while buf.len() < need {
            if !fill(stream, buf).await {
                return None;
            }
        }
        body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
        assert_eq!(&buf[need - 2..need], b"\r\n", "a chunk ends in CRLF");
        buf.drain(..need);
        if size == 0 {
            return Some(body);
        }
    }
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// A client connection to moat's plain port, reading whole responses.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(moat: &Moat) -> Self {
        Self {
            stream: TcpStream::connect(moat.http).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &str) {
        self.stream.write_all(bytes.as_bytes()).await.unwrap();
    }

    /// The next response's status line and body.
    async fn response(&mut self) -> (String, String) {
        let (head, body) = tokio::time::timeout(
            Duration::from_secs(10),
            read_message(&mut self.stream, &mut self.buf),
        )
        .await
        .expect("a response within 10 s")
        .expect("a response before the connection closed");
        let status = head.lines().next().unwrap().to_owned();
        (status, String::from_utf8(body).unwrap())
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: app.example.test\r\n\r\n")
}

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: app.example.test\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// moat proxying everything to `backend`; paths under `/stream` with
/// `proxy_request_buffering off`.
fn moat_for(backend: &Backend) -> Moat {
    let port = backend.port;
    start_moat(
        FnRoutes::new(move |req| {
            let target = swag_target("http", "127.0.0.1", port, req, None);
            let mut d = decision(Action::Proxy(target));
            d.request_buffering = !req.uri.starts_with("/stream");
            d
        }),
        None,
    )
}

/// A backend that closes each connection after one answer, moat, and a
/// client whose `GET /first` has been answered and whose pooled upstream
/// connection the backend has since closed.
async fn after_a_closed_pooled_connection() -> (Backend, Moat, Client) {
    let backend = Backend::start(Some(1)).await;
    let moat = moat_for(&backend);
    let mut client = Client::connect(&moat).await;
    client.send(&get("/first")).await;
    assert_eq!(client.response().await.1, "1:GET /first ");
    assert!(
        wait_for(Duration::from_secs(5), || backend
            .closed
            .load(Ordering::SeqCst)
            == 1)
        .await,
        "the backend closed its first connection"
    );
    (backend, moat, client)
}

/// Three requests on one client connection reach the backend on one
/// upstream connection, in order.
#[tokio::test]
async fn keep_alive_requests_share_one_upstream_connection() {
    let backend = Backend::start(None).await;
    let moat = moat_for(&backend);
    let mut client = Client::connect(&moat).await;
    for path in ["/one", "/two", "/three"] {
        client.send(&get(path)).await;
        let (status, body) = client.response().await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, format!("1:GET {path} "));
    }
    let paths: Vec<_> = backend
        .seen()
        .iter()
        .map(|s| (s.conn, s.path.clone()))
        .collect();
    assert_eq!(
        paths,
        [
            (1, "/one".to_owned()),
            (1, "/two".to_owned()),
            (1, "/three".to_owned())
        ]
    );
    assert_eq!(backend.accepted.load(Ordering::SeqCst), 1);
}

/// The backend closes its connection after each answer. The pooled
/// connection is found closed on the next request, which then goes once
/// on a new connection: the client sees no error, the backend sees each
/// request once.
#[tokio::test]
async fn a_pooled_connection_the_upstream_closed_is_retried_on_a_new_one() {
    let (backend, _moat, mut client) = after_a_closed_pooled_connection().await;
    client.send(&get("/second")).await;
    let (status, body) = client.response().await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "2:GET /second ");
    let seen: Vec<_> = backend
        .seen()
        .iter()
        .map(|s| (s.conn, s.path.clone()))
        .collect();
    assert_eq!(seen, [(1, "/first".to_owned()), (2, "/second".to_owned())]);
}

/// A request with a body runs on the loop like the requests around it:
/// it arrives whole, with its length, on the same pooled upstream
/// connection (pingora-proxy, which served bodies before, has a pool of
/// its own), and the client connection goes on serving after it.
#[tokio::test]
async fn a_request_with_a_body_between_loop_requests_arrives_whole() {
    let backend = Backend::start(None).await;
    let moat = moat_for(&backend);
    let mut client = Client::connect(&moat).await;
    client.send(&get("/before")).await;
    assert_eq!(client.response().await.1, "1:GET /before ");
    client.send(&post("/form", "name=value")).await;
    let (status, body) = client.response().await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.ends_with("POST /form name=value"), "{body}");
    client.send(&get("/after")).await;
    assert!(client.response().await.1.ends_with("GET /after "));
    let seen: Vec<_> = backend
        .seen()
        .into_iter()
        .map(|s| (s.conn, s.method, s.path, s.body, s.framing))
        .collect();
    let seen: Vec<_> = seen
        .iter()
        .map(|(c, m, p, b, f)| (*c, m.as_str(), p.as_str(), b.as_str(), f.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "GET", "/before", "", "none"),
            (1, "POST", "/form", "name=value", "length 10"),
            (1, "GET", "/after", "", "none"),
        ]
    );
    assert_eq!(backend.accepted.load(Ordering::SeqCst), 1);
}

/// The backend closes each connection after one answer. A POST that finds
/// its pooled connection closed goes again on a new one, body and all:
/// the client gets the answer, the backend sees the body once, whole.
#[tokio::test]
async fn a_body_on_a_pooled_connection_the_upstream_closed_goes_again_whole() {
    let (backend, _moat, mut client) = after_a_closed_pooled_connection().await;
    let body = "x".repeat(20_000);
    client.send(&post("/second", &body)).await;
    let (status, answer) = client.response().await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(answer, format!("2:POST /second {body}"));
    let seen: Vec<_> = backend
        .seen()
        .into_iter()
        .map(|s| (s.conn, s.path, s.body.len()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "/first".to_owned(), 0),
            (2, "/second".to_owned(), 20_000)
        ]
    );
}

/// Chunked bodies: under `proxy_request_buffering off` one goes up
/// chunked as it comes; otherwise (nginx's default) it is read whole
/// first and goes up with its `Content-Length`, as nginx sends it, with a
/// limit or without. All on the one pooled connection, with the client's
/// connection kept alive after each (a body over 64 KiB used to close it).
#[tokio::test]
async fn chunked_bodies_go_up_streamed_or_whole_as_the_location_says() {
    let backend = Backend::start(None).await;
    let port = backend.port;
    let moat = start_moat(
        FnRoutes::new(move |req| {
            let mut d = decision(Action::Proxy(swag_target(
                "http",
                "127.0.0.1",
                port,
                req,
                None,
            )));
            d.request_buffering = !req.uri.starts_with("/streamed");
            if req.uri.starts_with("/limited") {
                d.max_body_size = Some(1 << 20);
            }
            d
        }),
        None,
    );
    let mut client = Client::connect(&moat).await;
    let body: String = (0..100_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    for path in ["/streamed", "/limited", "/whole"] {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: app.example.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        for piece in body.as_bytes().chunks(7_000) {
            request.push_str(&format!("{:x}\r\n", piece.len()));
            request.push_str(std::str::from_utf8(piece).unwrap());
            request.push_str("\r\n");
        }
        request.push_str("0\r\n\r\n");
        client.send(&request).await;
        let (status, answer) = client.response().await;
        assert_eq!(status, "HTTP/1.1 200 OK", "{path}");
        assert_eq!(answer, format!("1:POST {path} {body}"), "{path}");
    }
    client.send(&get("/after")).await;
    assert_eq!(client.response().await.1, "1:GET /after ");
    let seen: Vec<_> = backend
        .seen()
        .into_iter()
        .map(|s| (s.path, s.body == body, s.framing))
        .collect();
    assert_eq!(
        seen,
        [
            ("/streamed".to_owned(), true, "chunked".to_owned()),
            ("/limited".to_owned(), true, "length 100000".to_owned()),
            ("/whole".to_owned(), true, "length 100000".to_owned()),
            ("/after".to_owned(), false, "none".to_owned()),
        ]
    );
    assert_eq!(backend.accepted.load(Ordering::SeqCst), 1);
}

/// Pipelined in one write: the loop answers the GET, then reads the
/// POST's body from the bytes it had already read past the GET; the
/// answers come back in order and the backend gets each once, on one
/// connection.
#[tokio::test]
async fn pipelined_requests_with_a_body_mid_way_are_answered_in_order() {
    let backend = Backend::start(None).await;
    let moat = moat_for(&backend);
    let mut client = Client::connect(&moat).await;
    let batch = [get("/a"), post("/b", "payload"), get("/c")].concat();
    client.send(&batch).await;
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let (status, body) = client.response().await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        bodies.push(body.split_once(':').unwrap().1.to_owned());
    }
    assert_eq!(bodies, ["GET /a ", "POST /b payload", "GET /c "]);
    let seen: Vec<_> = backend
        .seen()
        .into_iter()
        .map(|s| (s.conn, s.path, s.body))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "/a".to_owned(), String::new()),
            (1, "/b".to_owned(), "payload".to_owned()),
            (1, "/c".to_owned(), String::new()),
        ]
    );
}

/// HTTP/2 streams run moat's own path and share its upstream pool with
/// the HTTP/1 loop: a stream after an HTTP/1 request reuses that
/// request's upstream connection (pingora-proxy's pool would open a new
/// one). Sixteen concurrent streams on one client connection each get
/// their own answer and reach the backend once; a POST with a length, one
/// streamed without (sent up chunked under `proxy_request_buffering off`)
/// and one read whole (sent up with its length) arrive whole over the
/// same pool; streams after them are served from the pool too.
#[tokio::test]
async fn http2_streams_run_on_moats_path_and_share_its_pool() {
    let backend = Backend::start(None).await;
    let moat = moat_for(&backend);
    let accepted = || backend.accepted.load(Ordering::SeqCst);
    let mut plain = Client::connect(&moat).await;
    plain.send(&get("/warm")).await;
    assert_eq!(plain.response().await.1, "1:GET /warm ");
    drop(plain);

    let h2 = client(&["app.example.test"], moat.https);
    let url = |path: &str| format!("https://app.example.test:{}{path}", moat.https.port());
    let first = h2.get(url("/first")).send().await.unwrap();
    assert_eq!(first.version(), reqwest::Version::HTTP_2);
    assert_eq!(first.status(), 200);
    assert_eq!(first.text().await.unwrap(), "1:GET /first ");
    assert_eq!(
        accepted(),
        1,
        "the stream reused the loop's pooled connection"
    );

    let paths: Vec<String> = (0..16).map(|i| format!("/many/{i}")).collect();
    let answers = futures_util::future::join_all(paths.iter().map(|path| {
        let request = h2.get(url(path)).send();
        async move {
            let response = request.await.unwrap();
            assert_eq!(response.version(), reqwest::Version::HTTP_2);
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    }))
    .await;
    for (path, answer) in paths.iter().zip(&answers) {
        let (_, text) = answer.split_once(':').unwrap();
        assert_eq!(text, format!("GET {path} "), "the answer to {path}");
    }
    for path in &paths {
        let times = backend.seen().iter().filter(|s| &s.path == path).count();
        assert_eq!(times, 1, "{path} reached the backend once");
    }
    let after_many = accepted();
    assert!(
        after_many <= 17,
        "{after_many} upstream connections for 17 requests"
    );

    let posted = h2
        .post(url("/form"))
        .body("name=value")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert!(posted
        .text()
        .await
        .unwrap()
        .ends_with("POST /form name=value"));
    let pieces: Vec<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>> =
        ["streamed ", "body"]
            .into_iter()
            .map(|p| Ok(hyper::body::Frame::data(bytes::Bytes::from(p))))
            .collect();
    let streamed = h2
        .post(url("/stream"))
        .body(reqwest::Body::wrap(http_body_util::StreamBody::new(
            futures_util::stream::iter(pieces),
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);
    assert!(streamed
        .text()
        .await
        .unwrap()
        .ends_with("POST /stream streamed body"));
    let pieces: Vec<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>> = ["read ", "whole"]
        .into_iter()
        .map(|p| Ok(hyper::body::Frame::data(bytes::Bytes::from(p))))
        .collect();
    let whole = h2
        .post(url("/whole"))
        .body(reqwest::Body::wrap(http_body_util::StreamBody::new(
            futures_util::stream::iter(pieces),
        )))
        .send()
        .await
        .unwrap();
    assert!(whole
        .text()
        .await
        .unwrap()
        .ends_with("POST /whole read whole"));
    let after_post = accepted();
    assert_eq!(after_post, after_many, "the POSTs used pooled connections");

    for path in ["/later/1", "/later/2", "/later/3"] {
        let response = h2.get(url(path)).send().await.unwrap();
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        let text = response.text().await.unwrap();
        assert!(text.ends_with(&format!("GET {path} ")), "{path}: {text}");
    }
    assert_eq!(
        accepted(),
        after_post,
        "later streams used pooled connections"
    );
    let methods: Vec<_> = backend
        .seen()
        .into_iter()
        .filter(|s| s.method != "GET")
        .map(|s| format!("{} {} {} ({})", s.method, s.path, s.body, s.framing))
        .collect();
    assert_eq!(
        methods,
        [
            "POST /form name=value (length 10)",
            "POST /stream streamed body (chunked)",
            "POST /whole read whole (length 10)",
        ]
    );
}
