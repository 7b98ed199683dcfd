//! Google Cloud DNS (certbot-dns-google). The credentials are a service
//! account's JSON key, which SWAG keeps as `dns-conf/google.json`: its
//! `client_email` and `private_key` sign an RS256 JWT that the OAuth token
//! endpoint (`token_uri`) exchanges for an access token (scope
//! `ndev.clouddns.readwrite`), as Google's service-account flow documents.
//!
//! The zone is the public managed zone of `project_id` whose `dnsName` is
//! the longest suffix of the record name (`managedZones?dnsName=`). Cloud
//! DNS holds a name's TXT values in one rrset, changed through a Change
//! (deletions + additions, applied atomically): `present` replaces the
//! rrset with the value added, `cleanup` with the value taken out (or only
//! deletes it when it was the last), serialised, each change followed until
//! its status is `done`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::{
    form_body, json_api, json_message, ApiError, HttpClient, JsonCall, DEFAULT_TIMEOUT,
};
use super::ini::IniFile;
use super::jwt;
use super::names::{challenge_bases, zone_candidates};
use super::rsa_key::RsaKey;
use super::token_cache::{oauth_answer, TokenCache};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `google.json`: the service account's e-mail address (the JWT's issuer).
pub const KEY_CLIENT_EMAIL: &str = "client_email";
/// `google.json`: the service account's PEM private key.
pub const KEY_PRIVATE_KEY: &str = "private_key";
/// `google.json`: the key's id (the JWT's `kid`).
pub const KEY_PRIVATE_KEY_ID: &str = "private_key_id";
/// `google.json`: the project whose managed zones are used.
pub const KEY_PROJECT_ID: &str = "project_id";
/// `google.json`: the OAuth token endpoint; default [`DEFAULT_TOKEN_URI`].
pub const KEY_TOKEN_URI: &str = "token_uri";
/// `google.json`: the credential type; must be `service_account`.
pub const KEY_TYPE: &str = "type";
/// moat extension (tests only): the Cloud DNS API base URL; default
/// [`DEFAULT_ENDPOINT`].
pub const KEY_ENDPOINT: &str = "dns_google_endpoint";
/// Google's OAuth 2.0 token endpoint.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Cloud DNS API v1 base.
pub const DEFAULT_ENDPOINT: &str = "https://dns.googleapis.com/dns/v1/";
/// The OAuth scope the token asks for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/ndev.clouddns.readwrite";
/// TTL of challenge rrsets (certbot-dns-google's).
pub const RECORD_TTL: u32 = 60;
/// How long a change may stay `pending` before `present` gives up.
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(120);
const PLUGIN: &str = "google";
/// SWAG's google.json template carries these instead of a key.
const TEMPLATE_FIELDS: &[(&str, &str)] =
    &[("_comment", "Replace with your values"), ("rest", "...")];

/// Settings from `google.json`.
#[derive(Debug)]
pub struct GoogleConfig {
    /// The service account (JWT issuer).
    pub client_email: String,
    /// The service account's key.
    key: RsaKey,
    /// The key's id, when the file has one.
    pub private_key_id: Option<String>,
    /// The project.
    pub project: String,
    /// The OAuth token endpoint.
    pub token_uri: reqwest::Url,
    /// Cloud DNS API base, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
    /// Bound on following a change to `done`.
    pub change_timeout: Duration,
}

impl GoogleConfig {
    /// Reads `google.json` (a service account key file).
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        for (key, value) in TEMPLATE_FIELDS {
            if let Some((v, line)) = ini.optional(key) {
                if v == *value {
                    return Err(ini.error(
                        Some(line),
                        format!(
                            "{key} shows this is still SWAG's template: replace the whole file \
                             with your service account's JSON key (IAM > Service accounts > Keys)"
                        ),
                    ));
                }
            }
        }
        let (kind, line) = ini.required(KEY_TYPE, "service_account")?;
        if kind != "service_account" {
            return Err(ini.error(
                Some(line),
                format!(
                    "{KEY_TYPE} is {kind:?}: moat needs a service account's key file \
                     (\"type\": \"service_account\")"
                ),
            ));
        }
        let (email, line) = ini.required(KEY_CLIENT_EMAIL, "the service account's e-mail")?;
        ini.refuse_placeholder(
            KEY_CLIENT_EMAIL,
            email,
            line,
            "",
            "the service account's e-mail",
        )?;
        let (pem, line) = ini.required_secret(KEY_PRIVATE_KEY, "the service account's key", "")?;
        let key = RsaKey::from_pem(pem.expose())
            .map_err(|e| ini.error(Some(line), format!("{KEY_PRIVATE_KEY}: {e}")))?;
        let (project, line) = ini.required(KEY_PROJECT_ID, "the project id")?;
        ini.refuse_placeholder(KEY_PROJECT_ID, project, line, "", "the project id")?;
        let token_uri = match ini.optional(KEY_TOKEN_URI) {
            Some((raw, line)) => reqwest::Url::parse(raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| ini.error(Some(line), format!("{KEY_TOKEN_URI} must be a URL")))?,
            None => reqwest::Url::parse(DEFAULT_TOKEN_URI).expect("a URL"),
        };
        Ok(GoogleConfig {
            client_email: email.to_owned(),
            key,
            private_key_id: ini.optional(KEY_PRIVATE_KEY_ID).map(|(v, _)| v.to_owned()),
            project: project.to_owned(),
            token_uri,
            endpoint: ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
            change_timeout: CHANGE_TIMEOUT,
        })
    }
}

/// The Google Cloud DNS provider.
#[derive(Debug)]
pub struct GoogleProvider {
    config: GoogleConfig,
    http: HttpClient,
    token: TokenCache,
    write: tokio::sync::Mutex<()>,
}

impl GoogleProvider {
    /// A provider for `config`.
    pub fn new(config: GoogleConfig) -> Result<Self, DnsError> {
        Ok(GoogleProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
            token: TokenCache::default(),
            write: tokio::sync::Mutex::new(()),
        })
    }

    /// Builds the provider from `google.json`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(GoogleConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for GoogleProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        self.access_token().await?;
        let mut zones = Vec::new();
        for d in challenge_bases(domains) {
            let (zone, dns_name) = self.find_zone(&d).await?;
            zones.push(format!("{d} in zone {zone} ({dns_name})"));
        }
        let head = format!(
            "{PLUGIN}: service account {} accepted (project {})",
            self.config.client_email, self.config.project
        );
        Ok(if zones.is_empty() {
            head
        } else {
            format!("{head}; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let _guard = self.write.lock().await;
        let (zone, _) = self.find_zone(&fqdn).await?;
        let old = self.read(&zone, &fqdn).await?;
        let handle = RecordHandle {
            fqdn: fqdn.clone(),
            value: value.to_owned(),
            id: None,
            zone: Some(zone.clone()),
        };
        let mut values = old.as_ref().map(|(_, v)| v.clone()).unwrap_or_default();
        if values.iter().any(|v| v == value) {
            tracing::info!(%fqdn, "{PLUGIN}: TXT value already present");
            return Ok(handle);
        }
        values.push(value.to_owned());
        let ttl = old.as_ref().map_or(RECORD_TTL, |(t, _)| *t);
        self.change(&zone, &fqdn, old.as_ref(), Some((ttl, &values)))
            .await?;
        tracing::info!(%fqdn, values = values.len(), "{PLUGIN}: TXT value added");
        Ok(handle)
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let _guard = self.write.lock().await;
        let zone = match &handle.zone {
            Some(z) => z.clone(),
            None => self.find_zone(&handle.fqdn).await?.0,
        };
        let Some(old) = self.read(&zone, &handle.fqdn).await? else {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT record already gone");
            return Ok(());
        };
        if !old.1.contains(&handle.value) {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value already gone");
            return Ok(());
        }
        let rest: Vec<String> = old
            .1
            .iter()
            .filter(|v| **v != handle.value)
            .cloned()
            .collect();
        let addition = (!rest.is_empty()).then_some((old.0, &rest));
        self.change(&zone, &handle.fqdn, Some(&old), addition)
            .await?;
        tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value deleted");
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        // certbot-dns-google's default.
        Duration::from_secs(60)
    }
}

/// A Cloud DNS TXT rrset for `fqdn` holding `values` (quoted, as rrdatas are).
fn rrset(fqdn: &str, ttl: u32, values: &[String]) -> Value {
    let rrdatas: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
    json!({"name": format!("{fqdn}."), "type": "TXT", "ttl": ttl, "rrdatas": rrdatas})
}

fn unquote(v: &str) -> String {
    // A long value may come back as several strings: "abc" "def".
    v.split("\" \"")
        .map(|part| part.trim_matches('"'))
        .collect::<String>()
}

impl GoogleProvider {
    /// A valid access token: the cached one, or a new one for a fresh JWT.
    async fn access_token(&self) -> Result<Secret, DnsError> {
        self.token.get(|| self.sign_in()).await
    }

    /// Exchanges a fresh JWT for an access token and its lifetime.
    async fn sign_in(&self) -> Result<(Secret, Duration), DnsError> {
        let assertion = self.jwt()?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.expose()),
        ];
        let body = form_body(&form);
        let reply = self
            .http
            .post_form("the OAuth token endpoint", &self.config.token_uri, &body)
            .await?;
        oauth_answer(&reply).map_err(|what| {
            DnsError::api(
                PLUGIN,
                format!(
                    "the OAuth token endpoint refused the service account {} (HTTP {}: {what}); \
                     check {KEY_CLIENT_EMAIL} and {KEY_PRIVATE_KEY} in google.json (the key may \
                     have been deleted), and this machine's clock",
                    self.config.client_email, reply.status
                ),
            )
        })
    }

    /// The signed JWT Google's service-account flow exchanges for a token.
    fn jwt(&self) -> Result<Secret, DnsError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut header = json!({});
        if let Some(kid) = &self.config.private_key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.config.client_email,
            "scope": SCOPE,
            "aud": self.config.token_uri.as_str(),
            "iat": now,
            "exp": now + 3600,
        });
        jwt::rs256(header, &claims, &self.config.key).map_err(|e| DnsError::api(PLUGIN, e))
    }

    /// The public managed zone (name, dnsName) holding `name`.
    async fn find_zone(&self, name: &str) -> Result<(String, String), DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let project = &self.config.project;
        for candidate in zone_candidates(&name) {
            let r = self
                .api(JsonCall::new(
                    reqwest::Method::GET,
                    &format!("projects/{project}/managedZones?dnsName={candidate}."),
                ))
                .await?;
            let public = r["managedZones"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|z| {
                    z["visibility"].as_str() != Some("private")
                        && z["dnsName"].as_str() == Some(&format!("{candidate}."))
                });
            if let Some(zone) = public.and_then(|z| z["name"].as_str()) {
                return Ok((zone.to_owned(), format!("{candidate}.")));
            }
        }
        Err(DnsError::api(
            PLUGIN,
            format!("no public managed zone in project {project} holds {name} ({KEY_PROJECT_ID} in google.json)"),
        ))
    }

    /// The rrset's TTL and unquoted values, or `None`.
    async fn read(&self, zone: &str, fqdn: &str) -> Result<Option<(u32, Vec<String>)>, DnsError> {
        let project = &self.config.project;
        let r = self
            .api(JsonCall::new(
                reqwest::Method::GET,
                &format!("projects/{project}/managedZones/{zone}/rrsets?name={fqdn}.&type=TXT"),
            ))
            .await?;
        Ok(r["rrsets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["type"].as_str() == Some("TXT"))
            .map(|s| {
                (
                    s["ttl"]
                        .as_u64()
                        .and_then(|t| u32::try_from(t).ok())
                        .unwrap_or(RECORD_TTL),
                    s["rrdatas"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(unquote))
                        .collect(),
                )
            }))
    }

    /// One Change replacing `old` by `new`, followed until it is done.
    async fn change(
        &self,
        zone: &str,
        fqdn: &str,
        old: Option<&(u32, Vec<String>)>,
        new: Option<(u32, &Vec<String>)>,
    ) -> Result<(), DnsError> {
        let project = &self.config.project;
        let deletions: Vec<Value> = old.iter().map(|(t, v)| rrset(fqdn, *t, v)).collect();
        let additions: Vec<Value> = new.iter().map(|(t, v)| rrset(fqdn, *t, v)).collect();
        let path = format!("projects/{project}/managedZones/{zone}/changes");
        let r = self
            .api(JsonCall::with(
                reqwest::Method::POST,
                &path,
                json!({"kind": "dns#change", "additions": additions, "deletions": deletions}),
            ))
            .await?;
        let id = r["id"].as_str().unwrap_or_default().to_owned();
        let mut status = r["status"].as_str().unwrap_or_default().to_owned();
        let deadline = Instant::now() + self.config.change_timeout;
        let mut wait = Duration::from_millis(250);
        while status != "done" {
            if id.is_empty() || Instant::now() >= deadline {
                return Err(DnsError::transient(
                    PLUGIN,
                    format!(
                        "change {id} in zone {zone} still {status:?} after {}s",
                        self.config.change_timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
            let r = self
                .api(JsonCall::new(reqwest::Method::GET, &format!("{path}/{id}")))
                .await?;
            status = r["status"].as_str().unwrap_or_default().to_owned();
        }
        Ok(())
    }

    async fn api(&self, call: JsonCall<'_>) -> Result<Value, DnsError> {
        let token = self.access_token().await?;
        let email = &self.config.client_email;
        let project = &self.config.project;
        json_api(
            &self.http,
            &self.config.endpoint,
            call,
            &|req, _, _| req.bearer_auth(token.expose()),
            &|status, json| {
                let message = json_message(&json["error"], "message");
                let hint = match status {
                    401 => format!("check {KEY_PRIVATE_KEY} in google.json"),
                    403 => format!(
                        "the service account {email} needs the DNS Administrator role \
                         (roles/dns.admin) in project {project}"
                    ),
                    404 => format!("check {KEY_PROJECT_ID} in google.json"),
                    _ => String::new(),
                };
                (message, hint)
            },
        )
        .await
        .map_err(|e: ApiError| e.error)
    }
}
