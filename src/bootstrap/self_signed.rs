//! The certificate served before any ACME certificate exists: self-signed,
//! for `localhost` and the configured names, at `keys/cert.crt` +
//! `keys/cert.key` where ssl.conf points.

use std::path::Path;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use time::{Duration, OffsetDateTime};

use super::error::BootstrapError;
use super::files::{write_atomic, Ownership, PRIVATE_MODE, PUBLIC_MODE};

/// A certificate and key in PEM.
#[derive(Debug, Clone)]
pub struct PemPair {
    /// The certificate.
    pub cert_pem: String,
    /// The PKCS#8 private key.
    pub key_pem: String,
}

/// Builds a self-signed ECDSA P-256 certificate valid for ten years, for
/// `localhost` plus `names` (wildcards allowed).
pub fn generate(names: &[String]) -> Result<PemPair, BootstrapError> {
    let mut sans = vec!["localhost".to_string()];
    sans.extend(names.iter().filter(|n| *n != "localhost").cloned());
    let mut params =
        CertificateParams::new(sans).map_err(|e| BootstrapError::SelfSigned(e.to_string()))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "moat self-signed certificate");
    params.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    let key = KeyPair::generate().map_err(|e| BootstrapError::SelfSigned(e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| BootstrapError::SelfSigned(e.to_string()))?;
    Ok(PemPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Writes the pair: the key first (0600), then the certificate, each atomically.
pub fn write_pair(
    pair: &PemPair,
    cert_path: &Path,
    key_path: &Path,
    owner: Ownership,
) -> Result<(), BootstrapError> {
    write_atomic(key_path, pair.key_pem.as_bytes(), PRIVATE_MODE, owner)?;
    write_atomic(cert_path, pair.cert_pem.as_bytes(), PUBLIC_MODE, owner)
}

/// What the certificate in `keys/` covers, for the start-up log.
#[derive(Debug, Clone)]
pub struct CertificateSummary {
    /// Subject alternative DNS names.
    pub names: Vec<String>,
    /// `true` when issuer equals subject.
    pub self_signed: bool,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
}

/// Reads and parses the certificate at `cert_path` and checks a key is
/// beside it.
pub fn inspect(cert_path: &Path, key_path: &Path) -> Result<CertificateSummary, BootstrapError> {
    let pem = std::fs::read(cert_path).map_err(BootstrapError::io("read", cert_path))?;
    std::fs::metadata(key_path).map_err(BootstrapError::io("read", key_path))?;
    let bad = |message: String| BootstrapError::Certificate {
        path: cert_path.to_path_buf(),
        message,
    };
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(&pem).map_err(|e| bad(format!("not PEM: {e}")))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| bad(format!("not an X.509 certificate: {e}")))?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(CertificateSummary {
        names,
        self_signed: cert.issuer() == cert.subject(),
        not_after: cert.validity().not_after.timestamp(),
    })
}
