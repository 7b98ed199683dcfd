//! Amazon Route 53 through its REST API (2013-04-01), signed with SigV4
//! ([`super::sigv4`]). SWAG's plugin is certbot-dns-route53, which reads
//! `route53.ini` as an AWS config file: the keys `aws_access_key_id`,
//! `aws_secret_access_key` (and `aws_session_token`) under `[default]`, or
//! the `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`
//! environment variables, which win when both are set (as in boto).
//!
//! The zone is the public hosted zone whose name is the longest suffix of the
//! record name (`ListHostedZonesByName`). Route 53 keeps all TXT values of a
//! name in one record set, so `present` reads the set and UPSERTs it with the
//! new value added, and `cleanup` UPSERTs it without that value (or DELETEs
//! the set when it was the last); a lock serialises these read-modify-writes
//! so the apex and wildcard values never clobber each other. `present`
//! returns once `GetChange` reports `INSYNC` (bounded by
//! [`Route53Config::change_timeout`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::http::{HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::challenge_bases;
use super::sigv4::AwsCredentials;
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `route53.ini` `[default]`: the access key id.
pub const KEY_ACCESS_KEY_ID: &str = "aws_access_key_id";
/// `route53.ini` `[default]`: the secret access key.
pub const KEY_SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
/// `route53.ini` `[default]`: optional session token of temporary credentials.
pub const KEY_SESSION_TOKEN: &str = "aws_session_token";
/// moat extension (tests only): the API base URL; default [`DEFAULT_ENDPOINT`].
pub const KEY_ENDPOINT: &str = "dns_route53_endpoint";
/// The AWS config profile whose keys are read.
pub const PROFILE: &str = "default";
/// Environment: the access key id (used with [`ENV_SECRET_ACCESS_KEY`]).
pub const ENV_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// Environment: the secret access key.
pub const ENV_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// Environment: the session token of temporary credentials.
pub const ENV_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// Route 53's global endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://route53.amazonaws.com/";
/// TTL of challenge record sets (certbot-dns-route53's).
pub const RECORD_TTL: u32 = 10;
/// How long `present` waits for `INSYNC` by default.
pub const DEFAULT_CHANGE_TIMEOUT: Duration = Duration::from_secs(180);
/// First wait between `GetChange` polls; doubles up to 10 s.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// SWAG's template values (AWS's documentation examples).
const PLACEHOLDER_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const PLACEHOLDER_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const PLUGIN: &str = "route53";
const API: &str = "2013-04-01";
/// Route 53 is global; its requests are signed for us-east-1.
const REGION: &str = "us-east-1";
const SERVICE: &str = "route53";
const XMLNS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
/// Tries of a call Route 53 refused with `Throttling` or
/// `PriorRequestNotComplete` (HTTP 400, so the shared client does not retry).
const THROTTLE_ATTEMPTS: u32 = 4;

/// Where the credentials came from, for messages that say what to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// `route53.ini`, profile `[default]`.
    Ini,
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`).
    Environment,
}

/// Settings from `route53.ini` or the environment.
#[derive(Debug, Clone)]
pub struct Route53Config {
    /// The key pair (and session token).
    pub credentials: AwsCredentials,
    /// Where they came from.
    pub source: CredentialSource,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
    /// How long `present` waits for the change to be `INSYNC`.
    pub change_timeout: Duration,
    /// First wait between `GetChange` polls.
    pub poll_interval: Duration,
}

impl Route53Config {
    /// Reads `route53.ini`, with the `AWS_*` environment variables taking
    /// precedence when both key variables are set.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        // The AWS variables are the plugin's own interface (boto reads them);
        // they are read here, with the ini file, not in `settings`.
        Self::from_sources(ini, |name| std::env::var(name).ok())
    }

    /// [`Route53Config::from_ini`] with the environment given as a lookup.
    pub fn from_sources(
        ini: &IniFile,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, DnsError> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let endpoint = ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?;
        let (credentials, source) = match (env(ENV_ACCESS_KEY_ID), env(ENV_SECRET_ACCESS_KEY)) {
            (Some(id), Some(secret)) => (
                AwsCredentials {
                    access_key_id: id.trim().to_owned(),
                    secret_access_key: Secret::new(secret.trim()),
                    session_token: env(ENV_SESSION_TOKEN).map(|t| Secret::new(t.trim())),
                },
                CredentialSource::Environment,
            ),
            (Some(_), None) | (None, Some(_)) => {
                return Err(ini.error(
                    None,
                    format!(
                        "only one of {ENV_ACCESS_KEY_ID} and {ENV_SECRET_ACCESS_KEY} is set: \
                             set both, or neither and use {KEY_ACCESS_KEY_ID} and \
                             {KEY_SECRET_ACCESS_KEY} under [{PROFILE}] in this file"
                    ),
                ))
            }
            (None, None) => (Self::ini_credentials(ini)?, CredentialSource::Ini),
        };
        Ok(Route53Config {
            credentials,
            source,
            endpoint,
            timeout: DEFAULT_TIMEOUT,
            change_timeout: DEFAULT_CHANGE_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
        })
    }

    /// The `[default]` profile's keys (or keys before any section header).
    fn ini_credentials(ini: &IniFile) -> Result<AwsCredentials, DnsError> {
        let get = |key: &str| ini.optional_in(PROFILE, key).or(ini.optional_in("", key));
        let missing = |key: &str, what: &str| {
            ini.error(
                None,
                format!(
                    "missing key {key} under [{PROFILE}]: add `{key} = <{what}>` (SWAG's template \
                     has it commented out with `;`), or set {ENV_ACCESS_KEY_ID} and \
                     {ENV_SECRET_ACCESS_KEY}"
                ),
            )
        };
        let what_id = "your AWS access key id";
        let what_secret = "your AWS secret access key";
        let (id, id_line) =
            get(KEY_ACCESS_KEY_ID).ok_or_else(|| missing(KEY_ACCESS_KEY_ID, what_id))?;
        ini.refuse_placeholder(KEY_ACCESS_KEY_ID, id, id_line, PLACEHOLDER_KEY_ID, what_id)?;
        let (secret, secret_line) = get(KEY_SECRET_ACCESS_KEY)
            .ok_or_else(|| missing(KEY_SECRET_ACCESS_KEY, what_secret))?;
        ini.refuse_placeholder(
            KEY_SECRET_ACCESS_KEY,
            secret,
            secret_line,
            PLACEHOLDER_SECRET,
            what_secret,
        )?;
        Ok(AwsCredentials {
            access_key_id: id.to_owned(),
            secret_access_key: Secret::new(secret),
            session_token: get(KEY_SESSION_TOKEN).map(|(t, _)| Secret::new(t)),
        })
    }
}

/// One TXT record set as Route 53 holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TxtSet {
    ttl: u32,
    /// The values, unquoted.
    values: Vec<String>,
}

/// The Route 53 provider.
#[derive(Debug)]
pub struct Route53Provider {
    config: Route53Config,
    http: HttpClient,
    /// Record name → (hosted zone id, zone name).
    zones: Mutex<HashMap<String, (String, String)>>,
    /// Serialises read-modify-write of record sets.
    write: tokio::sync::Mutex<()>,
}

impl Route53Provider {
    /// A provider for `config`.
    pub fn new(config: Route53Config) -> Result<Self, DnsError> {
        Ok(Route53Provider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
            zones: Mutex::new(HashMap::new()),
            write: tokio::sync::Mutex::new(()),
        })
    }

    /// Builds the provider from `route53.ini` (and the environment).
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(Route53Config::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for Route53Provider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let domains = &challenge_bases(domains)[..];
        let source = match self.config.source {
            CredentialSource::Ini => format!("{PLUGIN}.ini [{PROFILE}]"),
            CredentialSource::Environment => ENV_ACCESS_KEY_ID.to_owned(),
        };
        if domains.is_empty() {
            self.hosted_zones_by_name("").await?;
            return Ok(format!("{PLUGIN}: credentials from {source} accepted"));
        }
        let mut zones = Vec::new();
        for d in domains {
            let (id, zone) = self.find_zone(d).await?;
            // Reading the record set proves ListResourceRecordSets too.
            self.read_txt(&id, &format!("_acme-challenge.{d}")).await?;
            zones.push(format!("{d} in hosted zone {zone} ({id})"));
        }
        Ok(format!(
            "{PLUGIN}: credentials from {source} accepted; {}",
            zones.join(", ")
        ))
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let _guard = self.write.lock().await;
        let (zone_id, _) = self.find_zone(&fqdn).await?;
        let existing = self.read_txt(&zone_id, &fqdn).await?;
        let handle = RecordHandle {
            fqdn: fqdn.clone(),
            value: value.to_owned(),
            id: None,
            zone: Some(zone_id.clone()),
        };
        let mut set = existing.unwrap_or(TxtSet {
            ttl: RECORD_TTL,
            values: Vec::new(),
        });
        if set.values.iter().any(|v| v == value) {
            tracing::info!(%fqdn, "{PLUGIN}: TXT value already present");
            return Ok(handle);
        }
        set.values.push(value.to_owned());
        let change = self.change(&zone_id, "UPSERT", &fqdn, &set).await?;
        tracing::info!(%fqdn, change = %change, values = set.values.len(), "{PLUGIN}: TXT value added");
        self.wait_insync(&change).await?;
        Ok(handle)
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let _guard = self.write.lock().await;
        let zone_id = match &handle.zone {
            Some(z) => z.clone(),
            None => self.find_zone(&handle.fqdn).await?.0,
        };
        let Some(set) = self.read_txt(&zone_id, &handle.fqdn).await? else {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT record already gone");
            return Ok(());
        };
        if !set.values.contains(&handle.value) {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value already gone");
            return Ok(());
        }
        let rest: Vec<String> = set
            .values
            .iter()
            .filter(|v| **v != handle.value)
            .cloned()
            .collect();
        let change = if rest.is_empty() {
            // DELETE must name the set exactly as it is.
            self.change(&zone_id, "DELETE", &handle.fqdn, &set).await?
        } else {
            let kept = TxtSet {
                ttl: set.ttl,
                values: rest,
            };
            self.change(&zone_id, "UPSERT", &handle.fqdn, &kept).await?
        };
        tracing::info!(fqdn = %handle.fqdn, change = %change, "{PLUGIN}: TXT value deleted");
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        // certbot-dns-route53's default; the INSYNC wait did most of it.
        Duration::from_secs(10)
    }
}

#[path = "route53_api.rs"]
mod api;
