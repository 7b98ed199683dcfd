//! Why /config could not be prepared.

use std::path::PathBuf;

/// A step of the bootstrap failed. Every variant names the path involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// A file or directory could not be created, written, renamed or
    /// chowned. Fix: make the volume writable by moat (or run as root).
    #[error("{action} {path}: {source}")]
    Io {
        /// What moat was doing ("create directory", "write", ...).
        action: &'static str,
        /// The path it was doing it to.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The certificate at `keys/cert.crt` (or its key) is not usable PEM.
    /// Fix: delete both `keys/cert.crt` and `keys/cert.key`; moat writes a
    /// new self-signed pair at the next start.
    #[error("{path}: {message}")]
    Certificate {
        /// The file that could not be used.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// rcgen refused to build the self-signed certificate (a moat bug or a
    /// name rcgen cannot encode).
    #[error("self-signed certificate: {0}")]
    SelfSigned(String),
}

impl BootstrapError {
    /// Builds the [`BootstrapError::Io`] variant; for `map_err`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| BootstrapError::Io {
            action,
            path,
            source,
        }
    }
}
