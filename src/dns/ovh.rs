//! OVHcloud DNS through the OVH API (certbot-dns-ovh, `ovh.ini`:
//! `dns_ovh_endpoint`, `dns_ovh_application_key`,
//! `dns_ovh_application_secret`, `dns_ovh_consumer_key`). Every call is
//! signed as OVH documents: `X-Ovh-Signature: $1$` + hex SHA-1 of
//! `secret+consumer_key+METHOD+full URL+body+timestamp`, the timestamp taken
//! from the API's own clock (`GET /auth/time`, the offset kept).
//!
//! The zone is the account's zone with the longest matching name
//! (`GET /domain/zone`); each TXT value is its own record, created with
//! `POST /domain/zone/<zone>/record` and deleted by id, and every change is
//! applied with `POST /domain/zone/<zone>/refresh`.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use super::http::{
    json_api, json_message, snippet, ApiError, HttpClient, JsonCall, DEFAULT_TIMEOUT,
};
use super::ini::IniFile;
use super::names::{challenge_bases, relative_name, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `ovh.ini`: the API endpoint, a name (`ovh-eu`, `ovh-ca`, `ovh-us`,
/// `kimsufi-eu`, `kimsufi-ca`, `soyoustart-eu`, `soyoustart-ca`) or, a moat
/// extension for tests and proxies, an http(s) URL of the API base.
pub const KEY_ENDPOINT: &str = "dns_ovh_endpoint";
/// `ovh.ini`: the application key.
pub const KEY_APPLICATION_KEY: &str = "dns_ovh_application_key";
/// `ovh.ini`: the application secret.
pub const KEY_APPLICATION_SECRET: &str = "dns_ovh_application_secret";
/// `ovh.ini`: the consumer key (granted GET/POST/DELETE on `/domain/zone/*`).
pub const KEY_CONSUMER_KEY: &str = "dns_ovh_consumer_key";
/// TTL of challenge records.
pub const RECORD_TTL: u32 = 60;
/// The named endpoints and their API bases.
const ENDPOINTS: &[(&str, &str)] = &[
    ("ovh-eu", "https://eu.api.ovh.com/1.0/"),
    ("ovh-ca", "https://ca.api.ovh.com/1.0/"),
    ("ovh-us", "https://api.us.ovhcloud.com/1.0/"),
    ("kimsufi-eu", "https://eu.api.kimsufi.com/1.0/"),
    ("kimsufi-ca", "https://ca.api.kimsufi.com/1.0/"),
    ("soyoustart-eu", "https://eu.api.soyoustart.com/1.0/"),
    ("soyoustart-ca", "https://ca.api.soyoustart.com/1.0/"),
];
/// SWAG's template value for all three credentials (base64 of zeros).
const PLACEHOLDER: &str = "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw";
const PLUGIN: &str = "ovh";

/// Settings from `ovh.ini`.
#[derive(Debug, Clone)]
pub struct OvhConfig {
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// The application key.
    pub application_key: Secret,
    /// The application secret.
    pub application_secret: Secret,
    /// The consumer key.
    pub consumer_key: Secret,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl OvhConfig {
    /// Reads `ovh.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (name, line) = ini.required(KEY_ENDPOINT, "ovh-eu, ovh-ca or ovh-us")?;
        let endpoint = match ENDPOINTS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, url)) => reqwest::Url::parse(url).expect("a listed endpoint is a URL"),
            None if name.starts_with("http://") || name.starts_with("https://") => {
                ini.endpoint(KEY_ENDPOINT, name)?
            }
            None => {
                let names: Vec<&str> = ENDPOINTS.iter().map(|(n, _)| *n).collect();
                return Err(ini.error(
                    Some(line),
                    format!("{KEY_ENDPOINT} must be one of {}", names.join(", ")),
                ));
            }
        };
        let (application_key, _) =
            ini.required_secret(KEY_APPLICATION_KEY, "your OVH application key", PLACEHOLDER)?;
        let (application_secret, _) = ini.required_secret(
            KEY_APPLICATION_SECRET,
            "your OVH application secret",
            PLACEHOLDER,
        )?;
        let (consumer_key, _) =
            ini.required_secret(KEY_CONSUMER_KEY, "your OVH consumer key", PLACEHOLDER)?;
        Ok(OvhConfig {
            endpoint,
            application_key,
            application_secret,
            consumer_key,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// `$1$` + hex SHA-1 of the documented concatenation: what OVH checks in
/// `X-Ovh-Signature`.
pub fn ovh_signature(
    secret: &Secret,
    consumer_key: &Secret,
    method: &str,
    url: &str,
    body: &str,
    timestamp: i64,
) -> String {
    let text = format!(
        "{}+{}+{method}+{url}+{body}+{timestamp}",
        secret.expose(),
        consumer_key.expose()
    );
    format!("$1${}", hex::encode(Sha1::digest(text.as_bytes())))
}

/// The OVH provider.
#[derive(Debug)]
pub struct OvhProvider {
    config: OvhConfig,
    http: HttpClient,
    /// The API's clock minus ours, once asked.
    offset: Mutex<Option<i64>>,
}

impl OvhProvider {
    /// A provider for `config`.
    pub fn new(config: OvhConfig) -> Result<Self, DnsError> {
        Ok(OvhProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
            offset: Mutex::new(None),
        })
    }

    /// Builds the provider from `ovh.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(OvhConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for OvhProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let domains = &challenge_bases(domains)[..];
        let zones = self.zones().await?;
        let mut found = Vec::new();
        for d in domains {
            found.push(format!("{d} in zone {}", find_zone(&zones, d)?));
        }
        let head = format!("{PLUGIN}: keys accepted ({} zones)", zones.len());
        Ok(if found.is_empty() {
            head
        } else {
            format!("{head}; {}", found.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let zone = find_zone(&self.zones().await?, &fqdn)?;
        let body = json!({
            "fieldType": "TXT",
            "subDomain": sub_domain(&fqdn, &zone),
            "target": value,
            "ttl": RECORD_TTL,
        });
        let r = self
            .api(
                reqwest::Method::POST,
                &format!("domain/zone/{zone}/record"),
                Some(body),
            )
            .await?;
        let id = r["id"].as_u64().map(|n| n.to_string());
        self.refresh(&zone).await?;
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
            None => find_zone(&self.zones().await?, &handle.fqdn)?,
        };
        let ids = match &handle.id {
            Some(id) => vec![id.clone()],
            None => self.find_records(&zone, handle).await?,
        };
        let mut changed = false;
        for id in ids {
            match self
                .api(
                    reqwest::Method::DELETE,
                    &format!("domain/zone/{zone}/record/{id}"),
                    None,
                )
                .await
            {
                Ok(_) => {
                    changed = true;
                    tracing::info!(fqdn = %handle.fqdn, record_id = %id, "{PLUGIN}: TXT record deleted");
                }
                Err(ApiError { status: 404, .. }) => {
                    tracing::info!(fqdn = %handle.fqdn, record_id = %id, "{PLUGIN}: TXT record already gone");
                }
                Err(e) => return Err(e.error),
            }
        }
        if changed {
            self.refresh(&zone).await?;
        }
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        // A margin: OVH's servers take a while to load a refreshed zone;
        // the active check that follows usually ends sooner.
        Duration::from_secs(120)
    }
}

/// OVH's subDomain: relative to the zone, empty for the apex.
fn sub_domain(fqdn: &str, zone: &str) -> String {
    match relative_name(fqdn, zone).as_str() {
        "@" => String::new(),
        n => n.to_owned(),
    }
}

/// The zone holding `name`, longest suffix first.
fn find_zone(zones: &[String], name: &str) -> Result<String, DnsError> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    zone_candidates(&name)
        .into_iter()
        .find(|c| zones.contains(c))
        .ok_or_else(|| {
            DnsError::api(
                PLUGIN,
                format!(
                    "no DNS zone of this OVH account holds {name}: check the domain uses OVH's \
                     DNS servers"
                ),
            )
        })
}

impl OvhProvider {
    /// The account's zone names.
    async fn zones(&self) -> Result<Vec<String>, DnsError> {
        let r = self.api(reqwest::Method::GET, "domain/zone", None).await?;
        Ok(r.as_array()
            .into_iter()
            .flatten()
            .filter_map(|z| z.as_str().map(str::to_ascii_lowercase))
            .collect())
    }

    async fn refresh(&self, zone: &str) -> Result<(), DnsError> {
        self.api(
            reqwest::Method::POST,
            &format!("domain/zone/{zone}/refresh"),
            None,
        )
        .await?;
        Ok(())
    }

    /// Ids of the TXT records at the handle's name with exactly its value.
    async fn find_records(
        &self,
        zone: &str,
        handle: &RecordHandle,
    ) -> Result<Vec<String>, DnsError> {
        let sub = sub_domain(&handle.fqdn, zone);
        let ids = self
            .api(
                reqwest::Method::GET,
                &format!("domain/zone/{zone}/record?fieldType=TXT&subDomain={sub}"),
                None,
            )
            .await?;
        let quoted = format!("\"{}\"", handle.value);
        let mut out = Vec::new();
        for id in ids
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
        {
            let rec = self
                .api(
                    reqwest::Method::GET,
                    &format!("domain/zone/{zone}/record/{id}"),
                    None,
                )
                .await?;
            if matches!(rec["target"].as_str(), Some(t) if t == handle.value || t == quoted) {
                out.push(id.to_string());
            }
        }
        Ok(out)
    }

    /// The API's clock minus ours, asked once (`GET auth/time`, unsigned).
    async fn time_offset(&self) -> Result<i64, ApiError> {
        if let Some(o) = *self.offset.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(o);
        }
        let url = self
            .config
            .endpoint
            .join("auth/time")
            .map_err(|e| ApiError {
                status: 0,
                error: DnsError::api(PLUGIN, format!("bad API path auth/time: {e}")),
            })?;
        let reply = self
            .http
            .send("GET auth/time", || self.http.inner().get(url.clone()))
            .await
            .map_err(|error| ApiError { status: 0, error })?;
        let theirs: i64 = reply.body.trim().parse().map_err(|_| ApiError {
            status: reply.status,
            error: DnsError::api(
                PLUGIN,
                format!(
                    "GET auth/time: HTTP {}: {}; check {KEY_ENDPOINT} in {PLUGIN}.ini",
                    reply.status,
                    snippet(&reply.body)
                ),
            ),
        })?;
        let offset = theirs - time::OffsetDateTime::now_utc().unix_timestamp();
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) = Some(offset);
        Ok(offset)
    }

    /// One signed call; `path` may carry a query.
    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let offset = self.time_offset().await?;
        let verb = method.clone();
        json_api(
            &self.http,
            &self.config.endpoint,
            JsonCall { method, path, body },
            &|req, url, payload| {
                let ts = time::OffsetDateTime::now_utc().unix_timestamp() + offset;
                let sig = ovh_signature(
                    &self.config.application_secret,
                    &self.config.consumer_key,
                    verb.as_str(),
                    url.as_str(),
                    payload,
                    ts,
                );
                req.header("x-ovh-application", self.config.application_key.expose())
                    .header("x-ovh-consumer", self.config.consumer_key.expose())
                    .header("x-ovh-timestamp", ts.to_string())
                    .header("x-ovh-signature", sig)
            },
            &|_, json| {
                let message = json_message(json, "message");
                let code = json["errorCode"].as_str().unwrap_or_default();
                let lower = message.clone().unwrap_or_default().to_ascii_lowercase();
                let hint = if code == "INVALID_SIGNATURE" || lower.contains("invalid signature") {
                    format!("check {KEY_APPLICATION_SECRET} in {PLUGIN}.ini")
                } else if code == "INVALID_KEY" || lower.contains("invalid application key") {
                    format!("check {KEY_APPLICATION_KEY} in {PLUGIN}.ini")
                } else if code == "INVALID_CREDENTIAL" || lower.contains("credential does not exist") {
                    format!(
                        "check {KEY_CONSUMER_KEY} in {PLUGIN}.ini (it may have expired or been revoked)"
                    )
                } else if code == "NOT_GRANTED_CALL" || lower.contains("not been granted") {
                    format!(
                        "the {KEY_CONSUMER_KEY} in {PLUGIN}.ini needs GET, POST and DELETE on \
                         /domain/zone/*"
                    )
                } else {
                    String::new()
                };
                (message, hint)
            },
        )
        .await
    }
}
