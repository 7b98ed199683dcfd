//! DNSimple through API v2 (certbot-dns-dnsimple, `dnsimple.ini`,
//! `dns_dnsimple_token`, sent as `Authorization: Bearer`). The account is the
//! token's own (`GET whoami`), or for a user token, the first of its
//! accounts (`GET accounts`) with the zone. The zone is the longest suffix
//! `GET <account>/zones/<suffix>` knows; TXT records are created in it and
//! deleted by id.

use std::time::Duration;

use serde_json::{json, Value};

use super::http::{json_api, json_message, ApiError, HttpClient, JsonCall, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{challenge_bases, relative_name, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `dnsimple.ini`: an account (or user) API token.
pub const KEY_TOKEN: &str = "dns_dnsimple_token";
/// moat extension (tests only): the API base URL; default [`DEFAULT_ENDPOINT`].
pub const KEY_ENDPOINT: &str = "dns_dnsimple_endpoint";
/// DNSimple's API v2 base.
pub const DEFAULT_ENDPOINT: &str = "https://api.dnsimple.com/v2/";
/// TTL of challenge records (DNSimple's minimum).
pub const RECORD_TTL: u32 = 60;
const PLACEHOLDER_TOKEN: &str = "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw";
const PLUGIN: &str = "dnsimple";

/// Settings from `dnsimple.ini`.
#[derive(Debug, Clone)]
pub struct DnsimpleConfig {
    /// The API token.
    pub token: Secret,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl DnsimpleConfig {
    /// Reads `dnsimple.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (token, _) =
            ini.required_secret(KEY_TOKEN, "a DNSimple API token", PLACEHOLDER_TOKEN)?;
        Ok(DnsimpleConfig {
            token,
            endpoint: ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The DNSimple provider.
#[derive(Debug)]
pub struct DnsimpleProvider {
    config: DnsimpleConfig,
    http: HttpClient,
}

impl DnsimpleProvider {
    /// A provider for `config`.
    pub fn new(config: DnsimpleConfig) -> Result<Self, DnsError> {
        Ok(DnsimpleProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
        })
    }

    /// Builds the provider from `dnsimple.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(DnsimpleConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for DnsimpleProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let domains = &challenge_bases(domains)[..];
        let accounts = self.accounts().await?;
        let mut zones = Vec::new();
        for d in domains {
            let (account, zone) = self.find_zone(&accounts, d).await?;
            zones.push(format!("{d} in zone {zone} (account {account})"));
        }
        let head = format!("{PLUGIN}: token accepted");
        Ok(if zones.is_empty() {
            head
        } else {
            format!("{head}; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let (account, zone) = self.find_zone(&self.accounts().await?, &fqdn).await?;
        let body = json!({
            "name": record_name(&fqdn, &zone),
            "type": "TXT",
            "content": value,
            "ttl": RECORD_TTL,
        });
        let r = self
            .api(
                reqwest::Method::POST,
                &format!("{account}/zones/{zone}/records"),
                Some(body),
            )
            .await?;
        let id = r["data"]["id"].as_u64().map(|n| n.to_string());
        tracing::info!(%fqdn, record_id = ?id, "{PLUGIN}: TXT record added");
        Ok(RecordHandle {
            fqdn,
            value: value.to_owned(),
            id,
            zone: Some(format!("{account}/{zone}")),
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let (account, zone) = match handle.zone.as_deref().and_then(|z| z.split_once('/')) {
            Some((a, z)) => (a.to_owned(), z.to_owned()),
            None => {
                self.find_zone(&self.accounts().await?, &handle.fqdn)
                    .await?
            }
        };
        let ids = match &handle.id {
            Some(id) => vec![id.clone()],
            None => self.find_records(&account, &zone, handle).await?,
        };
        for id in ids {
            match self
                .api(
                    reqwest::Method::DELETE,
                    &format!("{account}/zones/{zone}/records/{id}"),
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
        Duration::from_secs(30)
    }
}

/// DNSimple's record name: relative to the zone, empty for the apex.
fn record_name(fqdn: &str, zone: &str) -> String {
    match relative_name(fqdn, zone).as_str() {
        "@" => String::new(),
        n => n.to_owned(),
    }
}

impl DnsimpleProvider {
    /// The token's account, or a user token's accounts.
    async fn accounts(&self) -> Result<Vec<String>, DnsError> {
        let who = self.api(reqwest::Method::GET, "whoami", None).await?;
        if let Some(id) = who["data"]["account"]["id"].as_u64() {
            return Ok(vec![id.to_string()]);
        }
        let all = self.api(reqwest::Method::GET, "accounts", None).await?;
        Ok(all["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["id"].as_u64().map(|n| n.to_string()))
            .collect())
    }

    /// The (account, zone) holding `name`, longest suffix first.
    async fn find_zone(
        &self,
        accounts: &[String],
        name: &str,
    ) -> Result<(String, String), DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        for candidate in zone_candidates(&name) {
            for account in accounts {
                match self
                    .api(
                        reqwest::Method::GET,
                        &format!("{account}/zones/{candidate}"),
                        None,
                    )
                    .await
                {
                    Ok(_) => return Ok((account.clone(), candidate)),
                    Err(ApiError { status: 404, .. }) => {}
                    Err(e) => return Err(e.error),
                }
            }
        }
        Err(DnsError::api(
            PLUGIN,
            format!("no zone in this DNSimple account holds {name}"),
        ))
    }

    /// Ids of the TXT records at the handle's name with exactly its value.
    async fn find_records(
        &self,
        account: &str,
        zone: &str,
        handle: &RecordHandle,
    ) -> Result<Vec<String>, DnsError> {
        let name = record_name(&handle.fqdn, zone);
        let r = self
            .api(
                reqwest::Method::GET,
                &format!("{account}/zones/{zone}/records?name={name}&type=TXT&per_page=100"),
                None,
            )
            .await?;
        Ok(r["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|rec| {
                rec["type"].as_str() == Some("TXT")
                    && rec["name"].as_str() == Some(name.as_str())
                    && rec["content"].as_str() == Some(handle.value.as_str())
            })
            .filter_map(|rec| rec["id"].as_u64().map(|n| n.to_string()))
            .collect())
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
                        "the token in {PLUGIN}.ini ({KEY_TOKEN}) may not change this zone's records"
                    ),
                    _ => String::new(),
                };
                (json_message(json, "message"), hint)
            },
        )
        .await
    }
}
