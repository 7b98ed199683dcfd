//! The typed [`Settings`] and the one conversion that validates them.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use super::domain::DomainName;
use super::error::SettingsErrors;
use super::kinds::{AccessLogTargets, CertProvider, KeyType, LogFormat, Validation};
use super::raw::{moat_normalise, RawEnv};
use super::vars;

/// Default owner uid/gid of files under /config (SWAG's `abc` user).
pub fn default_owner_id() -> u32 {
    911
}
/// Default configuration volume.
pub fn default_config_dir() -> PathBuf {
    PathBuf::from("/config")
}
/// Default plain-HTTP port.
pub fn default_http_port() -> u16 {
    80
}
/// Default HTTPS port.
pub fn default_https_port() -> u16 {
    443
}
/// Default log filter.
pub fn default_log_level() -> String {
    "info".into()
}
/// Default time allowed for in-flight requests after SIGTERM.
pub fn default_shutdown_grace() -> Duration {
    Duration::from_secs(5)
}
/// Default metrics endpoint: loopback only, the port nginx's Prometheus
/// exporter uses (nothing else runs in moat's container to clash with it).
pub fn default_metrics_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9113))
}
/// Default time zone.
pub fn default_tz() -> String {
    "UTC".into()
}

/// Longest SHUTDOWN_GRACE accepted; Docker kills after 10 s by default, and
/// anything past an hour is a typo.
pub(super) const MAX_SHUTDOWN_GRACE: Duration = Duration::from_secs(3600);

/// Everything moat takes from the environment, read once at start, typed and
/// checked. Nothing outside `settings` reads the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// URL: the apex domain; `None` means no ACME, a self-signed certificate.
    pub url: Option<DomainName>,
    /// The certificate's names in SWAG's order; empty without URL.
    pub domains: Vec<DomainName>,
    /// ONLY_SUBDOMAINS.
    pub only_subdomains: bool,
    /// VALIDATION (+ DNSPLUGIN).
    pub validation: Validation,
    /// DUCKDNSTOKEN, only kept with `VALIDATION=duckdns` (never logged).
    pub duckdns_token: Option<crate::dns::Secret>,
    /// PROPAGATION; `None` leaves it to the provider.
    pub propagation: Option<Duration>,
    /// PROPAGATION_NAMESERVERS: where DNS-01 TXT records are checked;
    /// empty means the zone's authoritative servers.
    pub propagation_nameservers: Vec<SocketAddr>,
    /// EMAIL, only when it contains `@`.
    pub email: Option<String>,
    /// STAGING.
    pub staging: bool,
    /// CERTPROVIDER.
    pub cert_provider: CertProvider,
    /// CERT_PROFILE.
    pub cert_profile: Option<String>,
    /// The ACME directory to use: ACME_SERVER, else derived from
    /// CERTPROVIDER and STAGING.
    pub acme_directory: String,
    /// ACME_CA_ROOT.
    pub acme_ca_root: Option<PathBuf>,
    /// SWAG_AUTORELOAD (accepted; moat always reloads).
    pub swag_autoreload: bool,
    /// DISABLE_F2B: no in-process fail2ban jails.
    pub disable_f2b: bool,
    /// `true` when PUID or PGID was set. Outside a container (moat not
    /// PID 1) files are chowned only then: SWAG's 911 default belongs to
    /// its image, not to a folder a user runs the demo on as root.
    pub owner_ids_given: bool,
    /// PUID.
    pub puid: u32,
    /// PGID.
    pub pgid: u32,
    /// TZ.
    pub tz: String,
    /// CONFIG_DIR.
    pub config_dir: PathBuf,
    /// HTTP_PORT.
    pub http_port: u16,
    /// HTTPS_PORT.
    pub https_port: u16,
    /// LOG_FORMAT.
    pub log_format: LogFormat,
    /// LOG_LEVEL, a valid tracing filter.
    pub log_level: String,
    /// SHUTDOWN_GRACE.
    pub shutdown_grace: Duration,
    /// WORKERS; `None` means one per CPU.
    pub workers: Option<NonZeroUsize>,
    /// KEY_TYPE.
    pub key_type: KeyType,
    /// REVOKE_REPLACED.
    pub revoke_replaced: bool,
    /// METRICS_ADDR; `None` when `off`.
    pub metrics_addr: Option<SocketAddr>,
    /// ACCESS_LOG.
    pub access_log: AccessLogTargets,
    /// STATUS_PAGE_AUTH: the htpasswd file guarding the status page.
    pub status_page_auth: Option<std::path::PathBuf>,
    /// DOCKER_HOST: where Docker discovery reads labelled containers.
    pub docker_host: super::discovery::DockerHost,
    /// AUTO_PROXY_CERTS and AUTO_PROXY_CERTS_INTERVAL.
    pub auto_proxy_certs: super::discovery::AutoProxyCerts,
    /// SWAG's own variables as SWAG records them in `.donoteditthisfile.conf`
    /// (normalised text, in SWAG's order); a change means a new certificate.
    pub swag_values: Vec<(&'static str, String)>,
    /// Things worth logging at start that are not errors (ignored variables,
    /// values read leniently for SWAG compatibility).
    pub notes: Vec<String>,
}

impl Settings {
    /// Reads the process environment. The only place moat calls into it,
    /// and the only place this module reads files: `FILE__NAME` secrets
    /// (see [`super::secret_files`]).
    pub fn from_env() -> Result<Self, SettingsErrors> {
        let vars = super::secret_files::resolve(process_env(), |p| std::fs::read_to_string(p))
            .map_err(SettingsErrors)?;
        Self::from_vars(vars)
    }

    /// One variable outside [`Settings`] (a CLI knob such as `moat renew`'s
    /// `RENEW_BEFORE`), read as [`Settings::from_env`] reads every variable:
    /// `FILE__NAME` wins over `NAME`, and a secret file that cannot be read
    /// is an error naming it. `None` when unset or empty.
    pub fn var_from_env(name: &str) -> Result<Option<String>, SettingsErrors> {
        let value =
            super::secret_files::lookup(process_env(), |p| std::fs::read_to_string(p), name)
                .map_err(SettingsErrors)?;
        Ok(value.filter(|v| !v.is_empty()))
    }

    /// CONFIG_DIR alone (or `FILE__CONFIG_DIR`), for the CLI when other
    /// variables are invalid or not needed.
    pub fn config_dir_from_env() -> Result<PathBuf, SettingsErrors> {
        let raw = RawEnv::from_vars(
            Self::var_from_env(vars::CONFIG_DIR)?.map(|v| (vars::CONFIG_DIR.to_string(), v)),
        );
        let dir = moat_normalise(raw.config_dir.as_deref());
        Ok(if dir.is_empty() {
            default_config_dir()
        } else {
            PathBuf::from(dir)
        })
    }

    /// The pure core: settings from `(name, value)` pairs.
    pub fn from_vars<I>(vars: I) -> Result<Self, SettingsErrors>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        Settings::try_from(RawEnv::from_vars(vars))
    }

    /// The lineage name: the first certificate name without `*.`
    /// (`etc/letsencrypt/live/<name>`). `None` without URL.
    pub fn lineage_name(&self) -> Option<&str> {
        self.domains.first().map(DomainName::without_wildcard)
    }

    /// `ORIG<NAME>` → value pairs for `.donoteditthisfile.conf`.
    pub fn swag_params(&self) -> Vec<(String, String)> {
        self.swag_values
            .iter()
            .map(|(k, v)| (format!("ORIG{k}"), v.clone()))
            .collect()
    }

    /// The zone `TZ` names; UTC when it names none (noted at start).
    pub fn local_zone(&self) -> crate::clock::LocalZone {
        crate::clock::LocalZone::from_tz(&self.tz)
            .unwrap_or_else(|_| crate::clock::LocalZone::utc())
    }

    /// `true` when an ACME certificate should be requested (URL is set).
    pub fn wants_acme(&self) -> bool {
        self.url.is_some()
    }
}

/// The process environment as text pairs (a name or value that is not
/// UTF-8 is read lossily, as everywhere in moat).
fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().map(|(k, v)| {
        (
            k.to_string_lossy().into_owned(),
            v.to_string_lossy().into_owned(),
        )
    })
}

impl Default for Settings {
    /// Every variable unset: the documented defaults.
    fn default() -> Self {
        Settings::from_vars(std::iter::empty()).expect("the documented defaults are valid")
    }
}
