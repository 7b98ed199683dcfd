//! The environment as envy reads it: every variable an optional string, so
//! that parsing (and its error messages) stays ours.

use serde::Deserialize;

/// One field per name in [`super::vars`] (envy matches names
/// case-insensitively). Values are untouched; normalisation happens in
/// `TryFrom<RawEnv> for Settings`.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct RawEnv {
    pub url: Option<String>,
    pub subdomains: Option<String>,
    pub extra_domains: Option<String>,
    pub only_subdomains: Option<String>,
    pub validation: Option<String>,
    pub dnsplugin: Option<String>,
    pub duckdnstoken: Option<String>,
    pub propagation: Option<String>,
    pub propagation_nameservers: Option<String>,
    pub email: Option<String>,
    pub staging: Option<String>,
    pub certprovider: Option<String>,
    pub cert_profile: Option<String>,
    pub swag_autoreload: Option<String>,
    pub puid: Option<String>,
    pub pgid: Option<String>,
    pub tz: Option<String>,
    pub disable_f2b: Option<String>,
    pub docker_mods: Option<String>,
    pub acme_server: Option<String>,
    pub acme_ca_root: Option<String>,
    pub config_dir: Option<String>,
    pub http_port: Option<String>,
    pub https_port: Option<String>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub shutdown_grace: Option<String>,
    pub workers: Option<String>,
    pub key_type: Option<String>,
    pub revoke_replaced: Option<String>,
    pub metrics_addr: Option<String>,
    pub access_log: Option<String>,
    pub status_page_auth: Option<String>,
    pub docker_host: Option<String>,
    pub auto_proxy_certs: Option<String>,
    pub auto_proxy_certs_interval: Option<String>,
}

impl RawEnv {
    /// Reads the variables out of `(name, value)` pairs; other names are ignored.
    pub fn from_vars<I>(vars: I) -> Self
    where
        I: IntoIterator<Item = (String, String)>,
    {
        // Every field is an optional string, so deserialising cannot fail.
        envy::from_iter(vars).expect("RawEnv has only Option<String> fields")
    }
}

impl RawEnv {
    /// The raw value of one of the names in [`super::vars`].
    pub fn get(&self, var: &str) -> Option<&str> {
        let v = match var {
            "URL" => &self.url,
            "SUBDOMAINS" => &self.subdomains,
            "EXTRA_DOMAINS" => &self.extra_domains,
            "ONLY_SUBDOMAINS" => &self.only_subdomains,
            "VALIDATION" => &self.validation,
            "DNSPLUGIN" => &self.dnsplugin,
            "DUCKDNSTOKEN" => &self.duckdnstoken,
            "PROPAGATION" => &self.propagation,
            "PROPAGATION_NAMESERVERS" => &self.propagation_nameservers,
            "EMAIL" => &self.email,
            "STAGING" => &self.staging,
            "CERTPROVIDER" => &self.certprovider,
            "CERT_PROFILE" => &self.cert_profile,
            "SWAG_AUTORELOAD" => &self.swag_autoreload,
            "PUID" => &self.puid,
            "PGID" => &self.pgid,
            "TZ" => &self.tz,
            "DISABLE_F2B" => &self.disable_f2b,
            "DOCKER_MODS" => &self.docker_mods,
            "ACME_SERVER" => &self.acme_server,
            "ACME_CA_ROOT" => &self.acme_ca_root,
            "CONFIG_DIR" => &self.config_dir,
            "HTTP_PORT" => &self.http_port,
            "HTTPS_PORT" => &self.https_port,
            "LOG_FORMAT" => &self.log_format,
            "LOG_LEVEL" => &self.log_level,
            "SHUTDOWN_GRACE" => &self.shutdown_grace,
            "WORKERS" => &self.workers,
            "KEY_TYPE" => &self.key_type,
            "REVOKE_REPLACED" => &self.revoke_replaced,
            "METRICS_ADDR" => &self.metrics_addr,
            "ACCESS_LOG" => &self.access_log,
            "STATUS_PAGE_AUTH" => &self.status_page_auth,
            "DOCKER_HOST" => &self.docker_host,
            "AUTO_PROXY_CERTS" => &self.auto_proxy_certs,
            "AUTO_PROXY_CERTS_INTERVAL" => &self.auto_proxy_certs_interval,
            _ => return None,
        };
        v.as_deref()
    }
}

/// SWAG's normalisation of its own variables: drop every `"`, lower-case,
/// and (equivalent to its shell word splitting) trim whitespace.
pub fn swag_normalise(value: Option<&str>) -> String {
    value
        .unwrap_or("")
        .replace('"', "")
        .to_lowercase()
        .trim()
        .to_string()
}

/// moat's own variables: trimmed, quotes around the whole value removed.
pub fn moat_normalise(value: Option<&str>) -> String {
    let v = value.unwrap_or("").trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
        .trim()
        .to_string()
}
