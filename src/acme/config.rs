//! `AcmeConfig`: everything `acme` needs, built by the supervisor from
//! `Settings` (or by `moat renew` standalone from the environment).

use std::path::PathBuf;
use std::time::Duration;

use super::AcmeError;

/// Let's Encrypt's production directory.
pub const LE_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (`STAGING=true`).
pub const LE_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// ZeroSSL's directory (`CERTPROVIDER=zerossl`).
pub const ZEROSSL: &str = "https://acme.zerossl.com/v2/DV90";

/// Which ACME server to use and how to trust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directory {
    /// Let's Encrypt production.
    LetsEncrypt,
    /// Let's Encrypt staging (`STAGING=true`).
    LetsEncryptStaging,
    /// ZeroSSL; EAB credentials are fetched for `EMAIL`.
    ZeroSsl,
    /// Any directory (`ACME_SERVER`), optionally trusting only `ACME_CA_ROOT`.
    Custom {
        /// The directory URL.
        url: String,
        /// A PEM root to trust instead of the system roots.
        ca_root: Option<PathBuf>,
    },
}

impl Directory {
    /// The directory URL.
    pub fn url(&self) -> &str {
        match self {
            Directory::LetsEncrypt => LE_PRODUCTION,
            Directory::LetsEncryptStaging => LE_STAGING,
            Directory::ZeroSsl => ZEROSSL,
            Directory::Custom { url, .. } => url,
        }
    }

    /// The root to trust instead of the platform's, when one is configured.
    pub fn ca_root(&self) -> Option<&PathBuf> {
        match self {
            Directory::Custom { ca_root, .. } => ca_root.as_ref(),
            _ => None,
        }
    }
}

/// The certificate key algorithm (`KEY_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// ECDSA P-256 (default).
    #[default]
    Ecdsa256,
    /// ECDSA P-384.
    Ecdsa384,
    /// RSA 2048 bits.
    Rsa2048,
    /// RSA 4096 bits.
    Rsa4096,
}

impl KeyType {
    /// Parse `KEY_TYPE` (`ecdsa256`, `ecdsa384`, `rsa2048`, `rsa4096`;
    /// certbot's `ecdsa` and `rsa` are accepted too).
    pub fn parse(s: &str) -> Result<Self, AcmeError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "ecdsa" | "ecdsa256" | "ec256" | "p256" => Ok(KeyType::Ecdsa256),
            "ecdsa384" | "ec384" | "p384" => Ok(KeyType::Ecdsa384),
            "rsa" | "rsa2048" => Ok(KeyType::Rsa2048),
            "rsa4096" => Ok(KeyType::Rsa4096),
            other => Err(AcmeError::Config {
                setting: "KEY_TYPE",
                message: format!("`{other}` is not one of ecdsa256, ecdsa384, rsa2048, rsa4096"),
            }),
        }
    }

    /// The name certbot writes as `key_type` in `renewal/<name>.conf`.
    pub fn certbot_name(self) -> &'static str {
        match self {
            KeyType::Ecdsa256 | KeyType::Ecdsa384 => "ecdsa",
            KeyType::Rsa2048 | KeyType::Rsa4096 => "rsa",
        }
    }

    /// The canonical `KEY_TYPE` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ecdsa256 => "ecdsa256",
            KeyType::Ecdsa384 => "ecdsa384",
            KeyType::Rsa2048 => "rsa2048",
            KeyType::Rsa4096 => "rsa4096",
        }
    }
}

/// When a certificate is due for renewal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RenewThreshold {
    /// Renew when this fraction of the lifetime remains (default 1/3:
    /// 30 days of a 90-day certificate, 2 days of a 6-day one).
    RemainingFraction(f64),
    /// Renew when less than this remains (`RENEW_BEFORE`, for tests).
    Before(Duration),
}

impl Default for RenewThreshold {
    fn default() -> Self {
        RenewThreshold::RemainingFraction(1.0 / 3.0)
    }
}

/// External Account Binding credentials given directly (ZeroSSL, Google).
#[derive(Clone, PartialEq, Eq)]
pub struct Eab {
    /// The key id.
    pub kid: String,
    /// The HMAC key, base64url as the CA shows it.
    pub hmac_key_b64: String,
}

impl std::fmt::Debug for Eab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Eab {{ kid: {:?}, hmac_key_b64: *** }}", self.kid)
    }
}

/// Everything `acme` needs for one certificate lineage. The supervisor
/// builds it from `Settings`; nothing in `acme` reads the environment.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// The `/config` directory.
    pub config_dir: PathBuf,
    /// The names for the one certificate, apex first (SWAG's order).
    pub domains: Vec<String>,
    /// Lineage name (`live/<name>`): the first domain without `*.`.
    pub lineage: String,
    /// The ACME server.
    pub directory: Directory,
    /// Contact address (`EMAIL`, only when it contains `@`).
    pub email: Option<String>,
    /// EAB credentials given explicitly; ZeroSSL fetches them for `email`.
    pub eab: Option<Eab>,
    /// Certificate key algorithm.
    pub key_type: KeyType,
    /// ACME profile (`CERT_PROFILE`), used when the server offers it.
    pub profile: Option<String>,
    /// When to renew.
    pub renew_threshold: RenewThreshold,
    /// Upper bound for TXT propagation (`PROPAGATION`, else provider default).
    pub propagation_timeout: Option<Duration>,
    /// How long to wait for the CA to validate and issue (instant-acme's
    /// retry timeout; raised for DNS-01).
    pub order_timeout: Duration,
    /// Interval between scheduled checks (12 h; jitter is added).
    pub check_interval: Duration,
    /// First retry delay after a failure; doubled up to `retry_max`.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Revoke the replaced certificate after a parameter change
    /// (`REVOKE_REPLACED=true`), only once the new one is installed.
    pub revoke_replaced: bool,
    /// Name servers used to find the ACME server (default: the system's
    /// `/etc/resolv.conf`); lookups go through hickory, never getaddrinfo.
    pub dns_servers: Option<Vec<std::net::SocketAddr>>,
    /// SWAG parameters recorded in `.donoteditthisfile.conf`
    /// (`ORIGURL` → value, ...); a change means a new certificate.
    pub swag_params: Vec<(String, String)>,
}

impl AcmeConfig {
    /// A configuration with moat's defaults for `domains` under `config_dir`.
    /// The lineage is the first domain without `*.`.
    pub fn new(
        config_dir: impl Into<PathBuf>,
        domains: Vec<String>,
        directory: Directory,
    ) -> Result<Self, AcmeError> {
        let domains: Vec<String> = domains
            .into_iter()
            .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        let Some(first) = domains.first() else {
            return Err(AcmeError::Config {
                setting: "URL",
                message: "no domain names to put in the certificate".into(),
            });
        };
        let lineage = lineage_name(first);
        Ok(AcmeConfig {
            config_dir: config_dir.into(),
            lineage,
            domains,
            directory,
            email: None,
            eab: None,
            key_type: KeyType::default(),
            profile: None,
            renew_threshold: RenewThreshold::default(),
            propagation_timeout: None,
            order_timeout: Duration::from_secs(120),
            check_interval: Duration::from_secs(12 * 3600),
            retry_base: Duration::from_secs(5 * 60),
            retry_max: Duration::from_secs(12 * 3600),
            revoke_replaced: false,
            dns_servers: None,
            swag_params: Vec::new(),
        })
    }
}

/// certbot's lineage name for a first domain: without a leading `*.`.
pub fn lineage_name(first_domain: &str) -> String {
    first_domain.trim_start_matches("*.").to_owned()
}
