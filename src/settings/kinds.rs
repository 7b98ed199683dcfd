//! The small enums settings turn strings into.

use std::fmt;

/// How ACME proves control of the names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// HTTP-01, answered on HTTP_PORT.
    Http,
    /// DNS-01 through the named provider (one of `dns::PROVIDER_NAMES`).
    Dns(String),
}

/// Which CA issues the certificate when ACME_SERVER is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertProvider {
    /// Let's Encrypt (production, or staging with STAGING=true).
    LetsEncrypt,
    /// ZeroSSL; EAB credentials are fetched with EMAIL.
    ZeroSsl,
}

/// The key algorithm for new certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA, 2048 bits.
    Rsa2048,
    /// RSA, 4096 bits.
    Rsa4096,
    /// ECDSA on P-256 (the default).
    EcdsaP256,
    /// ECDSA on P-384.
    EcdsaP384,
}

impl KeyType {
    /// The accepted spellings, in the order the error message lists them.
    pub const NAMES: &'static [&'static str] = &["rsa2048", "rsa4096", "ecdsa256", "ecdsa384"];

    /// Parses one of [`KeyType::NAMES`].
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "rsa2048" => KeyType::Rsa2048,
            "rsa4096" => KeyType::Rsa4096,
            "ecdsa256" => KeyType::EcdsaP256,
            "ecdsa384" => KeyType::EcdsaP384,
            _ => return None,
        })
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Rsa2048 => "rsa2048",
            KeyType::Rsa4096 => "rsa4096",
            KeyType::EcdsaP256 => "ecdsa256",
            KeyType::EcdsaP384 => "ecdsa384",
        })
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where access log lines go (`ACCESS_LOG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessLogTargets {
    /// Standard output (what `docker logs` shows).
    pub stdout: bool,
    /// `/config/log/nginx/access.log`, where SWAG's nginx writes it.
    pub file: bool,
}

impl AccessLogTargets {
    /// Accepted values of `ACCESS_LOG`, for error messages.
    pub const NAMES: [&'static str; 4] = ["on", "file", "stdout", "off"];

    /// Parses a normalised `ACCESS_LOG` value.
    pub fn from_name(name: &str) -> Option<Self> {
        let (stdout, file) = match name {
            "on" | "true" => (true, true),
            "file" => (false, true),
            "stdout" => (true, false),
            "off" | "false" => (false, false),
            _ => return None,
        };
        Some(AccessLogTargets { stdout, file })
    }
}
