//! One DNS exchange with one server: UDP first, TCP when the answer is
//! truncated (or TCP only). Used by the RFC 2136 provider and the
//! propagation check, which talk to specific servers, not a resolver.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Sends `request` (already encoded, id `id`) to `server` and returns the
/// decoded answer; the error text is for the caller to wrap.
pub(crate) async fn exchange(
    server: SocketAddr,
    request: &[u8],
    id: u16,
    timeout: Duration,
    tcp_only: bool,
) -> Result<Message, String> {
    exchange_raw(server, request, id, timeout, tcp_only)
        .await
        .map(|(m, _)| m)
}

/// Like [`exchange`], also returning the answer's bytes (to check its TSIG).
pub(crate) async fn exchange_raw(
    server: SocketAddr,
    request: &[u8],
    id: u16,
    timeout: Duration,
    tcp_only: bool,
) -> Result<(Message, Vec<u8>), String> {
    if !tcp_only {
        match tokio::time::timeout(timeout, udp(server, request, id)).await {
            Ok(Ok((m, raw))) if !m.metadata.truncation => return Ok((m, raw)),
            Ok(Ok(_)) => {} // truncated: ask again over TCP
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(format!("{server}: no answer over UDP within {timeout:?}")),
        }
    }
    match tokio::time::timeout(timeout, tcp(server, request, id)).await {
        Ok(r) => r,
        Err(_) => Err(format!("{server}: no answer over TCP within {timeout:?}")),
    }
}

async fn udp(server: SocketAddr, request: &[u8], id: u16) -> Result<(Message, Vec<u8>), String> {
    let local: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("a literal address")
    } else {
        "[::]:0".parse().expect("a literal address")
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("UDP socket: {e}"))?;
    socket
        .connect(server)
        .await
        .map_err(|e| format!("{server}: {e}"))?;
    socket
        .send(request)
        .await
        .map_err(|e| format!("{server}: sending over UDP: {e}"))?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| format!("{server}: receiving over UDP: {e}"))?;
        match Message::from_vec(&buf[..n]) {
            Ok(m) if m.metadata.id == id => return Ok((m, buf[..n].to_vec())),
            _ => continue, // a stray or late datagram: keep waiting
        }
    }
}

async fn tcp(server: SocketAddr, request: &[u8], id: u16) -> Result<(Message, Vec<u8>), String> {
    let mut stream = TcpStream::connect(server)
        .await
        .map_err(|e| format!("{server}: TCP connect: {e}"))?;
    let len = u16::try_from(request.len()).map_err(|_| "request too large".to_owned())?;
    let mut framed = Vec::with_capacity(request.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(request);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| format!("{server}: sending over TCP: {e}"))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| format!("{server}: reading over TCP: {e}"))?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|e| format!("{server}: reading over TCP: {e}"))?;
    let m = Message::from_vec(&buf).map_err(|e| format!("{server}: malformed answer: {e}"))?;
    if m.metadata.id != id {
        return Err(format!("{server}: answer with a different id"));
    }
    Ok((m, buf))
}
