//! Cloudflare API v4: zone lookup by name, TXT records created and deleted by
//! id. Authenticates with an API token (preferred) or the legacy account email
//! plus Global API Key, as certbot-dns-cloudflare does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::http::{snippet, HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::zone_candidates;
use super::{DnsError, DnsProvider, RecordHandle, Secret};

const NAME: &str = "cloudflare";
/// An API token with Zone:DNS:Edit and Zone:Zone:Read.
pub const KEY_API_TOKEN: &str = "dns_cloudflare_api_token";
/// Legacy: the account email (with [`KEY_API_KEY`]).
pub const KEY_EMAIL: &str = "dns_cloudflare_email";
/// Legacy: the Global API Key (with [`KEY_EMAIL`]).
pub const KEY_API_KEY: &str = "dns_cloudflare_api_key";
/// moat extension: the API base URL; default [`DEFAULT_ENDPOINT`] (tests).
pub const KEY_ENDPOINT: &str = "dns_cloudflare_endpoint";
/// Cloudflare's API v4 base.
pub const DEFAULT_ENDPOINT: &str = "https://api.cloudflare.com/client/v4/";
/// TTL of challenge records (certbot-dns-cloudflare's).
pub const RECORD_TTL: u32 = 120;
const PLACEHOLDER_TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";
const PLACEHOLDER_EMAIL: &str = "cloudflare@example.com";

/// How requests authenticate.
#[derive(Debug, Clone)]
pub enum CloudflareAuth {
    /// `Authorization: Bearer <token>`.
    Token(Secret),
    /// `X-Auth-Email` + `X-Auth-Key` (Global API Key).
    GlobalKey {
        /// Account email.
        email: String,
        /// Global API Key.
        key: Secret,
    },
}

/// Settings from `cloudflare.ini`.
#[derive(Debug, Clone)]
pub struct CloudflareConfig {
    /// Token or legacy key.
    pub auth: CloudflareAuth,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange; default 15 s.
    pub timeout: Duration,
}

impl CloudflareConfig {
    /// Reads the keys; exactly one auth style must be set.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let token = ini.optional(KEY_API_TOKEN);
        let email = ini.optional(KEY_EMAIL);
        let key = ini.optional(KEY_API_KEY);
        let auth = match (token, email, key) {
            (Some((_, tl)), Some((_, el)), _) | (Some((_, tl)), _, Some((_, el))) => {
                return Err(ini.error(
                    Some(tl.max(el)),
                    format!(
                        "both {KEY_API_TOKEN} (line {tl}) and the legacy {KEY_EMAIL}/{KEY_API_KEY} \
                         (line {el}) are set: keep only one style (the token is preferred)"
                    ),
                ))
            }
            (Some(_), None, None) => {
                let (t, _) = ini.required_secret(KEY_API_TOKEN, "an API token", PLACEHOLDER_TOKEN)?;
                CloudflareAuth::Token(t)
            }
            (None, Some(_), _) | (None, _, Some(_)) => {
                let (email, line) = ini.required(KEY_EMAIL, "the Cloudflare account email")?;
                ini.refuse_placeholder(KEY_EMAIL, email, line, PLACEHOLDER_EMAIL, "your account email")?;
                let (key, _) = ini.required_secret(KEY_API_KEY, "the Global API Key", PLACEHOLDER_TOKEN)?;
                CloudflareAuth::GlobalKey {
                    email: email.to_owned(),
                    key,
                }
            }
            (None, None, None) => {
                return Err(ini.error(
                    None,
                    format!("missing key {KEY_API_TOKEN}: add `{KEY_API_TOKEN} = <token>` (or {KEY_EMAIL} and {KEY_API_KEY})"),
                ))
            }
        };
        let endpoint = ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?;
        Ok(CloudflareConfig {
            auth,
            endpoint,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The Cloudflare provider.
#[derive(Debug)]
pub struct CloudflareProvider {
    config: CloudflareConfig,
    http: HttpClient,
    zones: Mutex<HashMap<String, (String, String)>>,
}

impl CloudflareProvider {
    /// A provider for `config`.
    pub fn new(config: CloudflareConfig) -> Result<Self, DnsError> {
        Ok(CloudflareProvider {
            http: HttpClient::new(NAME, config.timeout)?,
            config,
            zones: Mutex::new(HashMap::new()),
        })
    }

    /// Builds the provider from `cloudflare.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(CloudflareConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for CloudflareProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let who = match &self.config.auth {
            CloudflareAuth::Token(_) => {
                let r = self
                    .api(reqwest::Method::GET, "user/tokens/verify", None)
                    .await?;
                let status = r["result"]["status"].as_str().unwrap_or("unknown");
                if status != "active" {
                    return Err(DnsError::api(
                        NAME,
                        format!("the API token is {status}, not active"),
                    ));
                }
                "API token active"
            }
            CloudflareAuth::GlobalKey { .. } => {
                self.api(reqwest::Method::GET, "user", None).await?;
                "Global API Key accepted"
            }
        };
        let mut zones = Vec::new();
        for d in domains {
            let (_, zone) = self.find_zone(d).await?;
            zones.push(format!("{d} in zone {zone}"));
        }
        Ok(if zones.is_empty() {
            format!("cloudflare: {who}")
        } else {
            format!("cloudflare: {who}; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let (zone_id, _zone) = self.find_zone(&fqdn).await?;
        let body = json!({"type": "TXT", "name": fqdn, "content": value, "ttl": RECORD_TTL});
        let id = match self
            .api(
                reqwest::Method::POST,
                &format!("zones/{zone_id}/dns_records"),
                Some(body),
            )
            .await
        {
            Ok(r) => r["result"]["id"].as_str().map(str::to_owned),
            // 81057/81058: an identical record already exists.
            Err(CfError { codes, .. }) if codes.iter().any(|c| *c == 81057 || *c == 81058) => {
                self.find_record(&zone_id, &fqdn, value).await?
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(%fqdn, record_id = ?id, "cloudflare: TXT record added");
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
            None => self.find_zone(&handle.fqdn).await?.0,
        };
        let id = match &handle.id {
            Some(id) => Some(id.clone()),
            None => {
                self.find_record(&zone_id, &handle.fqdn, &handle.value)
                    .await?
            }
        };
        let Some(id) = id else { return Ok(()) };
        match self
            .api(
                reqwest::Method::DELETE,
                &format!("zones/{zone_id}/dns_records/{id}"),
                None,
            )
            .await
        {
            Ok(_) => {
                tracing::info!(fqdn = %handle.fqdn, record_id = %id, "cloudflare: TXT record deleted");
                Ok(())
            }
            Err(CfError { status: 404, .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn propagation_default(&self) -> Duration {
        Duration::from_secs(10)
    }
}

/// An API failure with Cloudflare's error codes kept for matching.
#[derive(Debug)]
struct CfError {
    status: u16,
    codes: Vec<i64>,
    error: DnsError,
}

impl From<CfError> for DnsError {
    fn from(e: CfError) -> Self {
        e.error
    }
}

impl From<DnsError> for CfError {
    fn from(error: DnsError) -> Self {
        CfError {
            status: 0,
            codes: Vec::new(),
            error,
        }
    }
}

impl CloudflareProvider {
    /// The zone id and name holding `name`: `GET zones?name=` on each suffix.
    async fn find_zone(&self, name: &str) -> Result<(String, String), DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(z) = self
            .zones
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name)
        {
            return Ok(z.clone());
        }
        for candidate in zone_candidates(&name) {
            let r = self
                .api(
                    reqwest::Method::GET,
                    &format!("zones?name={candidate}"),
                    None,
                )
                .await?;
            let found = r["result"].as_array().into_iter().flatten().find(|z| {
                z["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&candidate))
            });
            if let Some(id) = found.and_then(|z| z["id"].as_str()) {
                let hit = (id.to_owned(), candidate);
                self.zones
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name, hit.clone());
                return Ok(hit);
            }
        }
        Err(DnsError::api(
            NAME,
            format!("no zone these credentials can read holds {name}: give the token Zone:Zone:Read and Zone:DNS:Edit on it"),
        ))
    }

    async fn find_record(
        &self,
        zone_id: &str,
        fqdn: &str,
        value: &str,
    ) -> Result<Option<String>, DnsError> {
        let r = self
            .api(
                reqwest::Method::GET,
                &format!("zones/{zone_id}/dns_records?type=TXT&name={fqdn}&per_page=100"),
                None,
            )
            .await?;
        Ok(r["result"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|rec| {
                let content = rec["content"].as_str().unwrap_or_default();
                content == value || content.trim_matches('"') == value
            })
            .and_then(|rec| rec["id"].as_str().map(str::to_owned)))
    }

    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CfError> {
        let url =
            self.config.endpoint.join(path).map_err(|e| {
                CfError::from(DnsError::api(NAME, format!("bad API path {path}: {e}")))
            })?;
        let reply = self
            .http
            .send(path.split('?').next().unwrap_or(path), || {
                let mut req = self.http.inner().request(method.clone(), url.clone());
                req = match &self.config.auth {
                    CloudflareAuth::Token(t) => req.bearer_auth(t.expose()),
                    CloudflareAuth::GlobalKey { email, key } => req
                        .header("X-Auth-Email", email.as_str())
                        .header("X-Auth-Key", key.expose()),
                };
                if let Some(b) = &body {
                    req = req.json(b);
                }
                req
            })
            .await?;
        let json: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        if reply.status < 400 && json["success"].as_bool() == Some(true) {
            return Ok(json);
        }
        let errors: Vec<(i64, String)> = json["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["code"].as_i64().unwrap_or(0),
                    e["message"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let codes: Vec<i64> = errors.iter().map(|(c, _)| *c).collect();
        let listed = if errors.is_empty() {
            format!("HTTP {}: {}", reply.status, snippet(&reply.body))
        } else {
            errors
                .iter()
                .map(|(c, m)| format!("{c} {m}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let hint = if reply.status == 401
            || reply.status == 403
            || codes
                .iter()
                .any(|c| matches!(c, 6003 | 9103 | 9109 | 10000))
        {
            "; check the credentials in cloudflare.ini and the token's permissions (Zone:DNS:Edit, Zone:Zone:Read)"
        } else {
            ""
        };
        Err(CfError {
            status: reply.status,
            codes,
            error: DnsError::api(
                NAME,
                format!(
                    "{method} {}: {listed}{hint}",
                    path.split('?').next().unwrap_or(path)
                ),
            ),
        })
    }
}
