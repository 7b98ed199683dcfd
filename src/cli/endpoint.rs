//! Talking to the running instance's metrics endpoint (METRICS_ADDR), as
//! `moat health` and `moat bans` do: one HTTP/1.1 request over loopback
//! when the endpoint listens on a wildcard address, with a short timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a whole exchange may take.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The address to connect to for an endpoint listening on `addr`.
pub fn target(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() && addr.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    }
}

/// Sends `method path` to the endpoint on `addr`; the status code and the
/// body, or what went wrong in words naming the address.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> Result<(u16, String), String> {
    let target = target(addr);
    let mut stream = TcpStream::connect_timeout(&target, TIMEOUT)
        .map_err(|e| format!("metrics endpoint {target} (METRICS_ADDR): {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).ok();
    stream.set_write_timeout(Some(TIMEOUT)).ok();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|e| format!("{target}: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("{target}: {e}"))?;
    let status_line = answer.lines().next().unwrap_or_default();
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{target}: not an HTTP answer: {status_line:?}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}
