//! `moat health`: for Docker's HEALTHCHECK. Asks the running instance's
//! metrics endpoint (`GET /health` on METRICS_ADDR), which answers 200 only
//! while the proxy's listeners are up, so a wedged or half-started moat is
//! reported unhealthy. With `METRICS_ADDR=off` it falls back to checking
//! that 127.0.0.1:HTTPS_PORT accepts connections.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::ConfigArg;
use crate::settings::Settings;

/// How long the whole check may take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Entry point; returns the exit code (0 healthy, 1 unhealthy).
pub fn run(_args: ConfigArg) -> anyhow::Result<i32> {
    let settings = Settings::from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    let verdict = match settings.metrics_addr {
        Some(addr) => ask_instance(addr),
        None => accepts(SocketAddr::from(([127, 0, 0, 1], settings.https_port))),
    };
    match verdict {
        Ok(line) => {
            println!("healthy: {line}");
            Ok(0)
        }
        Err(line) => {
            println!("unhealthy: {line}");
            Ok(1)
        }
    }
}

fn ask_instance(addr: SocketAddr) -> Result<String, String> {
    // The endpoint listens on a wildcard address when told to; ask over loopback then.
    let target = match addr.ip() {
        ip if ip.is_unspecified() && addr.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    };
    let mut stream = TcpStream::connect_timeout(&target, TIMEOUT)
        .map_err(|e| format!("metrics endpoint {target} (METRICS_ADDR): {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).ok();
    stream.set_write_timeout(Some(TIMEOUT)).ok();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("{target}: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("{target}: {e}"))?;
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_owned())
        .unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(format!("{target}: {body}"))
    } else {
        Err(format!("{target}: {status}: {body}"))
    }
}

fn accepts(addr: SocketAddr) -> Result<String, String> {
    TcpStream::connect_timeout(&addr, TIMEOUT)
        .map(|_| format!("{addr} accepts connections"))
        .map_err(|e| format!("{addr}: {e}"))
}
