//! Waiting until DNS-01 TXT records are visible where the CA will look.
//!
//! Orders call [`PropagationCheck::wait_visible`] and nothing else; the
//! default [`NameserverCheck`] delegates to the shared checker in
//! `dns::propagation` (direct queries to the zone's authoritative servers).

use std::net::SocketAddr;
use std::time::Duration;

use crate::dns::propagation::{wait_for_txt, PropagationOptions};
use crate::dns::DnsError;

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
}

#[async_trait::async_trait]
impl PropagationCheck for NameserverCheck {
    async fn wait_visible(
        &self,
        fqdn: &str,
        values: &[String],
        timeout: Duration,
    ) -> Result<(), AcmeError> {
        let mut opts = PropagationOptions::with_timeout(timeout);
        // `timeout` (PROPAGATION or the provider's default) is the bound.
        opts.max_wait = timeout;
        opts.interval = self.interval;
        opts.query_timeout = opts
            .query_timeout
            .min(timeout.max(Duration::from_millis(500)));
        opts.nameservers = self.servers.clone();
        match wait_for_txt(fqdn, values, &opts).await {
            Ok(_) => Ok(()),
            Err(DnsError::Propagation {
                fqdn,
                missing,
                waited,
            }) => Err(AcmeError::Propagation {
                fqdn,
                waited_secs: waited.as_secs(),
                message: format!("missing {}", missing.join("; ")),
            }),
            Err(e) => Err(e.into()),
        }
    }
}
