//! `moat health`: for Docker's HEALTHCHECK. Asks the running instance's
//! metrics endpoint (`GET /health` on METRICS_ADDR), which answers 200 only
//! while the proxy's listeners are up, so a wedged or half-started moat is
//! reported unhealthy. With `METRICS_ADDR=off` it falls back to checking
//! that 127.0.0.1:HTTPS_PORT accepts connections.

use std::net::{SocketAddr, TcpStream};

use super::endpoint::{self, TIMEOUT};
use super::ConfigArg;
use crate::settings::Settings;

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
    let target = endpoint::target(addr);
    let (code, body) = endpoint::request(addr, "GET", "/health")?;
    let body = body.trim();
    if code == 200 {
        Ok(format!("{target}: {body}"))
    } else {
        Err(format!("{target}: {code}: {body}"))
    }
}

fn accepts(addr: SocketAddr) -> Result<String, String> {
    TcpStream::connect_timeout(&addr, TIMEOUT)
        .map(|_| format!("{addr} accepts connections"))
        .map_err(|e| format!("{addr}: {e}"))
}
