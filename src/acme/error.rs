//! Errors from ACME issuance, renewal and certificate storage.

use std::path::PathBuf;

/// Why a certificate could not be obtained, stored or loaded.
///
/// Each variant's message names the file, server or record involved and the
/// most likely cause, so `moat certs` and the log tell the user what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// Reading or writing a file under `/config` failed: check permissions
    /// and free space on the volume.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A stored PEM, JSON or conf file could not be understood: fix or remove
    /// the named file.
    #[error("{path}: {message}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The configuration handed to `acme` is unusable (no domains, unknown
    /// key type, ...): fix the named setting.
    #[error("{setting}: {message}")]
    Config {
        /// The environment variable or setting.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The ACME server refused or failed a request.
    #[error("ACME server {directory}: {message}")]
    Server {
        /// The directory URL.
        directory: String,
        /// The server's problem document or the transport error, with a hint.
        message: String,
        /// Whether trying later may succeed (rate limits, 5xx, timeouts).
        retryable: bool,
    },
    /// A challenge failed validation: the CA could not reach port 80 or did
    /// not see the TXT record.
    #[error("validation of {identifier} failed: {message}")]
    Validation {
        /// The domain name.
        identifier: String,
        /// The CA's explanation with the likely cause.
        message: String,
    },
    /// The DNS provider failed to publish or remove a record.
    #[error(transparent)]
    Dns(#[from] crate::dns::DnsError),
    /// The TXT records did not become visible at the authoritative name
    /// servers in time: raise `PROPAGATION` or check the provider's zone.
    #[error("TXT records at {fqdn} not visible after {waited_secs} s: {message}")]
    Propagation {
        /// The `_acme-challenge` name.
        fqdn: String,
        /// How long moat waited.
        waited_secs: u64,
        /// What the name servers answered.
        message: String,
    },
    /// The ZeroSSL EAB credentials could not be fetched for `EMAIL`.
    #[error("ZeroSSL EAB for EMAIL: {0}")]
    ZeroSslEab(String),
    /// Another moat process holds the order lock for this `/config`: wait
    /// for it to finish (retried automatically).
    #[error("{0}")]
    Busy(String),
    /// The operation was cancelled by shutdown.
    #[error("cancelled by shutdown")]
    Cancelled,
    /// moat has a bug: an invariant did not hold.
    #[error("internal error (a moat bug): {0}")]
    Internal(String),
}

impl AcmeError {
    /// Whether a retry may succeed: transport errors, rate limits, 5xx,
    /// validation and propagation failures are retried with backoff; bad
    /// configuration and DNS credential errors are not worth hammering.
    pub fn retryable(&self) -> bool {
        match self {
            AcmeError::Server { retryable, .. } => *retryable,
            AcmeError::Dns(e) => e.retryable(),
            AcmeError::Config { .. } | AcmeError::BadFile { .. } | AcmeError::Cancelled => false,
            _ => true,
        }
    }

    /// A short phrase naming the most likely cause, for logs and `moat certs`.
    pub fn likely_cause(&self) -> &'static str {
        match self {
            AcmeError::Server { message, .. } if message.contains("rateLimited") => {
                "rate limited by the CA: moat backs off; wait or use STAGING=true"
            }
            AcmeError::Server { message, .. }
                if message.contains("connection") || message.contains("HTTP request") =>
            {
                "the ACME server is unreachable: check outbound network and ACME_SERVER"
            }
            AcmeError::Validation { message, .. }
                if message.contains("dns") || message.contains("TXT") =>
            {
                "the CA did not see the TXT record: check the DNS provider credentials and PROPAGATION"
            }
            AcmeError::Validation { .. } => {
                "the CA could not fetch the HTTP-01 answer: is port 80 reachable from the internet and does DNS point here?"
            }
            AcmeError::Dns(crate::dns::DnsError::Credentials { .. }) => {
                "the DNS provider's credentials are unusable: fix the named file in dns-conf/"
            }
            AcmeError::Dns(crate::dns::DnsError::Lookup { .. })
            | AcmeError::Dns(crate::dns::DnsError::Propagation { .. }) => {
                "the zone's name servers could not be asked: check the zone's NS records, or set PROPAGATION_NAMESERVERS"
            }
            AcmeError::Dns(_) => "the DNS provider refused the change: see the message, and the credentials in dns-conf/",
            AcmeError::Propagation { .. } => {
                "TXT records not visible at the authoritative servers: raise PROPAGATION or check the zone"
            }
            AcmeError::Io { .. } => "cannot write under /config: check permissions (PUID/PGID) and disk space",
            AcmeError::Config { .. } | AcmeError::BadFile { .. } => "fix the named setting or file",
            _ => "see the message",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AcmeError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad_file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        AcmeError::BadFile {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Wrap an instant-acme error from `directory`, deciding whether it is
    /// worth retrying.
    pub(crate) fn server(directory: &str, e: instant_acme::Error) -> Self {
        let retryable = match &e {
            instant_acme::Error::Api(p) => {
                let t = p.r#type.as_deref().unwrap_or("");
                !(t.ends_with(":unauthorized")
                    || t.ends_with(":caa")
                    || t.ends_with(":rejectedIdentifier")
                    || t.ends_with(":malformed"))
            }
            instant_acme::Error::Crypto | instant_acme::Error::KeyRejected => false,
            _ => true,
        };
        AcmeError::Server {
            directory: directory.to_owned(),
            message: e.to_string(),
            retryable,
        }
    }
}
