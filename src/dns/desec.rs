//! deSEC (desec.io) through its REST API v1. SWAG's plugin is
//! certbot-dns-desec (`desec.ini`: `dns_desec_token`, `dns_desec_endpoint`),
//! the token sent as `Authorization: Token`.
//!
//! The zone is the domain `GET domains/?owns_qname=<name>` names. A name's TXT
//! values are one rrset: `present` reads it and writes it back with the value
//! added, `cleanup` writes it without that value (no values deletes it), both
//! through the bulk `PUT domains/<zone>/rrsets/` that creates, replaces or
//! deletes, serialised so the apex and wildcard values never clobber each
//! other.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::http::{json_api, json_message, ApiError, HttpClient, JsonCall, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{challenge_bases, relative_name};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `desec.ini`: an API token.
pub const KEY_TOKEN: &str = "dns_desec_token";
/// `desec.ini`: the API base URL (certbot-dns-desec's own key; SWAG's
/// template sets it); default [`DEFAULT_ENDPOINT`].
pub const KEY_ENDPOINT: &str = "dns_desec_endpoint";
/// deSEC's API v1 base.
pub const DEFAULT_ENDPOINT: &str = "https://desec.io/api/v1/";
/// TTL of challenge rrsets (deSEC's minimum).
pub const RECORD_TTL: u32 = 3600;
const PLACEHOLDER_TOKEN: &str = "YOUR_TOKEN_HERE";
const PLUGIN: &str = "desec";

/// Settings from `desec.ini`.
#[derive(Debug, Clone)]
pub struct DesecConfig {
    /// The API token.
    pub token: Secret,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl DesecConfig {
    /// Reads `desec.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (token, _) = ini.required_secret(KEY_TOKEN, "a deSEC API token", PLACEHOLDER_TOKEN)?;
        Ok(DesecConfig {
            token,
            endpoint: ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The deSEC provider.
#[derive(Debug)]
pub struct DesecProvider {
    config: DesecConfig,
    http: HttpClient,
    zones: Mutex<HashMap<String, String>>,
    write: tokio::sync::Mutex<()>,
}

impl DesecProvider {
    /// A provider for `config`.
    pub fn new(config: DesecConfig) -> Result<Self, DnsError> {
        Ok(DesecProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
            zones: Mutex::new(HashMap::new()),
            write: tokio::sync::Mutex::new(()),
        })
    }

    /// Builds the provider from `desec.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(DesecConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for DesecProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let domains = &challenge_bases(domains)[..];
        if domains.is_empty() {
            let all = self.api(reqwest::Method::GET, "domains/", None).await?;
            let n = all.as_array().map_or(0, Vec::len);
            return Ok(format!("{PLUGIN}: token accepted ({n} domains)"));
        }
        let mut zones = Vec::new();
        for d in domains {
            zones.push(format!("{d} in zone {}", self.find_zone(d).await?));
        }
        Ok(format!("{PLUGIN}: token accepted; {}", zones.join(", ")))
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let _guard = self.write.lock().await;
        let zone = self.find_zone(&fqdn).await?;
        let (ttl, mut values) = self
            .read(&zone, &fqdn)
            .await?
            .unwrap_or((RECORD_TTL, Vec::new()));
        let handle = RecordHandle {
            fqdn: fqdn.clone(),
            value: value.to_owned(),
            id: None,
            zone: Some(zone.clone()),
        };
        if values.iter().any(|v| v == value) {
            tracing::info!(%fqdn, "{PLUGIN}: TXT value already present");
            return Ok(handle);
        }
        values.push(value.to_owned());
        self.write_set(&zone, &fqdn, ttl, &values).await?;
        tracing::info!(%fqdn, values = values.len(), "{PLUGIN}: TXT value added");
        Ok(handle)
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let _guard = self.write.lock().await;
        let zone = match &handle.zone {
            Some(z) => z.clone(),
            None => self.find_zone(&handle.fqdn).await?,
        };
        let Some((ttl, values)) = self.read(&zone, &handle.fqdn).await? else {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT record already gone");
            return Ok(());
        };
        if !values.contains(&handle.value) {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value already gone");
            return Ok(());
        }
        let rest: Vec<String> = values.into_iter().filter(|v| *v != handle.value).collect();
        // No records deletes the rrset.
        self.write_set(&zone, &handle.fqdn, ttl, &rest).await?;
        tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value deleted");
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        // A margin for deSEC's anycast frontends; the active check that
        // follows usually ends sooner.
        Duration::from_secs(80)
    }
}

/// deSEC's subname: relative to the zone, empty for the apex.
fn subname(fqdn: &str, zone: &str) -> String {
    match relative_name(fqdn, zone).as_str() {
        "@" => String::new(),
        n => n.to_owned(),
    }
}

/// The TXT string without its quotes (deSEC holds them quoted).
fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v[1..v.len() - 1].replace("\\\"", "\"")
    } else {
        v.to_owned()
    }
}

impl DesecProvider {
    /// The account's domain that owns `name` (`owns_qname`).
    async fn find_zone(&self, name: &str) -> Result<String, DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(z) = self.lock_zones().get(&name) {
            return Ok(z.clone());
        }
        let found = self
            .api(
                reqwest::Method::GET,
                &format!("domains/?owns_qname={name}"),
                None,
            )
            .await?;
        match found
            .as_array()
            .and_then(|a| a.first())
            .and_then(|d| d["name"].as_str())
        {
            Some(zone) => {
                let zone = zone.to_ascii_lowercase();
                self.lock_zones().insert(name, zone.clone());
                Ok(zone)
            }
            None => Err(DnsError::api(
                PLUGIN,
                format!("no domain of this deSEC account holds {name}: add it at desec.io"),
            )),
        }
    }

    /// The rrset's TTL and unquoted values, or `None` (404).
    async fn read(&self, zone: &str, fqdn: &str) -> Result<Option<(u32, Vec<String>)>, DnsError> {
        let sub = match subname(fqdn, zone) {
            s if s.is_empty() => "@".to_owned(),
            s => s,
        };
        let path = format!("domains/{zone}/rrsets/{sub}/TXT/");
        match self.api(reqwest::Method::GET, &path, None).await {
            Ok(v) => Ok(Some((
                v["ttl"]
                    .as_u64()
                    .and_then(|t| u32::try_from(t).ok())
                    .unwrap_or(RECORD_TTL),
                v["records"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(unquote))
                    .collect(),
            ))),
            Err(ApiError { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.error),
        }
    }

    /// Creates, replaces or (no values) deletes the rrset in one bulk PUT.
    async fn write_set(
        &self,
        zone: &str,
        fqdn: &str,
        ttl: u32,
        values: &[String],
    ) -> Result<(), DnsError> {
        let records: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
        let body = json!([{
            "subname": subname(fqdn, zone),
            "type": "TXT",
            "ttl": ttl,
            "records": records,
        }]);
        self.api(
            reqwest::Method::PUT,
            &format!("domains/{zone}/rrsets/"),
            Some(body),
        )
        .await?;
        Ok(())
    }

    fn lock_zones(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.zones.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        json_api(
            &self.http,
            &self.config.endpoint,
            JsonCall { method, path, body },
            &|req, _, _| {
                req.header(
                    "authorization",
                    format!("Token {}", self.config.token.expose()),
                )
            },
            &|status, json| {
                let hint = match status {
                    401 => format!("check {KEY_TOKEN} in {PLUGIN}.ini"),
                    403 => format!(
                        "the token in {PLUGIN}.ini ({KEY_TOKEN}) is not allowed to change this \
                         domain's TXT records (check its scoped policies)"
                    ),
                    _ => String::new(),
                };
                (json_message(json, "detail"), hint)
            },
        )
        .await
    }
}
