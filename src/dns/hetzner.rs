//! Hetzner's DNS Console API (certbot-dns-hetzner, `hetzner.ini`,
//! `dns_hetzner_api_token`): the zone is found by name, TXT records are
//! created in it and deleted by id. Authenticates with the
//! `Auth-API-Token` header.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::http::{snippet, ApiError, HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{relative_name, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

const NAME: &str = "hetzner";
/// A DNS Console API token.
pub const KEY_API_TOKEN: &str = "dns_hetzner_api_token";
/// moat extension: the API base URL; default [`DEFAULT_ENDPOINT`] (tests).
pub const KEY_ENDPOINT: &str = "dns_hetzner_endpoint";
/// The DNS Console API base.
pub const DEFAULT_ENDPOINT: &str = "https://dns.hetzner.com/api/v1/";
/// TTL of challenge records (certbot-dns-hetzner's).
pub const RECORD_TTL: u32 = 60;
const PLACEHOLDER_TOKEN: &str = "nohnah4zoo9Kiejee9aGh0thoopee2sa";

/// Settings from `hetzner.ini`.
#[derive(Debug, Clone)]
pub struct HetznerConfig {
    /// The API token.
    pub token: Secret,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl HetznerConfig {
    /// Reads the token (and the optional endpoint).
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (token, _) =
            ini.required_secret(KEY_API_TOKEN, "a DNS Console API token", PLACEHOLDER_TOKEN)?;
        Ok(HetznerConfig {
            token,
            endpoint: ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The Hetzner DNS provider.
#[derive(Debug)]
pub struct HetznerProvider {
    config: HetznerConfig,
    http: HttpClient,
    /// Name → (zone id, zone name).
    zones: Mutex<HashMap<String, (String, String)>>,
}

impl HetznerProvider {
    /// A provider for `config`.
    pub fn new(config: HetznerConfig) -> Result<Self, DnsError> {
        Ok(HetznerProvider {
            http: HttpClient::new(NAME, config.timeout)?,
            config,
            zones: Mutex::new(HashMap::new()),
        })
    }

    /// Builds the provider from `hetzner.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(HetznerConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for HetznerProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let r = self
            .api(reqwest::Method::GET, "zones?per_page=1", None)
            .await?;
        let total = r["meta"]["pagination"]["total_entries"]
            .as_u64()
            .unwrap_or(0);
        let mut zones = Vec::new();
        for d in domains {
            zones.push(format!("{d} in zone {}", self.find_zone(d).await?.1));
        }
        let who = format!("token accepted ({total} zones)");
        Ok(if zones.is_empty() {
            format!("hetzner: {who}")
        } else {
            format!("hetzner: {who}; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let (zone_id, zone) = self.find_zone(&fqdn).await?;
        let body = json!({
            "zone_id": zone_id,
            "type": "TXT",
            "name": relative_name(&fqdn, &zone),
            "value": value,
            "ttl": RECORD_TTL,
        });
        let r = self
            .api(reqwest::Method::POST, "records", Some(body))
            .await?;
        let id = r["record"]["id"].as_str().map(str::to_owned);
        tracing::info!(%fqdn, record_id = ?id, "hetzner: TXT record added");
        Ok(RecordHandle {
            fqdn,
            value: value.to_owned(),
            id,
            zone: Some(zone_id),
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let ids = match &handle.id {
            Some(id) => vec![id.clone()],
            None => self.find_records(handle).await?,
        };
        for id in ids {
            match self
                .api(reqwest::Method::DELETE, &format!("records/{id}"), None)
                .await
            {
                Ok(_) | Err(ApiError { status: 404, .. }) => {
                    tracing::info!(fqdn = %handle.fqdn, record_id = %id, "hetzner: TXT record deleted");
                }
                Err(e) => return Err(e.error),
            }
        }
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        Duration::from_secs(30)
    }
}

impl HetznerProvider {
    /// The zone (id, name) holding `name`: `GET zones?name=<suffix>`, longest first.
    async fn find_zone(&self, name: &str) -> Result<(String, String), DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(z) = self.lock_zones().get(&name) {
            return Ok(z.clone());
        }
        for candidate in zone_candidates(&name) {
            let found = match self
                .api(
                    reqwest::Method::GET,
                    &format!("zones?name={candidate}"),
                    None,
                )
                .await
            {
                Ok(r) => r["zones"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|z| z["name"].as_str() == Some(candidate.as_str()))
                    .and_then(|z| z["id"].as_str().map(str::to_owned)),
                // The API answers 404 for a name it holds no zone for.
                Err(ApiError { status: 404, .. }) => None,
                Err(e) => return Err(e.error),
            };
            if let Some(id) = found {
                let hit = (id, candidate);
                self.lock_zones().insert(name, hit.clone());
                return Ok(hit);
            }
        }
        Err(DnsError::api(
            NAME,
            format!(
                "no zone in this Hetzner DNS account holds {name}: add the zone in the DNS Console"
            ),
        ))
    }

    /// Ids of the TXT records at the handle's name with exactly its value.
    async fn find_records(&self, handle: &RecordHandle) -> Result<Vec<String>, DnsError> {
        let (zone_id, zone) = match &handle.zone {
            Some(id) => (id.clone(), self.find_zone(&handle.fqdn).await?.1),
            None => self.find_zone(&handle.fqdn).await?,
        };
        let name = relative_name(&handle.fqdn, &zone);
        let r = self
            .api(
                reqwest::Method::GET,
                &format!("records?zone_id={zone_id}&per_page=500"),
                None,
            )
            .await?;
        Ok(r["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|rec| {
                rec["type"].as_str() == Some("TXT")
                    && rec["name"].as_str() == Some(name.as_str())
                    && rec["value"].as_str().map(|v| v.trim_matches('"'))
                        == Some(handle.value.as_str())
            })
            .filter_map(|rec| rec["id"].as_str().map(str::to_owned))
            .collect())
    }

    fn lock_zones(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, String)>> {
        self.zones.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let what = path.split('?').next().unwrap_or(path);
        let url = self.config.endpoint.join(path).map_err(|e| ApiError {
            status: 0,
            error: DnsError::api(NAME, format!("bad API path {what}: {e}")),
        })?;
        let reply = self
            .http
            .send(what, || {
                let mut req = self
                    .http
                    .inner()
                    .request(method.clone(), url.clone())
                    .header("Auth-API-Token", self.config.token.expose());
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
            .or_else(|| json["error"]["message"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| snippet(&reply.body));
        let hint = if matches!(reply.status, 401 | 403) {
            "; check dns_hetzner_api_token in hetzner.ini (a DNS Console token, not a Cloud one)"
        } else {
            ""
        };
        Err(ApiError {
            status: reply.status,
            error: DnsError::api(
                NAME,
                format!("{method} {what}: HTTP {}: {message}{hint}", reply.status),
            ),
        })
    }
}
