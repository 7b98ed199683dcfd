//! Vultr DNS through API v2 (certbot-dns-vultr, `vultr.ini`,
//! `dns_vultr_key`, a personal access token sent as `Authorization: Bearer`).
//! The zone is the account's domain with the longest matching name in the
//! cursor-paginated `GET domains`; TXT records (each value its own record,
//! quoted as Vultr keeps them) are created under it and deleted by id.

use std::time::Duration;

use serde_json::{json, Value};

use super::http::{json_api, json_message, ApiError, HttpClient, JsonCall, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{challenge_bases, relative_name, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `vultr.ini`: a personal access token (API key) with DNS access.
pub const KEY_TOKEN: &str = "dns_vultr_key";
/// moat extension (tests only): the API base URL; default [`DEFAULT_ENDPOINT`].
pub const KEY_ENDPOINT: &str = "dns_vultr_endpoint";
/// Vultr's API v2 base.
pub const DEFAULT_ENDPOINT: &str = "https://api.vultr.com/v2/";
/// TTL of challenge records.
pub const RECORD_TTL: u32 = 300;
const PLACEHOLDER_TOKEN: &str = "YOUR_VULTR_API_KEY";
const PLUGIN: &str = "vultr";
/// Page size asked for when listing (Vultr's largest).
const PAGE_SIZE: u32 = 500;

/// Settings from `vultr.ini`.
#[derive(Debug, Clone)]
pub struct VultrConfig {
    /// The API key.
    pub token: Secret,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl VultrConfig {
    /// Reads `vultr.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (token, _) = ini.required_secret(
            KEY_TOKEN,
            "a Vultr personal access token (API key)",
            PLACEHOLDER_TOKEN,
        )?;
        Ok(VultrConfig {
            token,
            endpoint: ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The Vultr provider.
#[derive(Debug)]
pub struct VultrProvider {
    config: VultrConfig,
    http: HttpClient,
}

impl VultrProvider {
    /// A provider for `config`.
    pub fn new(config: VultrConfig) -> Result<Self, DnsError> {
        Ok(VultrProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
        })
    }

    /// Builds the provider from `vultr.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(VultrConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for VultrProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let domains = &challenge_bases(domains)[..];
        let all = self.domains().await?;
        let mut zones = Vec::new();
        for d in domains {
            zones.push(format!("{d} in zone {}", find_zone(&all, d)?));
        }
        let head = format!("{PLUGIN}: API key accepted ({} domains)", all.len());
        Ok(if zones.is_empty() {
            head
        } else {
            format!("{head}; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let zone = find_zone(&self.domains().await?, &fqdn)?;
        let body = json!({
            "name": vultr_name(&fqdn, &zone),
            "type": "TXT",
            "data": format!("\"{value}\""),
            "ttl": RECORD_TTL,
        });
        let r = self
            .api(
                reqwest::Method::POST,
                &format!("domains/{zone}/records"),
                Some(body),
            )
            .await?;
        let id = r["record"]["id"].as_str().map(str::to_owned);
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
            None => find_zone(&self.domains().await?, &handle.fqdn)?,
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

/// Vultr's record name: relative to the domain, empty for the apex.
fn vultr_name(fqdn: &str, zone: &str) -> String {
    match relative_name(fqdn, zone).as_str() {
        "@" => String::new(),
        n => n.to_owned(),
    }
}

/// The domain holding `name`, longest suffix first.
fn find_zone(all: &[String], name: &str) -> Result<String, DnsError> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    zone_candidates(&name)
        .into_iter()
        .find(|c| all.contains(c))
        .ok_or_else(|| {
            DnsError::api(
                PLUGIN,
                format!("no domain in this Vultr account holds {name}: add it under DNS"),
            )
        })
}

impl VultrProvider {
    /// The account's domain names.
    async fn domains(&self) -> Result<Vec<String>, DnsError> {
        Ok(self
            .list("domains", "domains")
            .await?
            .iter()
            .filter_map(|d| d["domain"].as_str().map(str::to_ascii_lowercase))
            .collect())
    }

    /// Ids of the TXT records at the handle's name with exactly its value.
    async fn find_records(
        &self,
        zone: &str,
        handle: &RecordHandle,
    ) -> Result<Vec<String>, DnsError> {
        let want = vultr_name(&handle.fqdn, zone);
        let quoted = format!("\"{}\"", handle.value);
        Ok(self
            .list(&format!("domains/{zone}/records"), "records")
            .await?
            .iter()
            .filter(|r| {
                r["type"].as_str() == Some("TXT")
                    && r["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&want))
                    && matches!(r["data"].as_str(), Some(d) if d == quoted || d == handle.value)
            })
            .filter_map(|r| r["id"].as_str().map(str::to_owned))
            .collect())
    }

    /// Every item under `key` of a cursor-paginated list.
    async fn list(&self, path: &str, key: &str) -> Result<Vec<Value>, DnsError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut page = format!("{path}?per_page={PAGE_SIZE}");
            if !cursor.is_empty() {
                page.push_str(&format!("&cursor={cursor}"));
            }
            let r = self.api(reqwest::Method::GET, &page, None).await?;
            out.extend(r[key].as_array().into_iter().flatten().cloned());
            match r["meta"]["links"]["next"].as_str() {
                Some(next) if !next.is_empty() && next != cursor => cursor = next.to_owned(),
                _ => return Ok(out),
            }
        }
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
            &|req, _, _| req.bearer_auth(self.config.token.expose()),
            &|status, json| {
                let hint = match status {
                    401 => format!("check {KEY_TOKEN} in {PLUGIN}.ini"),
                    403 => format!(
                        "the key in {PLUGIN}.ini ({KEY_TOKEN}) is refused: check its access control \
                         list allows this machine's address"
                    ),
                    _ => String::new(),
                };
                (json_message(json, "error"), hint)
            },
        )
        .await
    }
}
