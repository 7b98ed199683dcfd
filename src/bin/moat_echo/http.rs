//! HTTP/1.1 by hand: parse each request head, count the body, answer with the
//! JSON echo, keep the connection alive when the client allows it.
//!
//! Hand-written (on `httparse`) rather than hyper so the echo reports the
//! request target and header names byte-for-byte as they arrived.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::websocket;
use crate::wire::{Wire, MAX_HEAD};
use crate::Shared;

/// The most headers one request may carry.
const MAX_HEADERS: usize = 256;

/// Facts about the connection that go into every answer.
#[derive(Debug, Clone, Copy)]
pub struct ConnMeta {
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the connection was accepted on.
    pub local: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// One parsed request head.
struct Head {
    method: String,
    target: String,
    http11: bool,
    headers: Vec<(String, String)>,
}

impl Head {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `true` when a comma-separated header lists `token` (case-insensitive).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn keep_alive(&self) -> bool {
        if self.has_token("connection", "close") {
            false
        } else {
            self.http11 || self.has_token("connection", "keep-alive")
        }
    }
}

/// Serves requests on one connection until the client closes it.
pub async fn serve_connection<S>(io: S, meta: ConnMeta, shared: &Shared) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut wire = Wire::new(io);
    loop {
        let head = match read_head(&mut wire).await? {
            Some(Ok(h)) => h,
            Some(Err(why)) => {
                let body = format!("bad request: {why}\n");
                let resp = format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                wire.send(resp.as_bytes()).await?;
                return wire.shutdown().await;
            }
            None => return Ok(()),
        };
        if head.method == "GET"
            && head.has_token("upgrade", "websocket")
            && head.values("sec-websocket-key").next().is_some()
        {
            let key = head.values("sec-websocket-key").next().unwrap_or_default();
            let protocol = head
                .values("sec-websocket-protocol")
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .next()
                .map(str::to_string);
            // What the upgrade request looked like, for a client behind a
            // proxy to compare (the echo answers it with frames, not JSON).
            let empty = hex::encode(sha2::Digest::finalize(sha2::Sha256::default()));
            let json = echo_json(&head, meta, shared, 0, &empty);
            return websocket::run(wire, key, protocol.as_deref(), json.trim_end()).await;
        }
        if head.has_token("expect", "100-continue") {
            wire.send(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        let mut digest = sha2::Sha256::default();
        let body_len = match read_body(&mut wire, &head, &mut digest).await? {
            Ok(n) => n,
            Err(why) => {
                let resp = format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}",
                    why.len()
                );
                wire.send(resp.as_bytes()).await?;
                return wire.shutdown().await;
            }
        };
        let keep = head.keep_alive();
        let body_sha256 = hex::encode(sha2::Digest::finalize(digest));
        let json = echo_json(&head, meta, shared, body_len, &body_sha256);
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Echo-Name: {}\r\n",
            json.len(),
            shared.name
        );
        resp.push_str(if keep {
            "Connection: keep-alive\r\n\r\n"
        } else {
            "Connection: close\r\n\r\n"
        });
        let mut bytes = resp.into_bytes();
        if head.method != "HEAD" {
            bytes.extend_from_slice(json.as_bytes());
        }
        wire.send(&bytes).await?;
        if !keep {
            return wire.shutdown().await;
        }
    }
}

/// Reads one request head. `None`: the client closed between requests.
async fn read_head<S>(wire: &mut Wire<S>) -> io::Result<Option<Result<Head, String>>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        // Tolerate blank lines between requests (RFC 9112 §2.2).
        while wire.buffered().starts_with(b"\r\n") {
            wire.consume(2);
        }
        if !wire.buffered().is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(wire.buffered()) {
                Ok(httparse::Status::Complete(len)) => {
                    let head = Head {
                        method: req.method.unwrap_or_default().to_string(),
                        target: req.path.unwrap_or_default().to_string(),
                        http11: req.version == Some(1),
                        headers: req
                            .headers
                            .iter()
                            .map(|h| {
                                (
                                    h.name.to_string(),
                                    String::from_utf8_lossy(h.value).into_owned(),
                                )
                            })
                            .collect(),
                    };
                    wire.consume(len);
                    return Ok(Some(Ok(head)));
                }
                Ok(httparse::Status::Partial) => {
                    if wire.buffered().len() > MAX_HEAD {
                        return Ok(Some(Err("request head too large".into())));
                    }
                }
                Err(e) => return Ok(Some(Err(e.to_string()))),
            }
        }
        if !wire.fill().await? {
            return if wire.buffered().is_empty() {
                Ok(None)
            } else {
                Err(crate::wire::eof())
            };
        }
    }
}

/// Reads the body (Content-Length or chunked) into `digest` and returns its
/// length.
async fn read_body<S>(
    wire: &mut Wire<S>,
    head: &Head,
    digest: &mut sha2::Sha256,
) -> io::Result<Result<u64, String>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if head.has_token("transfer-encoding", "chunked") {
        let mut total = 0u64;
        loop {
            let line = wire.line().await?;
            let text = String::from_utf8_lossy(&line);
            let size_text = text.split(';').next().unwrap_or("").trim();
            let size = match u64::from_str_radix(size_text, 16) {
                Ok(n) => n,
                Err(_) => return Ok(Err(format!("bad chunk size `{size_text}`"))),
            };
            if size == 0 {
                // Trailers, up to the empty line.
                while !wire.line().await?.is_empty() {}
                return Ok(Ok(total));
            }
            wire.skip(size, digest).await?;
            total += size;
            if !wire.line().await?.is_empty() {
                return Ok(Err("chunk data not followed by CRLF".into()));
            }
        }
    }
    let mut lengths = head
        .values("content-length")
        .map(|v| v.trim().parse::<u64>());
    let Some(first) = lengths.next() else {
        return Ok(Ok(0));
    };
    let Ok(len) = first else {
        return Ok(Err("bad Content-Length".into()));
    };
    if lengths.any(|l| l.as_ref().ok() != Some(&len)) {
        return Ok(Err("conflicting Content-Length headers".into()));
    }
    wire.skip(len, digest).await?;
    Ok(Ok(len))
}

fn echo_json(
    head: &Head,
    meta: ConnMeta,
    shared: &Shared,
    body_len: u64,
    body_sha256: &str,
) -> String {
    let headers: Vec<[&str; 2]> = head
        .headers
        .iter()
        .map(|(n, v)| [n.as_str(), v.as_str()])
        .collect();
    let value = serde_json::json!({
        "name": shared.name,
        "local_port": meta.local.port(),
        "local_addr": meta.local.to_string(),
        "tls": meta.tls,
        "method": head.method,
        "target": head.target,
        "version": if head.http11 { "HTTP/1.1" } else { "HTTP/1.0" },
        "headers": headers,
        "peer": meta.peer.to_string(),
        "body_len": body_len,
        "body_sha256": body_sha256,
    });
    let mut text = value.to_string();
    text.push('\n');
    text
}
