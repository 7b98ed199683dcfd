//! TransIP through its REST API v6 (certbot-dns-transip, `transip.ini`:
//! `dns_transip_username` and `dns_transip_key_file`, the account's API
//! private key). As TransIP documents, `POST auth` carries a JSON body
//! (login, nonce, label, expiration) signed with the key (RSA, SHA-512,
//! base64 in the `Signature` header) and answers a token, sent as
//! `Authorization: Bearer` on every other call.
//!
//! The zone is the longest suffix `GET domains/<suffix>` knows; a value is
//! added with `POST domains/<zone>/dns` and removed with
//! `DELETE domains/<zone>/dns`, both naming the exact entry (name relative
//! to the zone, type, expire, content), so no sibling value is touched.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::http::{json_api, json_message, ApiError, HttpClient, JsonCall, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{challenge_bases, relative_name, zone_candidates};
use super::rsa_key::{Digest, RsaKey};
use super::token_cache::TokenCache;
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `transip.ini`: the TransIP account name.
pub const KEY_USERNAME: &str = "dns_transip_username";
/// `transip.ini`: the path of the API private key (PEM).
pub const KEY_KEY_FILE: &str = "dns_transip_key_file";
/// moat extension (tests only): the API base URL; default [`DEFAULT_ENDPOINT`].
pub const KEY_ENDPOINT: &str = "dns_transip_endpoint";
/// TransIP's API v6 base.
pub const DEFAULT_ENDPOINT: &str = "https://api.transip.nl/v6/";
/// `expire` (TTL) of challenge entries.
pub const RECORD_TTL: u32 = 60;
/// How long a token is asked for (and reused a little less).
const TOKEN_LIFETIME: &str = "30 minutes";
const TOKEN_LIFETIME_SECS: Duration = Duration::from_secs(30 * 60);
const PLUGIN: &str = "transip";

/// Settings from `transip.ini`.
#[derive(Debug)]
pub struct TransipConfig {
    /// The account name.
    pub username: String,
    /// The API key.
    key: RsaKey,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl TransipConfig {
    /// Reads `transip.ini` and the key file it names (a relative path is
    /// taken from the ini file's directory).
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (username, line) = ini.required(KEY_USERNAME, "your TransIP username")?;
        ini.refuse_placeholder(KEY_USERNAME, username, line, "", "your TransIP username")?;
        let (path, line) = ini.required(KEY_KEY_FILE, "the path of your API private key")?;
        let (path, pem) = ini.read_file(
            KEY_KEY_FILE,
            path,
            line,
            "save the key pair's private key from TransIP's control panel there",
        )?;
        let key = RsaKey::from_pem(&pem).map_err(|e| {
            ini.error(
                Some(line),
                format!("{KEY_KEY_FILE}: {}: {e}", path.display()),
            )
        })?;
        Ok(TransipConfig {
            username: username.to_owned(),
            key,
            endpoint: ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The TransIP provider.
#[derive(Debug)]
pub struct TransipProvider {
    config: TransipConfig,
    http: HttpClient,
    token: TokenCache,
}

impl TransipProvider {
    /// A provider for `config`.
    pub fn new(config: TransipConfig) -> Result<Self, DnsError> {
        Ok(TransipProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
            token: TokenCache::default(),
        })
    }

    /// Builds the provider from `transip.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(TransipConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for TransipProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        self.token().await?;
        let mut zones = Vec::new();
        for d in challenge_bases(domains) {
            zones.push(format!("{d} in zone {}", self.find_zone(&d).await?));
        }
        let head = format!("{PLUGIN}: key accepted for {}", self.config.username);
        Ok(if zones.is_empty() {
            head
        } else {
            format!("{head}; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let zone = self.find_zone(&fqdn).await?;
        self.api(JsonCall::with(
            reqwest::Method::POST,
            &format!("domains/{zone}/dns"),
            entry(&fqdn, &zone, value),
        ))
        .await?;
        tracing::info!(%fqdn, "{PLUGIN}: TXT record added");
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
        let path = format!("domains/{zone}/dns");
        let listed = self.api(JsonCall::new(reqwest::Method::GET, &path)).await?;
        let name = relative_name(&handle.fqdn, &zone);
        // The entry as it is (its expire may differ), so DELETE matches it.
        let found: Vec<Value> = listed["dnsEntries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                e["type"] == "TXT"
                    && e["name"] == name.as_str()
                    && e["content"] == handle.value.as_str()
            })
            .cloned()
            .collect();
        if found.is_empty() {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT record already gone");
        }
        for e in found {
            match self
                .call(JsonCall::with(
                    reqwest::Method::DELETE,
                    &path,
                    json!({"dnsEntry": e}),
                ))
                .await
            {
                Ok(_) => tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT record deleted"),
                Err(ApiError { status: 404, .. }) => {}
                Err(e) => return Err(e.error),
            }
        }
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        // certbot-dns-transip's default.
        Duration::from_secs(240)
    }
}

/// The `dnsEntry` TransIP creates and deletes.
fn entry(fqdn: &str, zone: &str, value: &str) -> Value {
    json!({"dnsEntry": {
        "name": relative_name(fqdn, zone),
        "expire": RECORD_TTL,
        "type": "TXT",
        "content": value,
    }})
}

/// A nonce for the auth request (TransIP wants one per request, at most 32).
fn nonce() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..24)
        .map(|_| format!("{:x}", rng.random_range(0..16u8)))
        .collect()
}

impl TransipProvider {
    /// A token: the cached one, or a new one from a signed `POST auth`.
    async fn token(&self) -> Result<Secret, DnsError> {
        self.token.get(|| self.sign_in()).await
    }

    /// A signed `POST auth`: a token for [`TOKEN_LIFETIME`].
    async fn sign_in(&self) -> Result<(Secret, Duration), DnsError> {
        let nonce = nonce();
        let body = json!({
            "login": self.config.username,
            "nonce": nonce,
            "read_only": false,
            "expiration_time": TOKEN_LIFETIME,
            "label": format!("moat-{nonce}"),
            "global_key": false,
        })
        .to_string();
        let sig = self
            .config
            .key
            .sign(Digest::Sha512, body.as_bytes())
            .map_err(|e| DnsError::api(PLUGIN, e))?;
        let sig = STANDARD.encode(sig);
        let user = &self.config.username;
        let r = json_api(
            &self.http,
            &self.config.endpoint,
            JsonCall::new(reqwest::Method::POST, "auth"),
            &|req, _, _| {
                req.header("content-type", "application/json")
                    .header("signature", &sig)
                    .body(body.clone())
            },
            &|status, json| {
                let hint = match status {
                    401 => format!(
                        "check {KEY_USERNAME} ({user}) and the key in {KEY_KEY_FILE} in \
                         {PLUGIN}.ini (the key pair may have been deleted)"
                    ),
                    403 => "TransIP refused this address: add it to the API whitelist \
                            (My Account > API)"
                        .to_owned(),
                    _ => String::new(),
                };
                (json_message(json, "error"), hint)
            },
        )
        .await
        .map_err(|e: ApiError| e.error)?;
        let Some(token) = r["token"].as_str() else {
            return Err(DnsError::api(PLUGIN, "POST auth answered no token"));
        };
        Ok((Secret::new(token), TOKEN_LIFETIME_SECS))
    }

    /// The account's domain holding `name`, longest suffix first.
    async fn find_zone(&self, name: &str) -> Result<String, DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        for candidate in zone_candidates(&name) {
            match self
                .call(JsonCall::new(
                    reqwest::Method::GET,
                    &format!("domains/{candidate}"),
                ))
                .await
            {
                Ok(_) => return Ok(candidate),
                Err(ApiError {
                    status: 404 | 406, ..
                }) => {}
                Err(e) => return Err(e.error),
            }
        }
        Err(DnsError::api(
            PLUGIN,
            format!(
                "no domain of the TransIP account {} holds {name}",
                self.config.username
            ),
        ))
    }

    async fn api(&self, call: JsonCall<'_>) -> Result<Value, DnsError> {
        self.call(call).await.map_err(|e| e.error)
    }

    async fn call(&self, call: JsonCall<'_>) -> Result<Value, ApiError> {
        let token = self
            .token()
            .await
            .map_err(|error| ApiError { status: 0, error })?;
        json_api(
            &self.http,
            &self.config.endpoint,
            call,
            &|req, _, _| req.bearer_auth(token.expose()),
            &|status, json| {
                let hint = match status {
                    401 => format!("check {KEY_USERNAME} and {KEY_KEY_FILE} in {PLUGIN}.ini"),
                    403 => "TransIP refused the call: check the API whitelist and that the \
                            key is not read-only"
                        .to_owned(),
                    _ => String::new(),
                };
                (json_message(json, "error"), hint)
            },
        )
        .await
    }
}
