//! moat's own request path (`src/proxy/engine/request.rs`) over real
//! sockets, on its HTTP/1 loop (`h1.rs`) and on HTTP/2 streams: its
//! upstream pool reuses connections and retries a reused one the upstream
//! closed, and the requests it hands to pingora-proxy (here: ones with a
//! body) arrive whole, pipelined or not, with later requests on the same
//! connection still served. The backend records every request and the
//! connection it came on, so what reached it is asserted.

#[path = "support/proxy.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
        let body = String::from_utf8_lossy(&body).into_owned();
        let text = format!("{conn}:{method} {path} {body}");
        seen.lock().unwrap().push(Seen {
            conn,
            method,
            path,
            body,
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

/// The next message (head, body by Content-Length) from `stream`, with
/// `buf` holding what was read past the previous one.
async fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.trim().parse::<usize>().unwrap());
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

fn moat_for(backend: &Backend) -> Moat {
    start_moat(
        FnRoutes::proxy_all("http", "127.0.0.1", backend.port, None),
        None,
    )
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
    let backend = Backend::start(Some(1)).await;
    let moat = moat_for(&backend);
    let mut client = Client::connect(&moat).await;
    client.send(&get("/first")).await;
    assert_eq!(client.response().await.1, "1:GET /first ");
    // The backend has closed the connection moat keeps in its pool.
    assert!(
        wait_for(Duration::from_secs(5), || backend
            .closed
            .load(Ordering::SeqCst)
            == 1)
        .await,
        "the backend closed its first connection"
    );
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

/// A request with a body is handed to pingora-proxy with the bytes the
/// loop read of it; the connection goes on serving after it.
#[tokio::test]
async fn a_request_with_a_body_after_loop_requests_arrives_whole() {
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
        .map(|s| (s.method, s.path, s.body))
        .collect();
    assert_eq!(
        seen,
        [
            ("GET".to_owned(), "/before".to_owned(), String::new()),
            (
                "POST".to_owned(),
                "/form".to_owned(),
                "name=value".to_owned()
            ),
            ("GET".to_owned(), "/after".to_owned(), String::new()),
        ]
    );
}

/// Pipelined in one write: the loop answers the GET, then hands the POST
/// over from the bytes it had already read past the GET; the answers come
/// back in order and the backend gets both once.
#[tokio::test]
async fn pipelined_requests_handed_over_mid_way_are_answered_in_order() {
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
        .map(|s| (s.path, s.body))
        .collect();
    assert_eq!(
        seen,
        [
            ("/a".to_owned(), String::new()),
            ("/b".to_owned(), "payload".to_owned()),
            ("/c".to_owned(), String::new()),
        ]
    );
}

/// HTTP/2 streams run moat's own path and share its upstream pool with
/// the HTTP/1 loop: a stream after an HTTP/1 request reuses that
/// request's upstream connection (pingora-proxy's pool would open a new
/// one). Sixteen concurrent streams on one client connection each get
/// their own answer and reach the backend once; a POST is handed over
/// whole; streams after it are served from the pool again.
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
    let after_post = accepted();
    // pingora-proxy took it, on a connection of its own pool.
    assert_eq!(after_post, after_many + 1, "the POST was handed over");

    for path in ["/later/1", "/later/2", "/later/3"] {
        let response = h2.get(url(path)).send().await.unwrap();
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        assert!(response
            .text()
            .await
            .unwrap()
            .ends_with(&format!("GET {path} ")));
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
        .map(|s| (s.method, s.path, s.body))
        .collect();
    assert_eq!(
        methods,
        [(
            "POST".to_owned(),
            "/form".to_owned(),
            "name=value".to_owned()
        )]
    );
}
