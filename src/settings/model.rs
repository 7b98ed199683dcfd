//! The typed [`Settings`] and the one conversion that validates them.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use super::domain::{certificate_names, split_list, DomainName};
use super::error::{SettingsError, SettingsErrors};
use super::kinds::{CertProvider, KeyType, LogFormat, Validation};
use super::raw::{moat_normalise, swag_normalise, RawEnv};
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
/// Default time zone.
pub fn default_tz() -> String {
    "UTC".into()
}

/// Longest SHUTDOWN_GRACE accepted; Docker kills after 10 s by default, and
/// anything past an hour is a typo.
const MAX_SHUTDOWN_GRACE: Duration = Duration::from_secs(3600);

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
    /// PROPAGATION; `None` leaves it to the provider.
    pub propagation: Option<Duration>,
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
    /// Things worth logging at start that are not errors (ignored variables,
    /// values read leniently for SWAG compatibility).
    pub notes: Vec<String>,
}

impl Settings {
    /// Reads the process environment. The only place moat calls into it.
    pub fn from_env() -> Result<Self, SettingsErrors> {
        let vars = std::env::vars_os().map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        });
        Self::from_vars(vars)
    }

    /// CONFIG_DIR alone, for `moat check` when other variables are invalid.
    pub fn config_dir_from_env() -> PathBuf {
        let raw = RawEnv::from_vars(std::env::var_os(vars::CONFIG_DIR).map(|v| {
            (
                vars::CONFIG_DIR.to_string(),
                v.to_string_lossy().into_owned(),
            )
        }));
        let dir = moat_normalise(raw.config_dir.as_deref());
        if dir.is_empty() {
            default_config_dir()
        } else {
            PathBuf::from(dir)
        }
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

    /// `true` when an ACME certificate should be requested (URL is set).
    pub fn wants_acme(&self) -> bool {
        self.url.is_some()
    }
}

impl Default for Settings {
    /// Every variable unset: the documented defaults.
    fn default() -> Self {
        Settings::from_vars(std::iter::empty()).expect("the documented defaults are valid")
    }
}

/// Collects every problem instead of stopping at the first.
struct Checker {
    errors: Vec<SettingsError>,
    notes: Vec<String>,
}

impl Checker {
    fn invalid(
        &mut self,
        var: &'static str,
        value: &str,
        problem: impl Into<String>,
        allowed: impl Into<String>,
    ) {
        self.errors.push(SettingsError::Invalid {
            var,
            value: value.to_string(),
            problem: problem.into(),
            allowed: allowed.into(),
        });
    }

    /// SWAG's boolean: on only for exactly `true`. `false` and empty are off;
    /// anything else is off too (as in SWAG) but noted, never silent.
    fn swag_bool(&mut self, var: &'static str, raw: Option<&str>) -> bool {
        let value = swag_normalise(raw);
        match value.as_str() {
            "true" => true,
            "" | "false" => false,
            other => {
                self.notes.push(format!(
                    "{var}={other:?} is treated as false: only `true` turns it on (as in SWAG)"
                ));
                false
            }
        }
    }

    fn number<T: std::str::FromStr>(
        &mut self,
        var: &'static str,
        raw: Option<&str>,
        allowed: &str,
    ) -> Option<T> {
        let value = moat_normalise(raw);
        if value.is_empty() {
            return None;
        }
        match value.parse::<T>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.invalid(var, &value, "not a number in range", allowed);
                None
            }
        }
    }

    fn port(&mut self, var: &'static str, raw: Option<&str>, default: u16) -> u16 {
        match self.number::<u16>(var, raw, "a port number from 1 to 65535") {
            Some(0) => {
                self.invalid(
                    var,
                    "0",
                    "port 0 cannot be listened on",
                    "a port number from 1 to 65535",
                );
                default
            }
            Some(p) => p,
            None => default,
        }
    }

    fn domain_list(
        &mut self,
        var: &'static str,
        value: &str,
        f: impl Fn(&str) -> (String, bool),
    ) -> Vec<DomainName> {
        let mut out = Vec::new();
        for entry in split_list(value) {
            let (name, wildcard_ok) = f(entry);
            match DomainName::parse(&name, wildcard_ok) {
                Ok(d) => out.push(d),
                Err(why) => self.invalid(
                    var,
                    value,
                    format!("{name:?}: {why}"),
                    if wildcard_ok {
                        "comma-separated domain names, `*.` allowed as the first label"
                    } else {
                        "comma-separated labels (a-z, 0-9, '-') or the word `wildcard`"
                    },
                ),
            }
        }
        out
    }
}

impl TryFrom<RawEnv> for Settings {
    type Error = SettingsErrors;

    fn try_from(raw: RawEnv) -> Result<Self, Self::Error> {
        let mut c = Checker {
            errors: Vec::new(),
            notes: Vec::new(),
        };

        // URL and the names built from it.
        let url_text = swag_normalise(raw.url.as_deref());
        let url = if url_text.is_empty() {
            None
        } else {
            match DomainName::parse(&url_text, false) {
                Ok(d) => Some(d),
                Err(why) => {
                    c.invalid(
                        vars::URL,
                        &url_text,
                        why,
                        "a domain name such as example.com (use SUBDOMAINS=wildcard for *.)",
                    );
                    None
                }
            }
        };
        let only_subdomains = c.swag_bool(vars::ONLY_SUBDOMAINS, raw.only_subdomains.as_deref());
        let sub_text = swag_normalise(raw.subdomains.as_deref());
        let base = url
            .as_ref()
            .map(|u| u.as_str().to_string())
            .unwrap_or_else(|| "example.com".into());
        let has_wildcard = split_list(&sub_text).any(|s| s == "wildcard");
        let subdomains = c.domain_list(vars::SUBDOMAINS, &sub_text, |label| {
            if label == "wildcard" {
                (format!("*.{base}"), true)
            } else {
                (format!("{label}.{base}"), false)
            }
        });
        if has_wildcard {
            let covered: Vec<&str> = split_list(&sub_text)
                .filter(|s| *s != "wildcard" && !s.contains('.'))
                .collect();
            if !covered.is_empty() {
                c.invalid(
                    vars::SUBDOMAINS,
                    &sub_text,
                    format!(
                        "`wildcard` already covers {}; CAs refuse redundant names",
                        covered.join(", ")
                    ),
                    "either `wildcard` or a list of labels",
                );
            }
        }
        let extra_text = swag_normalise(raw.extra_domains.as_deref());
        let extra = c.domain_list(vars::EXTRA_DOMAINS, &extra_text, |n| (n.to_string(), true));
        let domains = match &url {
            Some(u) => certificate_names(u, &subdomains, only_subdomains, &extra),
            None => {
                if !sub_text.is_empty() || !extra_text.is_empty() {
                    c.notes.push(format!(
                        "{} and {} are ignored without {}",
                        vars::SUBDOMAINS,
                        vars::EXTRA_DOMAINS,
                        vars::URL
                    ));
                }
                Vec::new()
            }
        };
        if only_subdomains && sub_text.is_empty() && url.is_some() {
            c.notes.push(format!(
                "{}=true without {}: the certificate covers the apex only",
                vars::ONLY_SUBDOMAINS,
                vars::SUBDOMAINS
            ));
        }

        // Validation and DNS plugin.
        let validation_text = swag_normalise(raw.validation.as_deref());
        let plugin_text = swag_normalise(raw.dnsplugin.as_deref());
        let providers = crate::dns::PROVIDER_NAMES.join(", ");
        let validation = match validation_text.as_str() {
            "" | "http" => {
                if !plugin_text.is_empty() {
                    c.notes.push(format!(
                        "{}={plugin_text:?} is ignored with VALIDATION=http",
                        vars::DNSPLUGIN
                    ));
                }
                Validation::Http
            }
            "duckdns" => {
                if !plugin_text.is_empty() && plugin_text != "duckdns" {
                    c.notes.push(format!(
                        "VALIDATION=duckdns uses the duckdns plugin; {}={plugin_text:?} is ignored",
                        vars::DNSPLUGIN
                    ));
                }
                Validation::Dns("duckdns".into())
            }
            "dns" => {
                if plugin_text.is_empty() {
                    c.invalid(
                        vars::DNSPLUGIN,
                        "",
                        "VALIDATION=dns needs a DNS provider",
                        &providers,
                    );
                } else if !crate::dns::PROVIDER_NAMES.contains(&plugin_text.as_str()) {
                    c.invalid(
                        vars::DNSPLUGIN,
                        &plugin_text,
                        "unknown DNS provider",
                        &providers,
                    );
                }
                Validation::Dns(plugin_text.clone())
            }
            other => {
                c.invalid(
                    vars::VALIDATION,
                    other,
                    "unknown validation method",
                    "http, dns, duckdns",
                );
                Validation::Http
            }
        };

        let propagation = {
            let text = swag_normalise(raw.propagation.as_deref());
            if text.is_empty() {
                None
            } else {
                match text.parse::<u32>() {
                    Ok(s) => Some(Duration::from_secs(u64::from(s))),
                    Err(_) => {
                        c.invalid(
                            vars::PROPAGATION,
                            &text,
                            "not a whole number of seconds",
                            "a whole number of seconds, e.g. 60",
                        );
                        None
                    }
                }
            }
        };

        let email_text = swag_normalise(raw.email.as_deref());
        let email = email_text.contains('@').then(|| email_text.clone());
        if !email_text.is_empty() && email.is_none() {
            c.notes.push(format!(
                "{}={email_text:?} has no '@' and is not used (as in SWAG)",
                vars::EMAIL
            ));
        }
        let staging = c.swag_bool(vars::STAGING, raw.staging.as_deref());
        let provider_text = swag_normalise(raw.certprovider.as_deref());
        let cert_provider = match provider_text.as_str() {
            "" | "letsencrypt" => CertProvider::LetsEncrypt,
            "zerossl" => {
                if email.is_none() {
                    c.invalid(
                        vars::EMAIL,
                        &email_text,
                        "CERTPROVIDER=zerossl needs an e-mail address",
                        "an address containing '@'",
                    );
                }
                CertProvider::ZeroSsl
            }
            other => {
                c.invalid(
                    vars::CERTPROVIDER,
                    other,
                    "unknown certificate provider",
                    "letsencrypt, zerossl",
                );
                CertProvider::LetsEncrypt
            }
        };
        let profile_text = swag_normalise(raw.cert_profile.as_deref());
        let cert_profile = if profile_text.is_empty() {
            None
        } else if profile_text
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        {
            Some(profile_text)
        } else {
            c.invalid(
                vars::CERT_PROFILE,
                &profile_text,
                "not a profile name",
                "a name such as classic or shortlived",
            );
            None
        };
        let swag_autoreload = c.swag_bool(vars::SWAG_AUTORELOAD, raw.swag_autoreload.as_deref());

        let acme_server_text = moat_normalise(raw.acme_server.as_deref());
        let acme_directory = if acme_server_text.is_empty() {
            match (cert_provider, staging) {
                (CertProvider::ZeroSsl, _) => vars::ZEROSSL_DIRECTORY.to_string(),
                (CertProvider::LetsEncrypt, true) => {
                    vars::LETSENCRYPT_STAGING_DIRECTORY.to_string()
                }
                (CertProvider::LetsEncrypt, false) => vars::LETSENCRYPT_DIRECTORY.to_string(),
            }
        } else {
            match reqwest::Url::parse(&acme_server_text) {
                Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => {
                    acme_server_text.clone()
                }
                _ => {
                    c.invalid(
                        vars::ACME_SERVER,
                        &acme_server_text,
                        "not an http(s) URL",
                        "an ACME directory URL such as https://127.0.0.1:14000/dir",
                    );
                    String::new()
                }
            }
        };
        let root_text = moat_normalise(raw.acme_ca_root.as_deref());
        let acme_ca_root = (!root_text.is_empty()).then(|| PathBuf::from(&root_text));

        let puid = c
            .number(vars::PUID, raw.puid.as_deref(), "a numeric user id")
            .unwrap_or_else(default_owner_id);
        let pgid = c
            .number(vars::PGID, raw.pgid.as_deref(), "a numeric group id")
            .unwrap_or_else(default_owner_id);
        let tz_text = moat_normalise(raw.tz.as_deref());
        let tz = if tz_text.is_empty() {
            default_tz()
        } else {
            tz_text
        };

        let dir_text = moat_normalise(raw.config_dir.as_deref());
        let config_dir = if dir_text.is_empty() {
            default_config_dir()
        } else {
            PathBuf::from(dir_text)
        };
        let http_port = c.port(
            vars::HTTP_PORT,
            raw.http_port.as_deref(),
            default_http_port(),
        );
        let https_port = c.port(
            vars::HTTPS_PORT,
            raw.https_port.as_deref(),
            default_https_port(),
        );
        if http_port == https_port {
            c.invalid(
                vars::HTTPS_PORT,
                &https_port.to_string(),
                "same port as HTTP_PORT",
                "a port different from HTTP_PORT",
            );
        }

        let format_text = moat_normalise(raw.log_format.as_deref()).to_lowercase();
        let log_format = match format_text.as_str() {
            "" | "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                c.invalid(vars::LOG_FORMAT, other, "unknown log format", "text, json");
                LogFormat::Text
            }
        };
        let level_text = moat_normalise(raw.log_level.as_deref());
        let log_level = if level_text.is_empty() {
            default_log_level()
        } else {
            match tracing_subscriber::EnvFilter::builder().parse(&level_text) {
                Ok(_) => level_text,
                Err(e) => {
                    c.invalid(
                        vars::LOG_LEVEL,
                        &level_text,
                        format!("not a log filter: {e}"),
                        "error, warn, info, debug, trace, or a filter like moat=debug,pingora=warn",
                    );
                    default_log_level()
                }
            }
        };
        let grace_text = moat_normalise(raw.shutdown_grace.as_deref()).to_lowercase();
        let shutdown_grace = if grace_text.is_empty() {
            default_shutdown_grace()
        } else {
            match parse_duration(&grace_text) {
                Some(d) if d <= MAX_SHUTDOWN_GRACE => d,
                Some(_) => {
                    c.invalid(
                        vars::SHUTDOWN_GRACE,
                        &grace_text,
                        "longer than an hour",
                        "seconds (e.g. 5), or 5s, 500ms; at most 3600 s",
                    );
                    default_shutdown_grace()
                }
                None => {
                    c.invalid(
                        vars::SHUTDOWN_GRACE,
                        &grace_text,
                        "not a duration",
                        "seconds (e.g. 5), or 5s, 500ms",
                    );
                    default_shutdown_grace()
                }
            }
        };
        let workers = match c.number::<usize>(
            vars::WORKERS,
            raw.workers.as_deref(),
            "a number of threads from 1 to 1024",
        ) {
            Some(n) if (1..=1024).contains(&n) => NonZeroUsize::new(n),
            Some(n) => {
                c.invalid(
                    vars::WORKERS,
                    &n.to_string(),
                    "out of range",
                    "a number of threads from 1 to 1024",
                );
                None
            }
            None => None,
        };
        let key_text = moat_normalise(raw.key_type.as_deref()).to_lowercase();
        let key_type = if key_text.is_empty() {
            KeyType::EcdsaP256
        } else {
            KeyType::from_name(&key_text).unwrap_or_else(|| {
                c.invalid(
                    vars::KEY_TYPE,
                    &key_text,
                    "unknown key type",
                    KeyType::NAMES.join(", "),
                );
                KeyType::EcdsaP256
            })
        };
        let revoke_replaced = c.swag_bool(vars::REVOKE_REPLACED, raw.revoke_replaced.as_deref());

        if !c.errors.is_empty() {
            return Err(SettingsErrors(c.errors));
        }
        Ok(Settings {
            url,
            domains,
            only_subdomains,
            validation,
            propagation,
            email,
            staging,
            cert_provider,
            cert_profile,
            acme_directory,
            acme_ca_root,
            swag_autoreload,
            puid,
            pgid,
            tz,
            config_dir,
            http_port,
            https_port,
            log_format,
            log_level,
            shutdown_grace,
            workers,
            key_type,
            revoke_replaced,
            notes: c.notes,
        })
    }
}

/// `5` (seconds), `5s`, `500ms`.
fn parse_duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.trim().parse::<u64>().ok().map(Duration::from_millis);
    }
    let secs = text.strip_suffix('s').unwrap_or(text).trim();
    secs.parse::<u64>().ok().map(Duration::from_secs)
}
