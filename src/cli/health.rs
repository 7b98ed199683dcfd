//! `moat health`: for Docker's HEALTHCHECK. Healthy when something accepts
//! TCP connections on 127.0.0.1:HTTPS_PORT within two seconds.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::ConfigArg;
use crate::settings::Settings;

/// Entry point; returns the exit code.
pub fn run(_args: ConfigArg) -> anyhow::Result<i32> {
    let settings = Settings::from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], settings.https_port));
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(_) => {
            println!("healthy: {addr} accepts connections");
            Ok(0)
        }
        Err(e) => {
            println!("unhealthy: {addr}: {e}");
            Ok(1)
        }
    }
}
