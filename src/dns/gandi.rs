//! Gandi LiveDNS (API v5). SWAG's plugin is certbot-plugin-gandi
//! (`gandi.ini`): `dns_gandi_token`, a personal access token sent as
//! `Authorization: Bearer`, or the legacy `dns_gandi_api_key` sent as
//! `Authorization: Apikey`; optional `dns_gandi_sharing_id` (an organization
//! id) goes along as `sharing_id`.
//!
//! The zone is the longest suffix `GET domains/<suffix>` knows. LiveDNS keeps
//! the TXT values of a name in one rrset, so `present` reads it and PUTs it
//! back with the new value added, and `cleanup` PUTs it without that value
//! (or DELETEs it when it was the last), serialised so the apex and wildcard
//! values never clobber each other.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::http::{json_api, json_message, ApiError, HttpClient, JsonCall, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{challenge_bases, relative_name, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `gandi.ini`: a personal access token (LiveDNS: manage domain DNS records).
pub const KEY_TOKEN: &str = "dns_gandi_token";
/// `gandi.ini`: the legacy API key (used when there is no token).
pub const KEY_API_KEY: &str = "dns_gandi_api_key";
/// `gandi.ini`: optional organization (sharing) id.
pub const KEY_SHARING_ID: &str = "dns_gandi_sharing_id";
/// moat extension (tests only): the API base URL; default [`DEFAULT_ENDPOINT`].
pub const KEY_ENDPOINT: &str = "dns_gandi_endpoint";
/// LiveDNS v5 base.
pub const DEFAULT_ENDPOINT: &str = "https://api.gandi.net/v5/livedns/";
/// TTL of challenge rrsets (LiveDNS's minimum).
pub const RECORD_TTL: u32 = 300;
const PLACEHOLDER_TOKEN: &str = "TOKEN";
const PLACEHOLDER_SHARING_ID: &str = "SHARINGID";
const PLUGIN: &str = "gandi";

/// How requests authenticate.
#[derive(Debug, Clone)]
pub enum GandiAuth {
    /// `Authorization: Bearer <personal access token>`.
    Token(Secret),
    /// `Authorization: Apikey <legacy API key>`.
    ApiKey(Secret),
}

/// Settings from `gandi.ini`.
#[derive(Debug, Clone)]
pub struct GandiConfig {
    /// The credential.
    pub auth: GandiAuth,
    /// The organization id, if any.
    pub sharing_id: Option<String>,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl GandiConfig {
    /// Reads `gandi.ini`: the token, or else the API key.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let auth = if ini.optional(KEY_TOKEN).is_some() || ini.optional(KEY_API_KEY).is_none() {
            let (token, _) = ini.required_secret(
                KEY_TOKEN,
                "a Gandi personal access token (or set dns_gandi_api_key)",
                PLACEHOLDER_TOKEN,
            )?;
            GandiAuth::Token(token)
        } else {
            let (key, _) =
                ini.required_secret(KEY_API_KEY, "your Gandi API key", PLACEHOLDER_TOKEN)?;
            GandiAuth::ApiKey(key)
        };
        let sharing_id = match ini.optional(KEY_SHARING_ID) {
            Some((id, line)) => {
                ini.refuse_placeholder(
                    KEY_SHARING_ID,
                    id,
                    line,
                    PLACEHOLDER_SHARING_ID,
                    "your organization id, or remove the line",
                )?;
                Some(id.to_owned())
            }
            None => None,
        };
        Ok(GandiConfig {
            auth,
            sharing_id,
            endpoint: ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The Gandi provider.
#[derive(Debug)]
pub struct GandiProvider {
    config: GandiConfig,
    http: HttpClient,
    zones: Mutex<HashMap<String, String>>,
    write: tokio::sync::Mutex<()>,
}

impl GandiProvider {
    /// A provider for `config`.
    pub fn new(config: GandiConfig) -> Result<Self, DnsError> {
        Ok(GandiProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
            zones: Mutex::new(HashMap::new()),
            write: tokio::sync::Mutex::new(()),
        })
    }

    /// Builds the provider from `gandi.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(GandiConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for GandiProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let domains = &challenge_bases(domains)[..];
        let what = match self.config.auth {
            GandiAuth::Token(_) => "token",
            GandiAuth::ApiKey(_) => "API key",
        };
        if domains.is_empty() {
            self.api(reqwest::Method::GET, "domains", None).await?;
            return Ok(format!("{PLUGIN}: {what} accepted"));
        }
        let mut zones = Vec::new();
        for d in domains {
            zones.push(format!("{d} in zone {}", self.find_zone(d).await?));
        }
        Ok(format!("{PLUGIN}: {what} accepted; {}", zones.join(", ")))
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let _guard = self.write.lock().await;
        let zone = self.find_zone(&fqdn).await?;
        let path = rrset_path(&zone, &fqdn);
        let (ttl, mut values) = self.read(&path).await?.unwrap_or((RECORD_TTL, Vec::new()));
        let handle = RecordHandle {
            fqdn: fqdn.clone(),
            value: value.to_owned(),
            id: None,
            zone: Some(zone),
        };
        if values.iter().any(|v| v == value) {
            tracing::info!(%fqdn, "{PLUGIN}: TXT value already present");
            return Ok(handle);
        }
        values.push(value.to_owned());
        self.write_set(&path, ttl, &values).await?;
        tracing::info!(%fqdn, values = values.len(), "{PLUGIN}: TXT value added");
        Ok(handle)
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let _guard = self.write.lock().await;
        let zone = match &handle.zone {
            Some(z) => z.clone(),
            None => self.find_zone(&handle.fqdn).await?,
        };
        let path = rrset_path(&zone, &handle.fqdn);
        let Some((ttl, values)) = self.read(&path).await? else {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT record already gone");
            return Ok(());
        };
        if !values.contains(&handle.value) {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value already gone");
            return Ok(());
        }
        let rest: Vec<String> = values.into_iter().filter(|v| *v != handle.value).collect();
        if rest.is_empty() {
            match self.api(reqwest::Method::DELETE, &path, None).await {
                Ok(_) | Err(ApiError { status: 404, .. }) => {}
                Err(e) => return Err(e.error),
            }
        } else {
            self.write_set(&path, ttl, &rest).await?;
        }
        tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value deleted");
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        // certbot-plugin-gandi's default.
        Duration::from_secs(10)
    }
}

/// `domains/<zone>/records/<name>/TXT`, the name relative to the zone.
fn rrset_path(zone: &str, fqdn: &str) -> String {
    format!("domains/{zone}/records/{}/TXT", relative_name(fqdn, zone))
}

/// The TXT string without its quotes (LiveDNS answers them quoted).
fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v[1..v.len() - 1].replace("\\\"", "\"")
    } else {
        v.to_owned()
    }
}

impl GandiProvider {
    /// The LiveDNS domain holding `name`, longest suffix first (404: not one).
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
            format!(
                "no LiveDNS domain of this account holds {name}: check that the domain uses \
                 Gandi's LiveDNS name servers (and {KEY_SHARING_ID} for an organization's domain)"
            ),
        ))
    }

    /// The rrset's TTL and unquoted values, or `None` (404).
    async fn read(&self, path: &str) -> Result<Option<(u32, Vec<String>)>, DnsError> {
        match self.api(reqwest::Method::GET, path, None).await {
            Ok(v) => Ok(Some((
                v["rrset_ttl"]
                    .as_u64()
                    .and_then(|t| u32::try_from(t).ok())
                    .unwrap_or(RECORD_TTL),
                v["rrset_values"]
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

    async fn write_set(&self, path: &str, ttl: u32, values: &[String]) -> Result<(), DnsError> {
        let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
        let body = json!({"rrset_ttl": ttl, "rrset_values": quoted});
        self.api(reqwest::Method::PUT, path, Some(body)).await?;
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
        let auth = match &self.config.auth {
            GandiAuth::Token(t) => format!("Bearer {}", t.expose()),
            GandiAuth::ApiKey(k) => format!("Apikey {}", k.expose()),
        };
        let key = match self.config.auth {
            GandiAuth::Token(_) => KEY_TOKEN,
            GandiAuth::ApiKey(_) => KEY_API_KEY,
        };
        let path = match &self.config.sharing_id {
            Some(id) => format!(
                "{path}{}sharing_id={}",
                if path.contains('?') { '&' } else { '?' },
                super::aliyun_sign::percent_encode(id)
            ),
            None => path.to_owned(),
        };
        json_api(
            &self.http,
            &self.config.endpoint,
            JsonCall {
                method,
                path: &path,
                body,
            },
            &|req, _, _| req.header("authorization", &auth),
            &|status, json| {
                let hint = match status {
                    401 => format!("check {key} in {PLUGIN}.ini"),
                    403 => format!(
                        "the {key} in {PLUGIN}.ini may not manage this domain's DNS records \
                         (a personal access token needs the \"Manage domain name technical \
                         configurations\" permission for it)"
                    ),
                    _ => String::new(),
                };
                (json_message(json, "message"), hint)
            },
        )
        .await
    }
}
