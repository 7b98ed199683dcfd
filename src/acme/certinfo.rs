//! What a PEM certificate says: its names, issuer and validity, and whether
//! a private key belongs to it. Pure: bytes in, data out.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The facts about a leaf certificate that renewal and `moat certs` need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// DNS names (SANs; the subject CN when there are none).
    pub names: Vec<String>,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// notBefore, seconds since the Unix epoch.
    pub not_before: i64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
    /// The leaf's DER, for revocation and ARI.
    pub der: Vec<u8>,
    /// The leaf's SubjectPublicKeyInfo DER, to match a key.
    pub spki: Vec<u8>,
}

impl CertInfo {
    /// Whether the certificate covers every name in `wanted` (exact match,
    /// wildcards compared literally as the CA issued them).
    pub fn covers(&self, wanted: &[String]) -> bool {
        wanted
            .iter()
            .all(|w| self.names.iter().any(|n| n.eq_ignore_ascii_case(w)))
    }
}

/// The PEM blocks labelled `CERTIFICATE` in `pem`, each re-encoded as PEM.
pub fn split_pem_certs(pem: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut inside = false;
    for line in pem.lines() {
        let line = line.trim_end();
        if line == "-----BEGIN CERTIFICATE-----" {
            inside = true;
            current.clear();
        }
        if inside {
            current.push_str(line);
            current.push('\n');
        }
        if line == "-----END CERTIFICATE-----" && inside {
            inside = false;
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

/// Parse the first certificate of a PEM chain.
pub fn parse_leaf(pem: &str) -> Result<CertInfo, String> {
    let first = split_pem_certs(pem)
        .into_iter()
        .next()
        .ok_or_else(|| "no CERTIFICATE block".to_owned())?;
    let (_, block) =
        x509_parser::pem::parse_x509_pem(first.as_bytes()).map_err(|e| format!("bad PEM: {e}"))?;
    parse_der(&block.contents)
}

/// Parse one DER certificate.
pub fn parse_der(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("bad certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Ok(s) = cn.as_str() {
                names.push(s.to_ascii_lowercase());
            }
        }
    }
    Ok(CertInfo {
        names,
        issuer: cert.issuer().to_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        der: der.to_vec(),
        spki: cert.public_key().raw.to_vec(),
    })
}

/// Whether `key_pem` (PKCS#8) is the private key of the certificate whose
/// SubjectPublicKeyInfo is `spki`.
pub fn key_matches(key_pem: &str, spki: &[u8]) -> bool {
    match rcgen::KeyPair::from_pem(key_pem) {
        Ok(kp) => rcgen::PublicKeyData::subject_public_key_info(&kp) == spki,
        Err(_) => false,
    }
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whole days from now until `not_after` (negative once expired).
pub fn days_left(not_after: i64) -> i64 {
    (not_after - now_unix()).div_euclid(86_400)
}
