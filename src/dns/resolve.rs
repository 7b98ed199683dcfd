//! Name resolution for moat's HTTP API clients (the DNS providers' APIs,
//! ZeroSSL's EAB endpoint) through hickory instead of getaddrinfo.
//!
//! Why: the image is a static glibc binary `FROM scratch`. There, glibc's
//! getaddrinfo has no NSS modules to load and fails for every name, so
//! `alidns.aliyuncs.com` would never resolve in the container even though
//! it does on a developer's machine. hickory reads `/etc/resolv.conf`
//! (Docker's 127.0.0.11 on a user network) itself. The ACME client does
//! the same in `acme::http_client`.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;

/// A [`reqwest::dns::Resolve`] backed by hickory.
#[derive(Clone)]
pub struct HickoryDns(Arc<TokioResolver>);

impl std::fmt::Debug for HickoryDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HickoryDns")
    }
}

impl HickoryDns {
    /// The system's resolver configuration (`/etc/resolv.conf`); `None`
    /// when it cannot be read, in which case the caller keeps reqwest's own
    /// resolver.
    pub fn from_system() -> Option<Self> {
        match TokioResolver::builder_tokio().and_then(|b| b.build()) {
            Ok(resolver) => Some(HickoryDns(Arc::new(resolver))),
            Err(e) => {
                tracing::warn!(error = %e, "no resolver configuration for API clients; using the C library's");
                None
            }
        }
    }

    /// Asks exactly `servers` (tests, split-horizon setups).
    pub fn with_nameservers(servers: &[SocketAddr]) -> Result<Self, String> {
        TokioResolver::builder_with_config(servers_config(servers), TokioRuntimeProvider::default())
            .build()
            .map(|r| HickoryDns(Arc::new(r)))
            .map_err(|e| e.to_string())
    }
}

/// A resolver configuration that asks exactly `servers` (each `IP:port`,
/// over UDP and TCP): what `PROPAGATION_NAMESERVERS`, a conf's `resolver`
/// directive and the tests need instead of `/etc/resolv.conf`.
pub fn servers_config(servers: &[SocketAddr]) -> ResolverConfig {
    let name_servers = servers
        .iter()
        .map(|addr| {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for conn in &mut ns.connections {
                conn.port = addr.port();
            }
            ns
        })
        .collect();
    ResolverConfig::from_name_servers(name_servers)
}

impl reqwest::dns::Resolve for HickoryDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.0.clone();
        Box::pin(async move {
            let fqdn = format!("{}.", name.as_str().trim_end_matches('.'));
            let ips = resolver.lookup_ip(fqdn).await?;
            let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
