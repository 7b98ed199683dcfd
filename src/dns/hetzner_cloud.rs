//! Hetzner's DNS in the Hetzner Console, through the Hetzner Cloud API
//! (`hetzner-cloud.ini`, `dns_hetzner_cloud_api_token`, a project API token
//! with read/write, sent as `Authorization: Bearer`); the old DNS Console is
//! the `hetzner` provider.
//!
//! The zone is the longest suffix `GET zones/<name>` knows. Values are
//! added to and removed from the name's TXT rrset one by one
//! (`POST zones/<zone>/rrsets/<name>/TXT/actions/add_records` and
//! `.../remove_records`), so the apex and wildcard values never touch each
//! other; each returns an action, followed until it succeeds (bounded).

use std::time::Duration;

use serde_json::{json, Value};

use super::http::{snippet, ApiError, HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{challenge_bases, relative_name, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `hetzner-cloud.ini`: a Hetzner Cloud project API token (read/write).
pub const KEY_TOKEN: &str = "dns_hetzner_cloud_api_token";
/// moat extension (tests only): the API base URL; default [`DEFAULT_ENDPOINT`].
pub const KEY_ENDPOINT: &str = "dns_hetzner_cloud_endpoint";
/// The Hetzner Cloud API base.
pub const DEFAULT_ENDPOINT: &str = "https://api.hetzner.cloud/v1/";
/// TTL of challenge rrsets.
pub const RECORD_TTL: u32 = 60;
/// How long an action may run before `present` gives up.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(60);
const PLACEHOLDER_TOKEN: &str = "your_api_token_here";
const PLUGIN: &str = "hetzner-cloud";

/// Settings from `hetzner-cloud.ini`.
#[derive(Debug, Clone)]
pub struct HetznerCloudConfig {
    /// The API token.
    pub token: Secret,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
    /// First wait between action polls; doubles up to 5 s.
    pub poll_interval: Duration,
}

impl HetznerCloudConfig {
    /// Reads `hetzner-cloud.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (token, _) = ini.required_secret(
            KEY_TOKEN,
            "a Hetzner Cloud API token (read/write)",
            PLACEHOLDER_TOKEN,
        )?;
        Ok(HetznerCloudConfig {
            token,
            endpoint: ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
            poll_interval: Duration::from_millis(500),
        })
    }
}

/// The Hetzner Cloud DNS provider.
#[derive(Debug)]
pub struct HetznerCloudProvider {
    config: HetznerCloudConfig,
    http: HttpClient,
}

impl HetznerCloudProvider {
    /// A provider for `config`.
    pub fn new(config: HetznerCloudConfig) -> Result<Self, DnsError> {
        Ok(HetznerCloudProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
        })
    }

    /// Builds the provider from `hetzner-cloud.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(HetznerCloudConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for HetznerCloudProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let domains = &challenge_bases(domains)[..];
        if domains.is_empty() {
            self.api(reqwest::Method::GET, "zones?per_page=1", None)
                .await?;
            return Ok(format!("{PLUGIN}: token accepted"));
        }
        let mut zones = Vec::new();
        for d in domains {
            zones.push(format!("{d} in zone {}", self.find_zone(d).await?));
        }
        Ok(format!("{PLUGIN}: token accepted; {}", zones.join(", ")))
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let zone = self.find_zone(&fqdn).await?;
        let body = json!({
            "ttl": RECORD_TTL,
            "records": [{"value": format!("\"{value}\"")}],
        });
        let r = self
            .api(
                reqwest::Method::POST,
                &format!("{}/actions/add_records", rrset_path(&zone, &fqdn)),
                Some(body),
            )
            .await?;
        self.wait_action(&r).await?;
        tracing::info!(%fqdn, "{PLUGIN}: TXT value added");
        Ok(RecordHandle {
            fqdn,
            value: value.to_owned(),
            id: None,
            zone: Some(zone),
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let zone = match &handle.zone {
            Some(z) => z.clone(),
            None => self.find_zone(&handle.fqdn).await?,
        };
        let body = json!({"records": [{"value": format!("\"{}\"", handle.value)}]});
        match self
            .api(
                reqwest::Method::POST,
                &format!("{}/actions/remove_records", rrset_path(&zone, &handle.fqdn)),
                Some(body),
            )
            .await
        {
            Ok(r) => {
                self.wait_action(&r).await?;
                tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value removed");
            }
            // No such rrset: nothing of ours is left.
            Err(ApiError { status: 404, .. }) => {
                tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value already gone");
            }
            Err(e) => return Err(e.error),
        }
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        // A margin; the active check that follows usually ends sooner.
        Duration::from_secs(60)
    }
}

/// `zones/<zone>/rrsets/<name>/TXT`, the name relative to the zone.
fn rrset_path(zone: &str, fqdn: &str) -> String {
    format!("zones/{zone}/rrsets/{}/TXT", relative_name(fqdn, zone))
}

impl HetznerCloudProvider {
    /// The zone holding `name`, longest suffix first (404: not one).
    async fn find_zone(&self, name: &str) -> Result<String, DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        for candidate in zone_candidates(&name) {
            match self
                .api(reqwest::Method::GET, &format!("zones/{candidate}"), None)
                .await
            {
                Ok(_) => return Ok(candidate),
                Err(ApiError { status: 404, .. }) => {}
                Err(e) => return Err(e.error),
            }
        }
        Err(DnsError::api(
            PLUGIN,
            format!(
                "no zone in this Hetzner Cloud project holds {name}: add it under DNS in the \
                 Hetzner Console (zones in the old DNS Console need DNSPLUGIN=hetzner)"
            ),
        ))
    }

    /// Follows the action in `answer` until it succeeds, at most
    /// [`ACTION_TIMEOUT`].
    async fn wait_action(&self, answer: &Value) -> Result<(), DnsError> {
        let mut action = answer["action"].clone();
        let start = tokio::time::Instant::now();
        let mut pause = self.config.poll_interval;
        loop {
            match action["status"].as_str() {
                Some("success") | None => return Ok(()),
                Some("error") => {
                    return Err(DnsError::api(
                        PLUGIN,
                        format!(
                            "action {} failed: {}",
                            action["command"].as_str().unwrap_or("?"),
                            action["error"]["message"]
                                .as_str()
                                .unwrap_or("no reason given")
                        ),
                    ))
                }
                _ => {}
            }
            let Some(id) = action["id"].as_u64() else {
                return Ok(());
            };
            if start.elapsed() + pause > ACTION_TIMEOUT {
                return Err(DnsError::transient(
                    PLUGIN,
                    format!(
                        "action {id} still running after {}s",
                        start.elapsed().as_secs()
                    ),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
            action = self
                .api(reqwest::Method::GET, &format!("actions/{id}"), None)
                .await?["action"]
                .clone();
        }
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
        let message = json["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| snippet(&reply.body));
        let hint = match reply.status {
            401 => format!("; check {KEY_TOKEN} in {PLUGIN}.ini"),
            403 => format!(
                "; the token in {PLUGIN}.ini ({KEY_TOKEN}) must be a read/write token of the \
                 project that holds the zone"
            ),
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
