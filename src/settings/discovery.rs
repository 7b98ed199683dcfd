//! DOCKER_HOST and AUTO_PROXY_CERTS: where Docker discovery
//! (`crate::discovery`) reads containers, and whether the certificate
//! grows to cover the names it publishes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::checker::{parse_duration, Checker};
use super::raw::{moat_normalise, RawEnv};
use super::vars;

/// The Docker socket moat looks for when DOCKER_HOST is unset (the path
/// `-v /var/run/docker.sock:/var/run/docker.sock:ro` mounts).
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Where the Docker Engine API is, as DOCKER_HOST says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    /// Unset: [`DEFAULT_DOCKER_SOCKET`] when moat is PID 1 (its own
    /// container) and the socket is mounted, else off. A moat started on a
    /// host where Docker runs never reads the socket unless told to.
    Auto,
    /// `off`: discovery never runs.
    Off,
    /// `unix:///path`.
    Unix(PathBuf),
    /// `tcp://host:port` or `http://host:port` (a socket proxy); plain HTTP.
    Tcp(String),
}

impl DockerHost {
    /// What discovery connects to now: `None` when off, or when unset and
    /// moat is not PID 1 or no socket is mounted.
    pub fn resolve(&self) -> Option<DockerHost> {
        match self {
            DockerHost::Auto => (std::process::id() == 1
                && Path::new(DEFAULT_DOCKER_SOCKET).exists())
            .then(|| DockerHost::Unix(PathBuf::from(DEFAULT_DOCKER_SOCKET))),
            DockerHost::Off => None,
            other => Some(other.clone()),
        }
    }
}

impl std::fmt::Display for DockerHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DockerHost::Auto => write!(
                f,
                "unix://{DEFAULT_DOCKER_SOCKET} (when mounted and moat is PID 1)"
            ),
            DockerHost::Off => f.write_str("off"),
            DockerHost::Unix(path) => write!(f, "unix://{}", path.display()),
            DockerHost::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

pub(super) fn docker_host(c: &mut Checker, raw: &RawEnv) -> DockerHost {
    let text = moat_normalise(raw.docker_host.as_deref());
    if text.is_empty() {
        return DockerHost::Auto;
    }
    if text.eq_ignore_ascii_case("off") || text.eq_ignore_ascii_case("false") {
        return DockerHost::Off;
    }
    if let Some(path) = text.strip_prefix("unix://") {
        if path.starts_with('/') {
            return DockerHost::Unix(PathBuf::from(path));
        }
    }
    let tcp = text
        .strip_prefix("tcp://")
        .or_else(|| text.strip_prefix("http://"))
        .map(|rest| rest.trim_end_matches('/'));
    if let Some(addr) = tcp {
        let port_ok = addr.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if port_ok && !addr.contains(['/', ' ', '@']) {
            return DockerHost::Tcp(addr.to_owned());
        }
    }
    c.invalid(
        vars::DOCKER_HOST,
        &text,
        "not a Docker address moat can read",
        "unix:///var/run/docker.sock, tcp://socket-proxy:2375, or off",
    );
    DockerHost::Off
}

/// AUTO_PROXY_CERTS: names published from container labels join the
/// certificate, at most one order per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoProxyCerts {
    /// `AUTO_PROXY_CERTS=true`.
    pub on: bool,
    /// AUTO_PROXY_CERTS_INTERVAL: the least time between two orders made
    /// for new names (CAs limit orders per domain and week).
    pub interval: Duration,
}

/// AUTO_PROXY_CERTS_INTERVAL's default: an hour.
pub const DEFAULT_AUTO_PROXY_CERTS_INTERVAL: Duration = Duration::from_secs(3600);

pub(super) fn auto_proxy_certs(c: &mut Checker, raw: &RawEnv) -> AutoProxyCerts {
    let on = c.swag_bool(vars::AUTO_PROXY_CERTS, raw.auto_proxy_certs.as_deref());
    let text = moat_normalise(raw.auto_proxy_certs_interval.as_deref()).to_lowercase();
    let interval = if text.is_empty() {
        DEFAULT_AUTO_PROXY_CERTS_INTERVAL
    } else {
        parse_duration(&text).unwrap_or_else(|| {
            c.invalid(
                vars::AUTO_PROXY_CERTS_INTERVAL,
                &text,
                "not a duration",
                "seconds, or with an s or ms suffix: 3600, 600s",
            );
            DEFAULT_AUTO_PROXY_CERTS_INTERVAL
        })
    };
    AutoProxyCerts { on, interval }
}
