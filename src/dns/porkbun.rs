//! Porkbun's DNS API (v3): every call is a POST whose JSON body carries the
//! API key pair; the zone is the account's domain that holds the name, TXT
//! records are created and deleted by id. SWAG's plugin is
//! certbot-dns-porkbun (`porkbun.ini`, `dns_porkbun_key`, `dns_porkbun_secret`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::http::{snippet, ApiError, HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{relative_name, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `porkbun.ini`: the API key (`pk1_...`).
pub const KEY_API_KEY: &str = "dns_porkbun_key";
/// `porkbun.ini`: the secret API key (`sk1_...`).
pub const KEY_SECRET: &str = "dns_porkbun_secret";
/// moat extension: the API base URL; default [`DEFAULT_ENDPOINT`] (tests).
pub const KEY_ENDPOINT: &str = "dns_porkbun_endpoint";
/// Porkbun's API v3 base.
pub const DEFAULT_ENDPOINT: &str = "https://api.porkbun.com/api/json/v3/";
/// TTL of challenge records (Porkbun's minimum).
pub const RECORD_TTL: u32 = 600;
const PLACEHOLDER_KEY: &str = "<your-porkbun-api-key>";
const PLACEHOLDER_SECRET: &str = "<your-porkbun-api-secret>";
const PLUGIN: &str = "porkbun";

/// Settings from `porkbun.ini`.
#[derive(Debug, Clone)]
pub struct PorkbunConfig {
    /// The API key.
    pub api_key: Secret,
    /// The secret API key.
    pub secret: Secret,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl PorkbunConfig {
    /// Reads `porkbun.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (api_key, _) =
            ini.required_secret(KEY_API_KEY, "your Porkbun API key", PLACEHOLDER_KEY)?;
        let (secret, _) = ini.required_secret(
            KEY_SECRET,
            "your Porkbun secret API key",
            PLACEHOLDER_SECRET,
        )?;
        Ok(PorkbunConfig {
            api_key,
            secret,
            endpoint: ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The Porkbun provider.
#[derive(Debug)]
pub struct PorkbunProvider {
    config: PorkbunConfig,
    http: HttpClient,
    zones: Mutex<HashMap<String, String>>,
}

impl PorkbunProvider {
    /// A provider for `config`.
    pub fn new(config: PorkbunConfig) -> Result<Self, DnsError> {
        Ok(PorkbunProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
            zones: Mutex::new(HashMap::new()),
        })
    }

    /// Builds the provider from `porkbun.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(PorkbunConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for PorkbunProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        self.api("ping", json!({})).await?;
        let mut zones = Vec::new();
        for d in domains {
            zones.push(format!("{d} in zone {}", self.find_zone(d).await?));
        }
        Ok(if zones.is_empty() {
            format!("{PLUGIN}: API key accepted")
        } else {
            format!("{PLUGIN}: API key accepted; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let zone = self.find_zone(&fqdn).await?;
        // Porkbun's `name` is the subdomain, empty for the apex.
        let name = match relative_name(&fqdn, &zone).as_str() {
            "@" => String::new(),
            n => n.to_owned(),
        };
        let body = json!({
            "name": name,
            "type": "TXT",
            "content": value,
            "ttl": RECORD_TTL.to_string(),
        });
        let r = self.api(&format!("dns/create/{zone}"), body).await?;
        let id = match &r["id"] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        tracing::info!(%fqdn, record_id = ?id, "{PLUGIN}: TXT record added");
        Ok(RecordHandle {
            fqdn,
            value: value.to_owned(),
            id,
            zone: Some(zone),
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let zone = match &handle.zone {
            Some(z) => z.clone(),
            None => self.find_zone(&handle.fqdn).await?,
        };
        let ids = match &handle.id {
            Some(id) => vec![id.clone()],
            None => self.find_records(&zone, handle).await?,
        };
        for id in ids {
            match self
                .api(&format!("dns/delete/{zone}/{id}"), json!({}))
                .await
            {
                Ok(_) => {
                    tracing::info!(fqdn = %handle.fqdn, record_id = %id, "{PLUGIN}: TXT record deleted");
                }
                // Porkbun answers 400 for an id that is not (or no longer) there.
                Err(ApiError { status: 400, .. }) => {
                    tracing::info!(fqdn = %handle.fqdn, record_id = %id, "{PLUGIN}: TXT record already gone");
                }
                Err(e) => return Err(e.error),
            }
        }
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        Duration::from_secs(60)
    }
}

impl PorkbunProvider {
    /// The account's domain holding `name`: `dns/retrieve/<suffix>`, longest
    /// first (400 means not a domain of this account).
    async fn find_zone(&self, name: &str) -> Result<String, DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(z) = self.lock_zones().get(&name) {
            return Ok(z.clone());
        }
        for candidate in zone_candidates(&name) {
            match self
                .api(&format!("dns/retrieve/{candidate}"), json!({}))
                .await
            {
                Ok(_) => {
                    self.lock_zones().insert(name, candidate.clone());
                    return Ok(candidate);
                }
                Err(ApiError { status: 400, .. }) => {}
                Err(e) => return Err(e.error),
            }
        }
        Err(DnsError::api(
            PLUGIN,
            format!(
                "no domain in this Porkbun account holds {name}, or its API access is off: \
                 turn on API ACCESS for the domain at porkbun.com"
            ),
        ))
    }

    /// Ids of the TXT records at the handle's name with exactly its value.
    async fn find_records(
        &self,
        zone: &str,
        handle: &RecordHandle,
    ) -> Result<Vec<String>, DnsError> {
        let r = self.api(&format!("dns/retrieve/{zone}"), json!({})).await?;
        Ok(r["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|rec| {
                rec["type"].as_str() == Some("TXT")
                    && rec["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&handle.fqdn))
                    && rec["content"].as_str() == Some(handle.value.as_str())
            })
            .filter_map(|rec| match &rec["id"] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect())
    }

    fn lock_zones(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.zones.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// POSTs `body` plus the key pair to `path`; an answer whose `status` is
    /// not `SUCCESS` is an error.
    async fn api(&self, path: &str, mut body: Value) -> Result<Value, ApiError> {
        let url = self.config.endpoint.join(path).map_err(|e| ApiError {
            status: 0,
            error: DnsError::api(PLUGIN, format!("bad API path {path}: {e}")),
        })?;
        body["apikey"] = Value::String(self.config.api_key.expose().to_owned());
        body["secretapikey"] = Value::String(self.config.secret.expose().to_owned());
        let reply = self
            .http
            .send(path, || self.http.inner().post(url.clone()).json(&body))
            .await
            .map_err(|error| ApiError { status: 0, error })?;
        let json: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        if reply.status < 400 && json["status"].as_str() == Some("SUCCESS") {
            return Ok(json);
        }
        let message = json["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| snippet(&reply.body));
        let auth =
            matches!(reply.status, 401 | 403) || message.to_ascii_lowercase().contains("api key");
        let hint = if auth {
            format!(
                "; check {KEY_API_KEY} and {KEY_SECRET} in {PLUGIN}.ini \
                 (and that API ACCESS is on for the domain)"
            )
        } else {
            String::new()
        };
        Err(ApiError {
            status: if auth { 403 } else { reply.status },
            error: DnsError::api(
                PLUGIN,
                format!("POST {path}: HTTP {}: {message}{hint}", reply.status),
            ),
        })
    }
}
