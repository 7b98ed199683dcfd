//! Waiting until DNS-01 TXT records are visible where the CA will look.
//!
//! This is the swap point for the shared checker in `dns/propagation.rs`:
//! orders call [`PropagationCheck::wait_visible`] and nothing else.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;

use super::AcmeError;

/// Decides when published TXT values can be handed to the CA.
#[async_trait::async_trait]
pub trait PropagationCheck: Send + Sync {
    /// Return once every one of `values` is visible at `fqdn`, or fail after
    /// `timeout`.
    async fn wait_visible(
        &self,
        fqdn: &str,
        values: &[String],
        timeout: Duration,
    ) -> Result<(), AcmeError>;
}

/// Actively queries name servers for the TXT values: the zone's
/// authoritative servers (found through the system resolver), or a fixed
/// list (tests, split-horizon setups).
#[derive(Debug, Clone)]
pub struct NameserverCheck {
    servers: Option<Vec<SocketAddr>>,
    interval: Duration,
}

impl NameserverCheck {
    /// Check the authoritative name servers of each record's zone.
    pub fn authoritative() -> Self {
        Self {
            servers: None,
            interval: Duration::from_secs(2),
        }
    }

    /// Check exactly these servers.
    pub fn with_servers(servers: Vec<SocketAddr>) -> Self {
        Self {
            servers: Some(servers),
            interval: Duration::from_millis(250),
        }
    }

    async fn servers_for(&self, fqdn: &str) -> Vec<SocketAddr> {
        if let Some(s) = &self.servers {
            return s.clone();
        }
        match authoritative_servers(fqdn).await {
            Ok(s) if !s.is_empty() => s,
            Ok(_) | Err(_) => {
                tracing::warn!(
                    fqdn,
                    "no authoritative name servers found; checking through the system resolver"
                );
                Vec::new()
            }
        }
    }
}

#[async_trait::async_trait]
impl PropagationCheck for NameserverCheck {
    async fn wait_visible(
        &self,
        fqdn: &str,
        values: &[String],
        timeout: Duration,
    ) -> Result<(), AcmeError> {
        let start = Instant::now();
        let servers = self.servers_for(fqdn).await;
        let mut last;
        loop {
            match visible_everywhere(fqdn, values, &servers).await {
                Ok(()) => {
                    tracing::info!(
                        fqdn,
                        values = values.len(),
                        waited_ms = start.elapsed().as_millis() as u64,
                        "TXT records visible"
                    );
                    return Ok(());
                }
                Err(m) => last = m,
            }
            if start.elapsed() >= timeout {
                return Err(AcmeError::Propagation {
                    fqdn: fqdn.to_owned(),
                    waited_secs: start.elapsed().as_secs(),
                    message: last,
                });
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}

async fn visible_everywhere(
    fqdn: &str,
    values: &[String],
    servers: &[SocketAddr],
) -> Result<(), String> {
    let targets: Vec<Option<SocketAddr>> = if servers.is_empty() {
        vec![None]
    } else {
        servers.iter().copied().map(Some).collect()
    };
    for server in targets {
        let seen = txt_values(fqdn, server).await?;
        let missing: Vec<&String> = values.iter().filter(|v| !seen.contains(v)).collect();
        if !missing.is_empty() {
            let at = server
                .map(|s| s.to_string())
                .unwrap_or_else(|| "system resolver".into());
            return Err(format!(
                "{at} shows {} of {} values",
                values.len() - missing.len(),
                values.len()
            ));
        }
    }
    Ok(())
}

fn resolver_for(server: Option<SocketAddr>) -> Result<TokioResolver, String> {
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.attempts = 1;
    opts.timeout = Duration::from_secs(3);
    let builder = match server {
        Some(addr) => {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().map_err(|e| format!("system resolver: {e}"))?,
    };
    builder
        .with_options(opts)
        .build()
        .map_err(|e| format!("resolver: {e}"))
}

async fn txt_values(fqdn: &str, server: Option<SocketAddr>) -> Result<Vec<String>, String> {
    let resolver = resolver_for(server)?;
    let name = format!("{}.", fqdn.trim_end_matches('.'));
    match resolver.txt_lookup(name).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                hickory_resolver::proto::rr::RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()),
        Err(e) if e.is_no_records_found() => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// The authoritative servers of the closest enclosing zone of `fqdn`.
async fn authoritative_servers(fqdn: &str) -> Result<Vec<SocketAddr>, String> {
    let resolver = resolver_for(None)?;
    let labels: Vec<&str> = fqdn.trim_end_matches('.').split('.').collect();
    for i in 1..labels.len().saturating_sub(1) {
        let zone = format!("{}.", labels[i..].join("."));
        let Ok(ns) = resolver.ns_lookup(zone.clone()).await else {
            continue;
        };
        let names: Vec<String> = ns
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                hickory_resolver::proto::rr::RData::NS(n) => Some(n.0.to_string()),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            continue;
        }
        let mut out = Vec::new();
        for n in names {
            if let Ok(ips) = resolver.lookup_ip(n).await {
                out.extend(ips.iter().map(|ip: IpAddr| SocketAddr::new(ip, 53)));
            }
        }
        return Ok(out);
    }
    Ok(Vec::new())
}
