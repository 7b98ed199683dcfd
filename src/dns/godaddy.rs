//! GoDaddy DNS through its Domains API v1 (certbot-dns-godaddy,
//! `godaddy.ini`: `dns_godaddy_key`, `dns_godaddy_secret`, sent as
//! `Authorization: sso-key <key>:<secret>`).
//!
//! The zone is the longest suffix `GET domains/<suffix>` knows. GoDaddy
//! replaces all TXT values of a name at once (`PUT
//! domains/<zone>/records/TXT/<name>`), so `present` reads them and PUTs
//! them back with the new value added, and `cleanup` PUTs them without it,
//! or DELETEs the name's TXT records when it was the last; serialised so the
//! apex and wildcard values never clobber each other. GoDaddy only opens the
//! API to some accounts: a 403 says so.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::http::{json_api, json_message, ApiError, HttpClient, JsonCall, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{challenge_bases, relative_name, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `godaddy.ini`: the API key.
pub const KEY_API_KEY: &str = "dns_godaddy_key";
/// `godaddy.ini`: the API secret.
pub const KEY_SECRET: &str = "dns_godaddy_secret";
/// moat extension (tests only): the API base URL; default [`DEFAULT_ENDPOINT`].
pub const KEY_ENDPOINT: &str = "dns_godaddy_endpoint";
/// GoDaddy's production API base.
pub const DEFAULT_ENDPOINT: &str = "https://api.godaddy.com/v1/";
/// TTL of challenge records (GoDaddy's minimum).
pub const RECORD_TTL: u32 = 600;
const PLACEHOLDER_KEY: &str = "abcdef0123456789abcdef01234567abcdef0123";
const PLACEHOLDER_SECRET: &str = "0123456789abcdef0123456789abcdef01234567";
const PLUGIN: &str = "godaddy";

/// Settings from `godaddy.ini`.
#[derive(Debug, Clone)]
pub struct GodaddyConfig {
    /// The API key.
    pub api_key: Secret,
    /// The API secret.
    pub secret: Secret,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl GodaddyConfig {
    /// Reads `godaddy.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (api_key, _) =
            ini.required_secret(KEY_API_KEY, "your GoDaddy API key", PLACEHOLDER_KEY)?;
        let (secret, _) =
            ini.required_secret(KEY_SECRET, "your GoDaddy API secret", PLACEHOLDER_SECRET)?;
        Ok(GodaddyConfig {
            api_key,
            secret,
            endpoint: ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The GoDaddy provider.
#[derive(Debug)]
pub struct GodaddyProvider {
    config: GodaddyConfig,
    http: HttpClient,
    zones: Mutex<HashMap<String, String>>,
    write: tokio::sync::Mutex<()>,
}

impl GodaddyProvider {
    /// A provider for `config`.
    pub fn new(config: GodaddyConfig) -> Result<Self, DnsError> {
        Ok(GodaddyProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
            zones: Mutex::new(HashMap::new()),
            write: tokio::sync::Mutex::new(()),
        })
    }

    /// Builds the provider from `godaddy.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(GodaddyConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for GodaddyProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let domains = &challenge_bases(domains)[..];
        if domains.is_empty() {
            self.api(reqwest::Method::GET, "domains?limit=1", None)
                .await?;
            return Ok(format!("{PLUGIN}: API key accepted"));
        }
        let mut zones = Vec::new();
        for d in domains {
            zones.push(format!("{d} in zone {}", self.find_zone(d).await?));
        }
        Ok(format!("{PLUGIN}: API key accepted; {}", zones.join(", ")))
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let _guard = self.write.lock().await;
        let zone = self.find_zone(&fqdn).await?;
        let path = txt_path(&zone, &fqdn);
        let mut records = self.read(&path).await?;
        let handle = RecordHandle {
            fqdn: fqdn.clone(),
            value: value.to_owned(),
            id: None,
            zone: Some(zone),
        };
        if records.iter().any(|(v, _)| v == value) {
            tracing::info!(%fqdn, "{PLUGIN}: TXT value already present");
            return Ok(handle);
        }
        records.push((value.to_owned(), RECORD_TTL));
        self.replace(&path, &records).await?;
        tracing::info!(%fqdn, values = records.len(), "{PLUGIN}: TXT value added");
        Ok(handle)
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let _guard = self.write.lock().await;
        let zone = match &handle.zone {
            Some(z) => z.clone(),
            None => self.find_zone(&handle.fqdn).await?,
        };
        let path = txt_path(&zone, &handle.fqdn);
        let records = self.read(&path).await?;
        if !records.iter().any(|(v, _)| *v == handle.value) {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value already gone");
            return Ok(());
        }
        let rest: Vec<(String, u32)> = records
            .into_iter()
            .filter(|(v, _)| *v != handle.value)
            .collect();
        if rest.is_empty() {
            match self.api(reqwest::Method::DELETE, &path, None).await {
                Ok(_) | Err(ApiError { status: 404, .. }) => {}
                Err(e) => return Err(e.error),
            }
        } else {
            self.replace(&path, &rest).await?;
        }
        tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value deleted");
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        // A margin: GoDaddy's servers can take minutes; the active check that
        // follows usually ends sooner.
        Duration::from_secs(120)
    }
}

/// `domains/<zone>/records/TXT/<name>`, the name relative to the zone.
fn txt_path(zone: &str, fqdn: &str) -> String {
    format!("domains/{zone}/records/TXT/{}", relative_name(fqdn, zone))
}

impl GodaddyProvider {
    /// The account's domain holding `name`, longest suffix first (404: not one).
    async fn find_zone(&self, name: &str) -> Result<String, DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(z) = self.lock_zones().get(&name) {
            return Ok(z.clone());
        }
        for candidate in zone_candidates(&name) {
            match self
                .api(reqwest::Method::GET, &format!("domains/{candidate}"), None)
                .await
            {
                Ok(_) => {
                    self.lock_zones().insert(name, candidate.clone());
                    return Ok(candidate);
                }
                Err(ApiError { status: 404, .. }) => {}
                Err(e) => return Err(e.error),
            }
        }
        Err(DnsError::api(
            PLUGIN,
            format!("no domain in this GoDaddy account holds {name}"),
        ))
    }

    /// The name's TXT values and TTLs (none: empty).
    async fn read(&self, path: &str) -> Result<Vec<(String, u32)>, DnsError> {
        match self.api(reqwest::Method::GET, path, None).await {
            Ok(v) => Ok(v
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    let ttl = r["ttl"]
                        .as_u64()
                        .and_then(|t| u32::try_from(t).ok())
                        .unwrap_or(RECORD_TTL);
                    r["data"].as_str().map(|d| (d.to_owned(), ttl))
                })
                .collect()),
            Err(ApiError { status: 404, .. }) => Ok(Vec::new()),
            Err(e) => Err(e.error),
        }
    }

    async fn replace(&self, path: &str, records: &[(String, u32)]) -> Result<(), DnsError> {
        let body: Vec<Value> = records
            .iter()
            .map(|(v, ttl)| json!({"data": v, "ttl": ttl}))
            .collect();
        self.api(reqwest::Method::PUT, path, Some(Value::Array(body)))
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
        let auth = format!(
            "sso-key {}:{}",
            self.config.api_key.expose(),
            self.config.secret.expose()
        );
        json_api(
            &self.http,
            &self.config.endpoint,
            JsonCall { method, path, body },
            &|req, _, _| req.header("authorization", &auth),
            &|status, json| {
                let hint = match status {
                    401 => format!("check {KEY_API_KEY} and {KEY_SECRET} in {PLUGIN}.ini"),
                    403 => format!(
                        "GoDaddy refused the key in {PLUGIN}.ini ({KEY_API_KEY}): it opens the DNS \
                         API only to some accounts, and a key from the OTE test environment does not \
                         work in production"
                    ),
                    _ => String::new(),
                };
                (json_message(json, "message"), hint)
            },
        )
        .await
    }
}
