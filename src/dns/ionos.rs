//! IONOS DNS through the IONOS Hosting DNS API v1 (certbot-dns-ionos,
//! `ionos.ini`: `dns_ionos_prefix`, `dns_ionos_secret`, `dns_ionos_endpoint`),
//! authenticated with `X-API-Key: <prefix>.<secret>`.
//!
//! The zone is the account's zone with the longest matching name
//! (`GET dns/v1/zones`); TXT records (full names, each value its own
//! record) are created with `POST dns/v1/zones/<id>/records` and deleted by
//! id.

use std::time::Duration;

use serde_json::{json, Value};

use super::http::{snippet, ApiError, HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{challenge_bases, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `ionos.ini`: the API key's public prefix.
pub const KEY_PREFIX: &str = "dns_ionos_prefix";
/// `ionos.ini`: the API key's secret.
pub const KEY_SECRET: &str = "dns_ionos_secret";
/// `ionos.ini`: the API host (certbot-dns-ionos's own key); default
/// [`DEFAULT_ENDPOINT`]. `dns/v1/` is added.
pub const KEY_ENDPOINT: &str = "dns_ionos_endpoint";
/// IONOS's API host.
pub const DEFAULT_ENDPOINT: &str = "https://api.hosting.ionos.com/";
/// TTL of challenge records (IONOS's minimum).
pub const RECORD_TTL: u32 = 60;
const PLACEHOLDER_PREFIX: &str = "myapikeyprefix";
const PLACEHOLDER_SECRET: &str = "verysecureapikeysecret";
const PLUGIN: &str = "ionos";

/// Settings from `ionos.ini`.
#[derive(Debug, Clone)]
pub struct IonosConfig {
    /// The key prefix (public part).
    pub prefix: Secret,
    /// The key secret.
    pub secret: Secret,
    /// API base URL, ending in `dns/v1/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl IonosConfig {
    /// Reads `ionos.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (prefix, _) =
            ini.required_secret(KEY_PREFIX, "your IONOS API key prefix", PLACEHOLDER_PREFIX)?;
        let (secret, _) =
            ini.required_secret(KEY_SECRET, "your IONOS API key secret", PLACEHOLDER_SECRET)?;
        let host = ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?;
        let endpoint = host
            .join("dns/v1/")
            .map_err(|e| ini.error(ini.line_of(KEY_ENDPOINT), format!("{KEY_ENDPOINT}: {e}")))?;
        Ok(IonosConfig {
            prefix,
            secret,
            endpoint,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The IONOS provider.
#[derive(Debug)]
pub struct IonosProvider {
    config: IonosConfig,
    http: HttpClient,
}

impl IonosProvider {
    /// A provider for `config`.
    pub fn new(config: IonosConfig) -> Result<Self, DnsError> {
        Ok(IonosProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
        })
    }

    /// Builds the provider from `ionos.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(IonosConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for IonosProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let domains = &challenge_bases(domains)[..];
        let zones = self.zones().await?;
        let mut found = Vec::new();
        for d in domains {
            found.push(format!("{d} in zone {}", find_zone(&zones, d)?.1));
        }
        let head = format!("{PLUGIN}: API key accepted ({} zones)", zones.len());
        Ok(if found.is_empty() {
            head
        } else {
            format!("{head}; {}", found.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let (zone_id, _) = find_zone(&self.zones().await?, &fqdn)?;
        let body = json!([{
            "name": fqdn,
            "type": "TXT",
            "content": value,
            "ttl": RECORD_TTL,
            "prio": 0,
            "disabled": false,
        }]);
        let r = self
            .api(
                reqwest::Method::POST,
                &format!("zones/{zone_id}/records"),
                Some(body),
            )
            .await?;
        let id = r[0]["id"].as_str().map(str::to_owned);
        tracing::info!(%fqdn, record_id = ?id, "{PLUGIN}: TXT record added");
        Ok(RecordHandle {
            fqdn,
            value: value.to_owned(),
            id,
            zone: Some(zone_id),
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let zone_id = match &handle.zone {
            Some(z) => z.clone(),
            None => find_zone(&self.zones().await?, &handle.fqdn)?.0,
        };
        let ids = match &handle.id {
            Some(id) => vec![id.clone()],
            None => self.find_records(&zone_id, handle).await?,
        };
        for id in ids {
            match self
                .api(
                    reqwest::Method::DELETE,
                    &format!("zones/{zone_id}/records/{id}"),
                    None,
                )
                .await
            {
                Ok(_) | Err(ApiError { status: 404, .. }) => {
                    tracing::info!(fqdn = %handle.fqdn, record_id = %id, "{PLUGIN}: TXT record deleted");
                }
                Err(e) => return Err(e.error),
            }
        }
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        // A margin; the active check that follows usually ends sooner.
        Duration::from_secs(60)
    }
}

/// The (id, name) of the zone holding `name`, longest suffix first.
fn find_zone(zones: &[(String, String)], name: &str) -> Result<(String, String), DnsError> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    zone_candidates(&name)
        .into_iter()
        .find_map(|c| zones.iter().find(|(_, z)| *z == c).cloned())
        .ok_or_else(|| {
            DnsError::api(
                PLUGIN,
                format!("no DNS zone of this IONOS account holds {name}"),
            )
        })
}

impl IonosProvider {
    /// The account's zones as (id, name).
    async fn zones(&self) -> Result<Vec<(String, String)>, DnsError> {
        let r = self.api(reqwest::Method::GET, "zones", None).await?;
        Ok(r.as_array()
            .into_iter()
            .flatten()
            .filter_map(|z| {
                Some((
                    z["id"].as_str()?.to_owned(),
                    z["name"].as_str()?.to_ascii_lowercase(),
                ))
            })
            .collect())
    }

    /// Ids of the TXT records at the handle's name with exactly its value
    /// (IONOS answers TXT content quoted or not).
    async fn find_records(
        &self,
        zone_id: &str,
        handle: &RecordHandle,
    ) -> Result<Vec<String>, DnsError> {
        let r = self
            .api(
                reqwest::Method::GET,
                &format!("zones/{zone_id}?recordName={}&recordType=TXT", handle.fqdn),
                None,
            )
            .await?;
        let quoted = format!("\"{}\"", handle.value);
        Ok(r["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|rec| {
                rec["type"].as_str() == Some("TXT")
                    && rec["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&handle.fqdn))
                    && matches!(rec["content"].as_str(), Some(c) if c == handle.value || c == quoted)
            })
            .filter_map(|rec| rec["id"].as_str().map(str::to_owned))
            .collect())
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
            error: DnsError::api(PLUGIN, format!("bad API path {what}: {e}")),
        })?;
        let key = format!(
            "{}.{}",
            self.config.prefix.expose(),
            self.config.secret.expose()
        );
        let reply = self
            .http
            .send(what, || {
                let mut req = self
                    .http
                    .inner()
                    .request(method.clone(), url.clone())
                    .header("x-api-key", &key);
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
        // IONOS answers a list of errors, or one.
        let first = if json.is_array() { &json[0] } else { &json };
        let message = first["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| snippet(&reply.body));
        let hint = match reply.status {
            401 => format!("; check {KEY_PREFIX} and {KEY_SECRET} in {PLUGIN}.ini"),
            403 => format!("; the API key in {PLUGIN}.ini may not manage this zone"),
            _ => String::new(),
        };
        Err(ApiError {
            status: reply.status,
            error: DnsError::api(
                PLUGIN,
                format!("{method} {what}: HTTP {}: {message}{hint}", reply.status),
            ),
        })
    }
}
