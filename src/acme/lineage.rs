//! A certificate with its key, as stored and as served.

use std::path::PathBuf;

/// One certificate lineage (certbot's word): the names it covers, its PEM
/// chain and key, and where it lives under `/config`.
#[derive(Debug, Clone)]
pub struct CertLineage {
    /// Lineage name: the first domain without `*.` (`live/<name>/`).
    pub name: String,
    /// DNS names the certificate covers (SANs), wildcards as `*.example.com`.
    pub names: Vec<String>,
    /// Leaf first, then intermediates, PEM.
    pub fullchain_pem: String,
    /// The private key, PEM (PKCS#8 or SEC1/PKCS#1).
    pub key_pem: String,
    /// The leaf's notAfter, seconds since the Unix epoch.
    pub not_after: i64,
    /// The directory the files were read from or written to.
    pub dir: PathBuf,
}
