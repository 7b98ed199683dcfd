//! Errors from DNS providers.

use std::path::PathBuf;
use std::time::Duration;

/// Why a provider could not load its credentials or change a record.
///
/// Messages start with the provider name and never contain a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The credentials file is missing, unreadable, or a key is missing or a
    /// placeholder: fix the named file and restart.
    #[error("{provider}: {file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Credentials {
        /// Provider name.
        provider: &'static str,
        /// The ini file.
        file: PathBuf,
        /// The line, when the problem is on one.
        line: Option<u32>,
        /// What is wrong, naming the key (never its value).
        message: String,
    },
    /// The provider's API refused or failed the request.
    #[error("{provider}: {message}")]
    Api {
        /// Provider name.
        provider: &'static str,
        /// What went wrong and what the user can do.
        message: String,
        /// Whether trying again later may succeed (timeouts, 5xx).
        retryable: bool,
    },
    /// `DNSPLUGIN` names a provider moat does not have: pick one of the
    /// supported names or use HTTP validation.
    #[error("DNSPLUGIN={name} is not supported; supported providers: {}; for another DNS host use acmedns (a CNAME to an acme-dns server) or exec (a program of yours)", super::PROVIDER_NAMES.join(", "))]
    UnknownProvider {
        /// The name that was asked for.
        name: String,
    },
    /// The TXT values did not become visible on every authoritative server
    /// before the deadline: the provider accepted them but DNS did not serve
    /// them in time (raise PROPAGATION, or check the zone's delegation).
    #[error("propagation: {fqdn}: after {}s still missing on {}", waited.as_secs(), missing.join("; "))]
    Propagation {
        /// The record name.
        fqdn: String,
        /// `server: values not seen` for each server that lacked a value.
        missing: Vec<String>,
        /// How long the check waited.
        waited: Duration,
    },
    /// DNS lookups needed by the propagation check failed (no authoritative
    /// servers found, resolver unusable).
    #[error("propagation: {message}")]
    Lookup {
        /// What failed.
        message: String,
    },
}

impl DnsError {
    /// Whether a retry may succeed; credential and permission errors are final.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            DnsError::Api {
                retryable: true,
                ..
            } | DnsError::Propagation { .. }
                | DnsError::Lookup { .. }
        )
    }

    /// A final API error for `provider`.
    pub(crate) fn api(provider: &'static str, message: impl Into<String>) -> Self {
        DnsError::Api {
            provider,
            message: message.into(),
            retryable: false,
        }
    }

    /// An API error that may succeed when tried again (timeouts, 5xx).
    pub(crate) fn transient(provider: &'static str, message: impl Into<String>) -> Self {
        DnsError::Api {
            provider,
            message: message.into(),
            retryable: true,
        }
    }
}
