//! INWX through its DomRobot XML-RPC API (certbot-dns-inwx, `inwx.ini`:
//! `dns_inwx_url`, `dns_inwx_username`, `dns_inwx_password`, optional
//! `dns_inwx_shared_secret`). Each operation is one session:
//! `account.login` (its session cookie on every later call), then, when the
//! account has two-factor authentication, `account.unlock` with the current
//! TOTP code computed from the shared secret (RFC 6238), the work, and
//! `account.logout`.
//!
//! The zone is the longest suffix `nameserver.info` knows; a value is added
//! with `nameserver.createRecord` (its id kept) and removed with
//! `nameserver.deleteRecord` by id, or, with the id lost, by name and value
//! as `nameserver.info` lists them.

use std::time::Duration;

use serde_json::{json, Value};

use super::http::{snippet, HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{challenge_bases, relative_name, zone_candidates};
use super::{totp, xmlrpc};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `inwx.ini`: the XML-RPC endpoint (`https://api.domrobot.com/xmlrpc/`,
/// or the OTE test system's).
pub const KEY_URL: &str = "dns_inwx_url";
/// `inwx.ini`: the account name.
pub const KEY_USERNAME: &str = "dns_inwx_username";
/// `inwx.ini`: the account password.
pub const KEY_PASSWORD: &str = "dns_inwx_password";
/// `inwx.ini`: the two-factor shared secret (base32), when 2FA is on.
pub const KEY_SHARED_SECRET: &str = "dns_inwx_shared_secret";
/// INWX's production endpoint.
pub const DEFAULT_URL: &str = "https://api.domrobot.com/xmlrpc/";
/// TTL of challenge records (INWX's minimum).
pub const RECORD_TTL: u32 = 300;
const PLUGIN: &str = "inwx";
const PLACEHOLDER_USERNAME: &str = "your_username";
const PLACEHOLDER_PASSWORD: &str = "your_password";
const PLACEHOLDER_SECRET: &str = "your_shared_secret optional";
/// DomRobot's result codes that matter here.
const OK: i64 = 1000;
const AUTH_ERROR: i64 = 2200;
const NO_OBJECT: i64 = 2303;

/// Settings from `inwx.ini`.
#[derive(Debug, Clone)]
pub struct InwxConfig {
    /// The account.
    pub username: String,
    /// Its password.
    pub password: Secret,
    /// The decoded 2FA shared secret, when given.
    pub shared_secret: Option<Secret>,
    /// The XML-RPC endpoint.
    pub url: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl InwxConfig {
    /// Reads `inwx.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (username, line) = ini.required(KEY_USERNAME, "your INWX user name")?;
        ini.refuse_placeholder(
            KEY_USERNAME,
            username,
            line,
            PLACEHOLDER_USERNAME,
            "your INWX user name",
        )?;
        let (password, _) =
            ini.required_secret(KEY_PASSWORD, "your INWX password", PLACEHOLDER_PASSWORD)?;
        let shared_secret = match ini.optional(KEY_SHARED_SECRET) {
            Some((s, line)) => {
                ini.refuse_placeholder(
                    KEY_SHARED_SECRET,
                    s,
                    line,
                    PLACEHOLDER_SECRET,
                    "your two-factor shared secret, or remove the line when 2FA is off",
                )?;
                if totp::base32_decode(s).is_none() {
                    return Err(ini.error(
                        Some(line),
                        format!(
                            "{KEY_SHARED_SECRET} is not base32: use the secret INWX showed \
                             when 2FA was turned on (the text under the QR code)"
                        ),
                    ));
                }
                Some(Secret::new(s))
            }
            None => None,
        };
        Ok(InwxConfig {
            username: username.to_owned(),
            password,
            shared_secret,
            url: ini.endpoint(KEY_URL, DEFAULT_URL)?,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The INWX provider.
#[derive(Debug)]
pub struct InwxProvider {
    config: InwxConfig,
    http: HttpClient,
}

impl InwxProvider {
    /// A provider for `config`.
    pub fn new(config: InwxConfig) -> Result<Self, DnsError> {
        Ok(InwxProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
        })
    }

    /// Builds the provider from `inwx.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(InwxConfig::from_ini(ini)?)?))
    }
}

/// A logged-in DomRobot session.
struct Session<'p> {
    provider: &'p InwxProvider,
    cookies: Vec<String>,
}

#[async_trait::async_trait]
impl DnsProvider for InwxProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let s = self.login().await?;
        let result = async {
            let mut zones = Vec::new();
            for d in challenge_bases(domains) {
                zones.push(format!("{d} in zone {}", s.find_zone(&d).await?.0));
            }
            Ok::<_, DnsError>(zones)
        }
        .await;
        s.logout().await;
        let zones = result?;
        let head = format!("{PLUGIN}: login accepted for {}", self.config.username);
        Ok(if zones.is_empty() {
            head
        } else {
            format!("{head}; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let s = self.login().await?;
        let result = async {
            let (zone, _) = s.find_zone(&fqdn).await?;
            let r = s
                .call(
                    "nameserver.createRecord",
                    json!({
                        "domain": zone,
                        "type": "TXT",
                        "name": record_name(&fqdn, &zone),
                        "content": value,
                        "ttl": RECORD_TTL,
                    }),
                )
                .await?;
            let id = r["id"]
                .as_i64()
                .map(|n| n.to_string())
                .or_else(|| r["id"].as_str().map(str::to_owned));
            Ok::<_, DnsError>((zone, id))
        }
        .await;
        s.logout().await;
        let (zone, id) = result?;
        tracing::info!(%fqdn, record_id = ?id, "{PLUGIN}: TXT record added");
        Ok(RecordHandle {
            fqdn,
            value: value.to_owned(),
            id,
            zone: Some(zone),
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let s = self.login().await?;
        let result = async {
            let ids = match &handle.id {
                Some(id) => vec![id.clone()],
                None => {
                    let (_, records) = s.find_zone(&handle.fqdn).await?;
                    records
                        .iter()
                        .filter(|r| {
                            r["type"] == "TXT"
                                && r["name"].as_str().is_some_and(|n| {
                                    n.trim_end_matches('.').eq_ignore_ascii_case(&handle.fqdn)
                                })
                                && r["content"] == handle.value.as_str()
                        })
                        .filter_map(|r| {
                            r["id"]
                                .as_i64()
                                .map(|n| n.to_string())
                                .or_else(|| r["id"].as_str().map(str::to_owned))
                        })
                        .collect()
                }
            };
            for id in ids {
                let numeric: Value = id.parse::<i64>().map(Value::from).unwrap_or(json!(id));
                match s.call_code("nameserver.deleteRecord", json!({"id": numeric})).await? {
                    (OK, _) | (NO_OBJECT, _) => {
                        tracing::info!(fqdn = %handle.fqdn, record_id = %id, "{PLUGIN}: TXT record deleted");
                    }
                    (_, e) => return Err(e),
                }
            }
            Ok(())
        }
        .await;
        s.logout().await;
        result
    }

    fn propagation_default(&self) -> Duration {
        // certbot-dns-inwx's default.
        Duration::from_secs(60)
    }
}

/// INWX's record name: relative to the zone, empty for the apex.
fn record_name(fqdn: &str, zone: &str) -> String {
    match relative_name(fqdn, zone).as_str() {
        "@" => String::new(),
        n => n.to_owned(),
    }
}

impl InwxProvider {
    /// `account.login`, and `account.unlock` with a TOTP code when the
    /// account asks for one.
    async fn login(&self) -> Result<Session<'_>, DnsError> {
        let mut s = Session {
            provider: self,
            cookies: Vec::new(),
        };
        let (code, r, cookies) = s
            .raw(
                "account.login",
                json!({"user": self.config.username, "pass": self.config.password.expose()}),
            )
            .await?;
        if code != OK {
            let hint = if code == AUTH_ERROR {
                format!("; check {KEY_USERNAME} and {KEY_PASSWORD} in {PLUGIN}.ini")
            } else {
                String::new()
            };
            return Err(DnsError::api(
                PLUGIN,
                format!("account.login: code {code}: {}{hint}", message(&r)),
            ));
        }
        s.cookies = cookies;
        let tfa = r["resData"]["tfa"].as_str().unwrap_or("0").to_owned();
        if tfa != "0" && !tfa.is_empty() {
            let Some(secret) = &self.config.shared_secret else {
                s.logout().await;
                return Err(DnsError::api(
                    PLUGIN,
                    format!(
                        "the account has two-factor authentication ({tfa}): set \
                         {KEY_SHARED_SECRET} in {PLUGIN}.ini to its shared secret"
                    ),
                ));
            };
            let key = totp::base32_decode(secret.expose()).unwrap_or_default();
            let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
            let tan = totp::code(&key, now, 6);
            let (code, e) = s.call_code("account.unlock", json!({ "tan": tan })).await?;
            if code != OK {
                s.logout().await;
                return Err(DnsError::api(
                    PLUGIN,
                    format!(
                        "{e}; check {KEY_SHARED_SECRET} in {PLUGIN}.ini and this machine's clock"
                    ),
                ));
            }
        }
        Ok(s)
    }
}

fn message(r: &Value) -> String {
    let msg = r["msg"].as_str().unwrap_or("no message");
    match r["reason"].as_str() {
        Some(reason) => format!("{msg} ({reason})"),
        None => msg.to_owned(),
    }
}

impl Session<'_> {
    /// The zone holding `name` and its records, longest suffix first.
    async fn find_zone(&self, name: &str) -> Result<(String, Vec<Value>), DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        for candidate in zone_candidates(&name) {
            match self
                .call_code("nameserver.info", json!({ "domain": candidate }))
                .await?
            {
                (OK, _) => {
                    let r = self
                        .call(
                            "nameserver.info",
                            json!({"domain": candidate, "type": "TXT"}),
                        )
                        .await?;
                    let records = r["record"].as_array().cloned().unwrap_or_default();
                    return Ok((candidate, records));
                }
                (NO_OBJECT, _) => {}
                (_, e) => return Err(e),
            }
        }
        Err(DnsError::api(
            PLUGIN,
            format!(
                "no zone of the INWX account {} holds {name}",
                self.provider.config.username
            ),
        ))
    }

    /// A call that must succeed; its `resData`.
    async fn call(&self, method: &str, params: Value) -> Result<Value, DnsError> {
        let (code, mut r, _) = self.raw(method, params).await?;
        if code == OK {
            return Ok(r["resData"].take());
        }
        Err(DnsError::api(
            PLUGIN,
            format!("{method}: code {code}: {}", message(&r)),
        ))
    }

    /// A call's code and the error to report when it is not 1000.
    async fn call_code(&self, method: &str, params: Value) -> Result<(i64, DnsError), DnsError> {
        let (code, r, _) = self.raw(method, params).await?;
        let err = DnsError::api(PLUGIN, format!("{method}: code {code}: {}", message(&r)));
        Ok((code, err))
    }

    /// Sends one call; its code, the answer struct and any session cookies.
    async fn raw(
        &self,
        method: &str,
        params: Value,
    ) -> Result<(i64, Value, Vec<String>), DnsError> {
        let body = xmlrpc::call(method, &params);
        let cookie = self.cookies.join("; ");
        let url = &self.provider.config.url;
        let reply = self
            .provider
            .http
            .send(method, || {
                let mut req = self
                    .provider
                    .http
                    .inner()
                    .post(url.clone())
                    .header("content-type", "text/xml")
                    .body(body.clone());
                if !cookie.is_empty() {
                    req = req.header("cookie", &cookie);
                }
                req
            })
            .await?;
        let Some(answer) = xmlrpc::response(&reply.body).filter(|_| reply.status < 400) else {
            return Err(DnsError::api(
                PLUGIN,
                format!(
                    "{method}: HTTP {}: not an XML-RPC answer: {} (check {KEY_URL} in {PLUGIN}.ini)",
                    reply.status,
                    snippet(&reply.body)
                ),
            ));
        };
        let code = answer["code"]
            .as_i64()
            .or_else(|| answer["faultCode"].as_i64())
            .unwrap_or(0);
        Ok((code, answer, reply.cookies))
    }

    /// `account.logout`; a failure only matters to INWX's session count.
    async fn logout(&self) {
        if let Err(e) = self.raw("account.logout", json!({})).await {
            tracing::debug!(error = %e, "{PLUGIN}: logout failed");
        }
    }
}
