//! DigitalOcean's DNS API (v2): the zone is the account's domain that holds
//! the name, TXT records are created and deleted by id. Serves two SWAG
//! plugins: `digitalocean` (certbot-dns-digitalocean, `digitalocean.ini`,
//! `dns_digitalocean_token`) and `do` (certbot-dns-do, `do.ini`,
//! `dns_do_api_token`), which talk to the same API.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::http::{snippet, ApiError, HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{relative_name, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `digitalocean.ini`: a personal access token with write scope.
pub const KEY_TOKEN: &str = "dns_digitalocean_token";
/// `do.ini`: the same token, under certbot-dns-do's key.
pub const KEY_DO_TOKEN: &str = "dns_do_api_token";
/// moat extension: the API base URL; default [`DEFAULT_ENDPOINT`] (tests).
pub const KEY_ENDPOINT: &str = "dns_digitalocean_endpoint";
/// The same, in `do.ini`.
pub const KEY_DO_ENDPOINT: &str = "dns_do_endpoint";
/// DigitalOcean's API v2 base.
pub const DEFAULT_ENDPOINT: &str = "https://api.digitalocean.com/v2/";
/// TTL of challenge records (DigitalOcean's minimum, as the plugin uses).
pub const RECORD_TTL: u32 = 30;
const PLACEHOLDER_TOKEN: &str = "0000111122223333444455556666777788889999aaaabbbbccccddddeeeeffff";
const PLACEHOLDER_DO_TOKEN: &str = "YOUR_DO_LETSENCRYPT_API_KEY";

/// Settings from `digitalocean.ini` or `do.ini`.
#[derive(Debug, Clone)]
pub struct DigitalOceanConfig {
    /// The `DNSPLUGIN` name the file belongs to (`digitalocean` or `do`).
    pub plugin: &'static str,
    /// The personal access token.
    pub token: Secret,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl DigitalOceanConfig {
    /// Reads `digitalocean.ini` (`plugin` = `digitalocean`) or `do.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (plugin, key, placeholder, endpoint_key) = if ini.provider() == "do" {
            ("do", KEY_DO_TOKEN, PLACEHOLDER_DO_TOKEN, KEY_DO_ENDPOINT)
        } else {
            ("digitalocean", KEY_TOKEN, PLACEHOLDER_TOKEN, KEY_ENDPOINT)
        };
        let (token, _) = ini.required_secret(key, "a DigitalOcean API token", placeholder)?;
        Ok(DigitalOceanConfig {
            plugin,
            token,
            endpoint: ini.endpoint(endpoint_key, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The DigitalOcean provider.
#[derive(Debug)]
pub struct DigitalOceanProvider {
    config: DigitalOceanConfig,
    http: HttpClient,
    zones: Mutex<HashMap<String, String>>,
}

impl DigitalOceanProvider {
    /// A provider for `config`.
    pub fn new(config: DigitalOceanConfig) -> Result<Self, DnsError> {
        Ok(DigitalOceanProvider {
            http: HttpClient::new(config.plugin, config.timeout)?,
            config,
            zones: Mutex::new(HashMap::new()),
        })
    }

    /// Builds the provider from `digitalocean.ini` or `do.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(DigitalOceanConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for DigitalOceanProvider {
    fn name(&self) -> &'static str {
        self.config.plugin
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let account = self.api(reqwest::Method::GET, "account", None).await?;
        let status = account["account"]["status"].as_str().unwrap_or("unknown");
        if status != "active" {
            return Err(self.error(format!("the account is {status}, not active")));
        }
        let mut zones = Vec::new();
        for d in domains {
            zones.push(format!("{d} in zone {}", self.find_zone(d).await?));
        }
        let plugin = self.config.plugin;
        Ok(if zones.is_empty() {
            format!("{plugin}: token accepted")
        } else {
            format!("{plugin}: token accepted; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let zone = self.find_zone(&fqdn).await?;
        let body = json!({
            "type": "TXT",
            "name": relative_name(&fqdn, &zone),
            "data": value,
            "ttl": RECORD_TTL,
        });
        let r = self
            .api(
                reqwest::Method::POST,
                &format!("domains/{zone}/records"),
                Some(body),
            )
            .await?;
        let id = r["domain_record"]["id"].as_u64().map(|n| n.to_string());
        tracing::info!(%fqdn, record_id = ?id, "{}: TXT record added", self.config.plugin);
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
                .api(
                    reqwest::Method::DELETE,
                    &format!("domains/{zone}/records/{id}"),
                    None,
                )
                .await
            {
                Ok(_) | Err(ApiError { status: 404, .. }) => {
                    tracing::info!(fqdn = %handle.fqdn, record_id = %id, "{}: TXT record deleted", self.config.plugin);
                }
                Err(e) => return Err(e.error),
            }
        }
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        Duration::from_secs(10)
    }
}

impl DigitalOceanProvider {
    fn error(&self, message: String) -> DnsError {
        DnsError::api(self.config.plugin, message)
    }

    /// The account's domain holding `name`: `GET domains/<suffix>`, longest first.
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
                Ok(r) if r["domain"]["name"].as_str() == Some(candidate.as_str()) => {
                    self.lock_zones().insert(name, candidate.clone());
                    return Ok(candidate);
                }
                Ok(_) | Err(ApiError { status: 404, .. }) => {}
                Err(e) => return Err(e.error),
            }
        }
        Err(self.error(format!(
            "no domain in this DigitalOcean account holds {name}: add it under Networking → Domains"
        )))
    }

    /// Ids of the TXT records at the handle's name with exactly its value.
    async fn find_records(
        &self,
        zone: &str,
        handle: &RecordHandle,
    ) -> Result<Vec<String>, DnsError> {
        let r = self
            .api(
                reqwest::Method::GET,
                &format!(
                    "domains/{zone}/records?type=TXT&name={}&per_page=200",
                    handle.fqdn
                ),
                None,
            )
            .await?;
        Ok(r["domain_records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|rec| rec["data"].as_str() == Some(handle.value.as_str()))
            .filter_map(|rec| rec["id"].as_u64().map(|n| n.to_string()))
            .collect())
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
        let plugin = self.config.plugin;
        let what = path.split('?').next().unwrap_or(path);
        let url = self.config.endpoint.join(path).map_err(|e| ApiError {
            status: 0,
            error: DnsError::api(plugin, format!("bad API path {what}: {e}")),
        })?;
        let reply = self
            .http
            .send(what, || {
                let mut req = self
                    .http
                    .inner()
                    .request(method.clone(), url.clone())
                    .bearer_auth(self.config.token.expose());
                if let Some(b) = &body {
                    req = req.json(b);
                }
                req
            })
            .await
            .map_err(|error| ApiError { status: 0, error })?;
        if reply.status < 400 {
            return Ok(serde_json::from_str(&reply.body).unwrap_or(Value::Null));
        }
        let json: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        let message = json["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| snippet(&reply.body));
        let hint = if matches!(reply.status, 401 | 403) {
            format!("; check the token in {plugin}.ini (it needs write scope)")
        } else {
            String::new()
        };
        Err(ApiError {
            status: reply.status,
            error: DnsError::api(
                plugin,
                format!("{method} {what}: HTTP {}: {message}{hint}", reply.status),
            ),
        })
    }
}
