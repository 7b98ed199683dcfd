//! The oracle's HTTP/2 and WebSocket clients: the same probes sent over h2
//! (TLS with ALPN `h2`, `:authority` instead of `Host`) and as RFC 6455
//! upgrades, to nginx and to moat, each answer classified as
//! [`oracle::ask_nginx`] classifies an HTTP/1.1 one (what the upstream
//! received comes back from `moat-echo`: its JSON body, or for an upgrade
//! the 101's `X-Echo-Request`).
//!
//! Include next to `oracle.rs` as `mod oracle_h2ws;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use crate::oracle::{self, Outcome, Probe};

/// A TLS client like `base` that offers only `h2`.
pub fn h2_config(base: &Arc<rustls::ClientConfig>) -> Arc<rustls::ClientConfig> {
    let mut c = (**base).clone();
    c.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(c)
}

/// Headers HTTP/2 forbids (RFC 9113 §8.2.2) or carries as pseudo headers.
fn h2_forbidden(name: &str) -> bool {
    [
        "host",
        "connection",
        "transfer-encoding",
        "upgrade",
        "keep-alive",
        "proxy-connection",
        "te",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

/// Whether `p` can go over HTTP/2 as it is: TLS, an origin-form target the
/// `http` crate takes as it is written, its extra headers representable
/// in h2, its body (if any) with a length.
pub fn h2_eligible(p: &Probe) -> bool {
    p.tls
        && !p.chunked
        && p.target.starts_with('/')
        && p.target
            .parse::<http::uri::PathAndQuery>()
            .is_ok_and(|pq| pq.as_str() == p.target)
        && p.headers.iter().all(|(n, v)| {
            !h2_forbidden(n)
                && http::HeaderName::from_bytes(n.as_bytes()).is_ok()
                && http::HeaderValue::from_str(v).is_ok()
        })
}

/// Sends `p` over HTTP/2 on a fresh connection from `127.0.0.<client>`:
/// `:authority` is the probe's Host, `content-length` framing for a body.
pub fn ask_h2(
    rt: &tokio::runtime::Runtime,
    p: &Probe,
    ports: &BTreeMap<u16, u16>,
    apps_by_ip: &BTreeMap<Ipv4Addr, String>,
    tls: &Arc<rustls::ClientConfig>,
) -> (Outcome, Vec<(String, String)>) {
    let answer = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), h2_exchange(p, ports[&p.port], tls)).await
    });
    match answer {
        Ok(Ok((status, headers, body))) => {
            oracle::classify(status, &headers, &body, p, ports, apps_by_ip)
        }
        Ok(Err(e)) => (Outcome::Failed(format!("h2: {e}")), vec![]),
        Err(_) => (Outcome::Failed("h2: no answer within 20 s".into()), vec![]),
    }
}

type H2Answer = (u16, Vec<(String, String)>, Vec<u8>);

async fn h2_exchange(
    p: &Probe,
    port: u16,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<H2Answer, String> {
    let tcp = oracle::connect_from(p.client, port).map_err(|e| format!("connect: {e}"))?;
    tcp.set_nonblocking(true).map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::from_std(tcp).map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from(p.host.clone())
        .map_err(|e| format!("SNI {}: {e}", p.host))?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
        return Err("the server did not choose h2 by ALPN".into());
    }
    let (client, conn) = h2::client::handshake(stream)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let mut client = client.ready().await.map_err(|e| e.to_string())?;
    let mut req = http::Request::builder()
        .method(p.method.as_str())
        .uri(format!("https://{}{}", p.host, p.target));
    for (n, v) in &p.headers {
        req = req.header(n.as_str(), v.as_str());
    }
    let with_body = p.method == "POST" || !p.body.is_empty();
    if with_body {
        req = req.header("content-length", p.body.len());
    }
    let req = req.body(()).map_err(|e| format!("request: {e}"))?;
    let (resp, mut send) = client
        .send_request(req, !with_body)
        .map_err(|e| format!("send: {e}"))?;
    if with_body {
        send.send_data(bytes::Bytes::from(p.body.clone()), true)
            .map_err(|e| format!("body: {e}"))?;
    }
    let resp = resp.await.map_err(|e| format!("response: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).to_string(),
            )
        })
        .collect();
    let mut body = resp.into_body();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| format!("body: {e}"))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    Ok((status, headers, data))
}

/// What a WebSocket upgrade got: the handshake classified (a 101 from the
/// echo is `Proxied`, with the upgrade request as the upstream saw it),
/// and whether a text frame went through and came back, then a close.
pub struct WsAnswer {
    pub outcome: Outcome,
    pub headers: Vec<(String, String)>,
    /// `Ok` when a frame relayed both ways; `Err` says where it stopped.
    pub relay: Result<(), String>,
}

/// The key every upgrade probe sends (RFC 6455 §1.3's example).
const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends `p` as a WebSocket upgrade over HTTP/1.1 (TLS when `p.tls`), and
/// on a 101 relays one text frame both ways and closes.
pub fn ask_ws(
    p: &Probe,
    ports: &BTreeMap<u16, u16>,
    apps_by_ip: &BTreeMap<Ipv4Addr, String>,
    tls: &Arc<rustls::ClientConfig>,
) -> WsAnswer {
    let failed = |why: String| WsAnswer {
        outcome: Outcome::Failed(why),
        headers: vec![],
        relay: Err("no handshake".into()),
    };
    let tcp = match oracle::connect_from(p.client, ports[&p.port]) {
        Ok(t) => t,
        Err(e) => return failed(format!("connect: {e}")),
    };
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut stream: Box<dyn ReadWrite> = if p.tls {
        let name = match rustls_pki_types::ServerName::try_from(p.host.clone()) {
            Ok(n) => n,
            Err(e) => return failed(format!("SNI {}: {e}", p.host)),
        };
        match rustls::ClientConnection::new(tls.clone(), name) {
            Ok(c) => Box::new(rustls::StreamOwned::new(c, tcp)),
            Err(e) => return failed(e.to_string()),
        }
    } else {
        Box::new(tcp)
    };
    let mut req = format!("GET {} HTTP/1.1\r\nHost: {}\r\n", p.target, p.host);
    for (n, v) in &p.headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ));
    if let Err(e) = stream.write_all(req.as_bytes()) {
        return failed(format!("write: {e}"));
    }
    // The head only: after a 101 the connection stays open.
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            Ok(_) if raw.is_empty() => return failed("closed without an answer".into()),
            Ok(_) => break,
            Err(e) => return failed(format!("read: {e}")),
        }
    }
    let head = String::from_utf8_lossy(&raw).to_string();
    let mut lines = head.lines();
    let Some(status) = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
    else {
        return failed(format!("bad status line in {head:?}"));
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let (outcome, up) = oracle::classify(status, &headers, &[], p, ports, apps_by_ip);
    let relay = if status == 101 {
        relay_frame(&mut *stream, &format!("oracle {p}"))
    } else {
        Err(format!("status {status}"))
    };
    WsAnswer {
        outcome,
        headers: up,
        relay,
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// One masked text frame out, the same text back, then a close both ways.
fn relay_frame(s: &mut dyn ReadWrite, text: &str) -> Result<(), String> {
    s.write_all(&client_frame(0x1, text.as_bytes()))
        .map_err(|e| format!("send frame: {e}"))?;
    let (op, payload) = read_server_frame(s)?;
    if op != 0x1 || payload != text.as_bytes() {
        return Err(format!(
            "sent text {text:?}, got opcode {op} {:?}",
            String::from_utf8_lossy(&payload)
        ));
    }
    s.write_all(&client_frame(0x8, &1000u16.to_be_bytes()))
        .map_err(|e| format!("send close: {e}"))?;
    match read_server_frame(s)? {
        (0x8, _) => Ok(()),
        (op, _) => Err(format!("after close, opcode {op}")),
    }
}

fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

fn read_server_frame(s: &mut dyn ReadWrite) -> Result<(u8, Vec<u8>), String> {
    let mut hdr = [0u8; 2];
    s.read_exact(&mut hdr)
        .map_err(|e| format!("read frame: {e}"))?;
    let len = match hdr[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).map_err(|e| e.to_string())?;
            u16::from_be_bytes(b) as usize
        }
        127 => return Err("64-bit frame length".into()),
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload)
        .map_err(|e| format!("read payload: {e}"))?;
    Ok((hdr[0] & 0x0f, payload))
}
