//! What can go wrong when the proxy starts or when a certificate is installed.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Start-up and certificate-store failures. Request-path failures are
/// Pingora errors mapped to a status in `status.rs`, never this type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// A listening socket could not be bound (port taken, no permission for a
    /// port below 1024). Fix: free the port or change `HTTP_PORT`/`HTTPS_PORT`
    /// or the conf's `listen`.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that failed.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A certificate or key file could not be read. Fix: check the path and
    /// its permissions.
    #[error("cannot read {path}: {source}")]
    ReadCert {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A certificate chain or key is not usable PEM, or the key type is not
    /// supported. Fix: replace the named certificate (`what`) with a valid PEM pair.
    #[error("certificate {what}: {message}")]
    BadCert {
        /// The lineage name or file the PEM came from.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// The proxy's worker runtime could not be created (moat or OS resource bug).
    #[error("cannot start the proxy runtime: {0}")]
    Runtime(std::io::Error),
}
