//! Errors from DNS providers.

use std::path::PathBuf;

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
}

impl DnsError {
    /// Whether a retry may succeed; credential and permission errors are final.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            DnsError::Api {
                retryable: true,
                ..
            }
        )
    }
}
