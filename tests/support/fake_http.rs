//! A tiny HTTP/1.1 server on loopback for the fake provider APIs: one request
//! per connection (`Connection: close`), bodies by Content-Length. Enough for
//! reqwest, and small enough that what the fakes check is plain to read.
//!
//! Include with `#[path = "support/fake_http.rs"] mod fake_http;`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The raw query string (after `?`), still percent-encoded.
    pub raw_query: String,
    /// Query parameters, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first query parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, v: &serde_json::Value) -> Self {
        Response {
            status,
            content_type: "application/json",
            body: v.to_string(),
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            content_type: "text/plain",
            body: body.to_owned(),
        }
    }
}

/// Percent-decodes (`+` stays `+`: Alibaba encodes spaces as `%20`).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Serves `handler` on a fresh loopback port until the runtime ends; returns
/// the address.
pub async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    serve_at(std::net::Ipv4Addr::LOCALHOST.into(), handler).await
}

/// [`serve`] for a fake whose records pebble validates against: after each
/// request, the TXT pairs `txt` lists (absolute host with the dot, value)
/// are synced into the challtestsrv whose management address is
/// `challtest`, when one is given.
pub async fn serve_publishing<F, T>(challtest: Option<SocketAddr>, handler: F, txt: T) -> SocketAddr
where
    F: Fn(Request) -> Response + Send + Sync + 'static,
    T: Fn() -> Vec<(String, String)> + Send + Sync + 'static,
{
    let publisher = Arc::new(Publisher::default());
    if let Some(mgmt) = challtest {
        publisher.publish_to(mgmt);
    }
    let (handler, txt) = (Arc::new(handler), Arc::new(txt));
    serve(move |req| {
        let (publisher, handler, txt) = (publisher.clone(), handler.clone(), txt.clone());
        async move {
            let resp = handler(req);
            publisher.sync(txt()).await;
            resp
        }
    })
    .await
}

/// [`serve`] on `ip` (a test-created Docker network's gateway, so that
/// containers on that network reach the fake); returns the address.
pub async fn serve_at<F, Fut>(ip: std::net::IpAddr, handler: F) -> SocketAddr
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let listener = TcpListener::bind((ip, 0))
        .await
        .expect("bind the fake's address");
    let addr = listener.local_addr().expect("local addr");
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = BufReader::new(read);
                let Some(req) = read_request(&mut reader).await else {
                    return;
                };
                let resp = handler(req).await;
                let head = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    resp.status,
                    resp.content_type,
                    resp.body.len()
                );
                let _ = write.write_all(head.as_bytes()).await;
                let _ = write.write_all(resp.body.as_bytes()).await;
                let _ = write.shutdown().await;
            });
        }
    });
    addr
}

async fn read_request<R: AsyncBufReadExt + AsyncReadExt + Unpin>(
    reader: &mut R,
) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).await.ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).await.ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await.ok()?;
    let (path, raw_query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: path.to_owned(),
        raw_query: raw_query.to_owned(),
        query: parse_query(raw_query),
        headers,
        body,
    })
}

/// Makes pebble-challtestsrv (management address `mgmt`) answer `host` with
/// a CNAME to `target` (both absolute, with the dot), followed in its
/// answers: a challenge name delegated to another zone, as acme-dns users
/// set it up.
///
/// A connection challtestsrv drops before answering (seen in CI as hyper's
/// `IncompleteMessage` right after it started) is tried again until it
/// answers, for at most 10 s; an answer that refuses fails at once.
pub async fn challtest_cname(mgmt: SocketAddr, host: &str, target: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let sent = reqwest::Client::new()
            .post(format!("http://{mgmt}/set-cname"))
            .json(&serde_json::json!({ "host": host, "target": target }))
            .send()
            .await;
        match sent {
            Ok(answer) => {
                answer
                    .error_for_status()
                    .expect("challtestsrv sets the CNAME");
                return;
            }
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("challtestsrv set-cname: {e}; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("challtestsrv sets the CNAME: {e}"),
        }
    }
}

/// Makes pebble-challtestsrv (management address `mgmt`) serve exactly
/// `values` at `host` (absolute, with the trailing dot): how a fake provider
/// API makes its TXT records visible to pebble.
pub async fn challtest_publish(mgmt: SocketAddr, host: &str, values: &[String]) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("http://{mgmt}/{path}"))
            .json(&body)
            .send()
    };
    post("clear-txt", serde_json::json!({ "host": host }))
        .await
        .expect("challtestsrv answers");
    for v in values {
        post("set-txt", serde_json::json!({"host": host, "value": v}))
            .await
            .expect("challtestsrv answers");
    }
}

/// Keeps pebble-challtestsrv serving what a fake API holds: after each
/// request the fake hands over every (absolute host with the dot, value)
/// TXT pair it holds, and each host whose values changed is republished.
/// Does nothing until [`Publisher::publish_to`] names challtestsrv, so a
/// fake built for unit tests talks to no DNS server.
#[derive(Debug, Default)]
pub struct Publisher {
    mgmt: std::sync::Mutex<Option<SocketAddr>>,
    last: std::sync::Mutex<std::collections::BTreeMap<String, Vec<String>>>,
}

impl Publisher {
    /// Publishes from now on into the challtestsrv at `mgmt`.
    pub fn publish_to(&self, mgmt: SocketAddr) {
        *self.mgmt.lock().unwrap() = Some(mgmt);
    }

    /// Republishes each host of `txt` (or gone from it) whose values changed.
    pub async fn sync(&self, txt: Vec<(String, String)>) {
        let Some(mgmt) = *self.mgmt.lock().unwrap() else {
            return;
        };
        let mut now: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (host, value) in txt {
            now.entry(host.to_ascii_lowercase())
                .or_default()
                .push(value);
        }
        let changed: Vec<(String, Vec<String>)> = {
            let mut last = self.last.lock().unwrap();
            let hosts: std::collections::BTreeSet<String> =
                last.keys().chain(now.keys()).cloned().collect();
            let changed = hosts
                .into_iter()
                .filter(|h| last.get(h) != now.get(h))
                .map(|h| {
                    let v = now.get(&h).cloned().unwrap_or_default();
                    (h, v)
                })
                .collect();
            *last = now;
            changed
        };
        for (host, values) in changed {
            challtest_publish(mgmt, &host, &values).await;
        }
    }
}

/// `name` in `zone` as an absolute host with the dot; `""` and `@` are the apex.
pub fn absolute(name: &str, zone: &str) -> String {
    match name {
        "" | "@" => format!("{zone}."),
        n if n.ends_with(zone) => format!("{}.", n.trim_end_matches('.')),
        n => format!("{n}.{zone}."),
    }
}
