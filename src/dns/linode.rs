//! Linode's DNS Manager through API v4 (certbot-dns-linode, `linode.ini`,
//! `dns_linode_key`): the zone is the account's domain with the longest
//! matching name, found in `GET domains`; TXT records are created under its
//! numeric id and deleted by record id.

use std::time::Duration;

use serde_json::{json, Value};

use super::http::{json_api, ApiError, HttpClient, JsonCall, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{relative_name, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `linode.ini`: a personal access token with Domains read/write.
pub const KEY_TOKEN: &str = "dns_linode_key";
/// `linode.ini`: the API version certbot-dns-linode should use; only `4`
/// (Linode's v3 API is gone), and may be left out.
pub const KEY_VERSION: &str = "dns_linode_version";
/// moat extension: the API base URL; default [`DEFAULT_ENDPOINT`] (tests).
pub const KEY_ENDPOINT: &str = "dns_linode_endpoint";
/// Linode's API v4 base.
pub const DEFAULT_ENDPOINT: &str = "https://api.linode.com/v4/";
/// TTL of challenge records (Linode's smallest).
pub const RECORD_TTL: u32 = 300;
const PLACEHOLDER_TOKEN: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ64";
const PLUGIN: &str = "linode";
/// Page size asked for when listing (Linode's largest).
const PAGE_SIZE: u32 = 500;

/// Settings from `linode.ini`.
#[derive(Debug, Clone)]
pub struct LinodeConfig {
    /// The personal access token.
    pub token: Secret,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl LinodeConfig {
    /// Reads `linode.ini`: the token, an optional `dns_linode_version` (must
    /// be 4) and the optional endpoint.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (token, _) = ini.required_secret(
            KEY_TOKEN,
            "a Linode personal access token (Domains: Read/Write)",
            PLACEHOLDER_TOKEN,
        )?;
        if let Some((version, line)) = ini.optional(KEY_VERSION) {
            if version != "4" {
                return Err(ini.error(
                    Some(line),
                    format!(
                        "{KEY_VERSION} = {version} is not supported: Linode's API v3 is gone; \
                         set it to 4 or remove the line"
                    ),
                ));
            }
        }
        Ok(LinodeConfig {
            token,
            endpoint: ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The Linode provider.
#[derive(Debug)]
pub struct LinodeProvider {
    config: LinodeConfig,
    http: HttpClient,
}

impl LinodeProvider {
    /// A provider for `config`.
    pub fn new(config: LinodeConfig) -> Result<Self, DnsError> {
        Ok(LinodeProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
        })
    }

    /// Builds the provider from `linode.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(LinodeConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for LinodeProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let all = self.domains().await?;
        let mut zones = Vec::new();
        for d in domains {
            let (_, zone) = self.find_zone(&all, d)?;
            zones.push(format!("{d} in zone {zone}"));
        }
        let head = format!("{PLUGIN}: token accepted ({} domains)", all.len());
        Ok(if zones.is_empty() {
            head
        } else {
            format!("{head}; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let (domain_id, zone) = self.find_zone(&self.domains().await?, &fqdn)?;
        let name = match relative_name(&fqdn, &zone).as_str() {
            "@" => String::new(),
            n => n.to_owned(),
        };
        let body = json!({
            "type": "TXT",
            "name": name,
            "target": value,
            "ttl_sec": RECORD_TTL,
        });
        let r = self
            .api(
                reqwest::Method::POST,
                &format!("domains/{domain_id}/records"),
                Some(body),
            )
            .await?;
        let id = r["id"].as_u64().map(|n| n.to_string());
        tracing::info!(%fqdn, record_id = ?id, "{PLUGIN}: TXT record added");
        Ok(RecordHandle {
            fqdn,
            value: value.to_owned(),
            id,
            zone: Some(domain_id.to_string()),
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let domain_id = match &handle.zone {
            Some(z) => z.clone(),
            None => self
                .find_zone(&self.domains().await?, &handle.fqdn)?
                .0
                .to_string(),
        };
        let ids = match &handle.id {
            Some(id) => vec![id.clone()],
            None => self.find_records(&domain_id, handle).await?,
        };
        for id in ids {
            match self
                .api(
                    reqwest::Method::DELETE,
                    &format!("domains/{domain_id}/records/{id}"),
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
        // certbot-dns-linode's default: Linode's name servers pick changes
        // up within a couple of minutes.
        Duration::from_secs(120)
    }
}

impl LinodeProvider {
    /// The account's master domains as (id, name).
    async fn domains(&self) -> Result<Vec<(u64, String)>, DnsError> {
        let items = self.list("domains").await?;
        Ok(items
            .iter()
            .filter_map(|d| {
                Some((
                    d["id"].as_u64()?,
                    d["domain"].as_str()?.to_ascii_lowercase(),
                ))
            })
            .collect())
    }

    /// The domain (id, name) holding `name`, longest suffix first.
    fn find_zone(&self, all: &[(u64, String)], name: &str) -> Result<(u64, String), DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        for candidate in zone_candidates(&name) {
            if let Some((id, zone)) = all.iter().find(|(_, z)| *z == candidate) {
                return Ok((*id, zone.clone()));
            }
        }
        Err(DnsError::api(
            PLUGIN,
            format!("no domain in this Linode account holds {name}: add it in the DNS Manager"),
        ))
    }

    /// Ids of the TXT records at the handle's name with exactly its value.
    async fn find_records(
        &self,
        domain_id: &str,
        handle: &RecordHandle,
    ) -> Result<Vec<String>, DnsError> {
        let all = self.domains().await?;
        let zone = all
            .iter()
            .find(|(id, _)| id.to_string() == domain_id)
            .map(|(_, z)| z.clone())
            .unwrap_or_default();
        let want = match relative_name(&handle.fqdn, &zone).as_str() {
            "@" => String::new(),
            n => n.to_owned(),
        };
        let items = self.list(&format!("domains/{domain_id}/records")).await?;
        Ok(items
            .iter()
            .filter(|rec| {
                rec["type"].as_str() == Some("TXT")
                    && rec["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&want))
                    && rec["target"].as_str() == Some(handle.value.as_str())
            })
            .filter_map(|rec| rec["id"].as_u64().map(|n| n.to_string()))
            .collect())
    }

    /// Every item of a paginated list.
    async fn list(&self, path: &str) -> Result<Vec<Value>, DnsError> {
        let mut out = Vec::new();
        let mut page = 1u64;
        loop {
            let r = self
                .api(
                    reqwest::Method::GET,
                    &format!("{path}?page={page}&page_size={PAGE_SIZE}"),
                    None,
                )
                .await?;
            out.extend(r["data"].as_array().into_iter().flatten().cloned());
            let pages = r["pages"].as_u64().unwrap_or(1);
            if page >= pages {
                return Ok(out);
            }
            page += 1;
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
                let reasons: Vec<&str> = json["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["reason"].as_str())
                    .collect();
                let message = (!reasons.is_empty()).then(|| reasons.join("; "));
                let hint = if matches!(status, 401 | 403) {
                    format!("check {KEY_TOKEN} in {PLUGIN}.ini (it needs Domains: Read/Write)")
                } else {
                    String::new()
                };
                (message, hint)
            },
        )
        .await
    }
}
