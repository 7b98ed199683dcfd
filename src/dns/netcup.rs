//! netcup's CCP DNS API (certbot-dns-netcup, `netcup.ini`:
//! `dns_netcup_customer_id`, `dns_netcup_api_key`, `dns_netcup_api_password`).
//! Every call is a JSON POST of `{"action", "param"}` to one endpoint; a
//! `login` gives the session id the other calls carry, `logout` ends it.
//!
//! The zone is the longest suffix `infoDnsZone` accepts. A value is added
//! with `updateDnsRecords` (the answer lists the zone's records, ours with
//! its id) and removed the same way with `deleterecord`, by id, or by name
//! and value when the id was lost. netcup's name servers are slow to pick
//! changes up: SWAG recommends `PROPAGATION=900`, the default here.

use std::time::Duration;

use serde_json::{json, Value};

use super::http::{snippet, HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{challenge_bases, relative_name, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `netcup.ini`: the customer number.
pub const KEY_CUSTOMER_ID: &str = "dns_netcup_customer_id";
/// `netcup.ini`: the API key.
pub const KEY_API_KEY: &str = "dns_netcup_api_key";
/// `netcup.ini`: the API password.
pub const KEY_API_PASSWORD: &str = "dns_netcup_api_password";
/// moat extension (tests only): the endpoint URL; default [`DEFAULT_ENDPOINT`].
pub const KEY_ENDPOINT: &str = "dns_netcup_endpoint";
/// netcup's CCP API endpoint.
pub const DEFAULT_ENDPOINT: &str =
    "https://ccp.netcup.net/run/webservice/servers/endpoint.php?JSON";
const PLACEHOLDER_CUSTOMER_ID: &str = "123456";
const PLACEHOLDER_API_KEY: &str = "0123456789abcdef0123456789abcdef01234567";
const PLACEHOLDER_API_PASSWORD: &str = "abcdef0123456789abcdef01234567abcdef0123";
const PLUGIN: &str = "netcup";

/// Settings from `netcup.ini`.
#[derive(Debug, Clone)]
pub struct NetcupConfig {
    /// The customer number.
    pub customer_id: String,
    /// The API key.
    pub api_key: Secret,
    /// The API password.
    pub api_password: Secret,
    /// The endpoint URL.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl NetcupConfig {
    /// Reads `netcup.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let what = "your netcup customer number";
        let (customer_id, line) = ini.required(KEY_CUSTOMER_ID, what)?;
        ini.refuse_placeholder(
            KEY_CUSTOMER_ID,
            customer_id,
            line,
            PLACEHOLDER_CUSTOMER_ID,
            what,
        )?;
        if !customer_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ini.error(Some(line), format!("{KEY_CUSTOMER_ID} must be a number")));
        }
        let (api_key, _) =
            ini.required_secret(KEY_API_KEY, "your netcup API key", PLACEHOLDER_API_KEY)?;
        let (api_password, _) = ini.required_secret(
            KEY_API_PASSWORD,
            "your netcup API password",
            PLACEHOLDER_API_PASSWORD,
        )?;
        let endpoint = match ini.optional(KEY_ENDPOINT) {
            None => reqwest::Url::parse(DEFAULT_ENDPOINT).expect("the default endpoint is a URL"),
            Some((raw, line)) => reqwest::Url::parse(raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    ini.error(Some(line), format!("{KEY_ENDPOINT} must be an http(s) URL"))
                })?,
        };
        Ok(NetcupConfig {
            customer_id: customer_id.to_owned(),
            api_key,
            api_password,
            endpoint,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The netcup provider.
#[derive(Debug)]
pub struct NetcupProvider {
    config: NetcupConfig,
    http: HttpClient,
}

impl NetcupProvider {
    /// A provider for `config`.
    pub fn new(config: NetcupConfig) -> Result<Self, DnsError> {
        Ok(NetcupProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
        })
    }

    /// Builds the provider from `netcup.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(NetcupConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for NetcupProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let domains = &challenge_bases(domains)[..];
        let session = self.login().await?;
        let mut zones = Vec::new();
        let mut result = Ok(());
        for d in domains {
            match self.find_zone(&session, d).await {
                Ok(z) => zones.push(format!("{d} in zone {z}")),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.logout(&session).await;
        result?;
        let head = format!("{PLUGIN}: API key accepted");
        Ok(if zones.is_empty() {
            head
        } else {
            format!("{head}; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let session = self.login().await?;
        let result = self.add(&session, &fqdn, value).await;
        self.logout(&session).await;
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
        let session = self.login().await?;
        let result = self.remove(&session, handle).await;
        self.logout(&session).await;
        result
    }

    fn propagation_default(&self) -> Duration {
        // SWAG's template: "Recommended PROPAGATION value for netcup is 900".
        Duration::from_secs(900)
    }
}

impl NetcupProvider {
    async fn add(
        &self,
        session: &str,
        fqdn: &str,
        value: &str,
    ) -> Result<(String, Option<String>), DnsError> {
        let zone = self.find_zone(session, fqdn).await?;
        let host = relative_name(fqdn, &zone);
        let r = self
            .call(
                "updateDnsRecords",
                json!({
                    "domainname": zone,
                    "apisessionid": session,
                    "dnsrecordset": {"dnsrecords": [{"hostname": host, "type": "TXT", "destination": value}]},
                }),
            )
            .await?;
        let id = records(&r)
            .into_iter()
            .find(|rec| matches_record(rec, &host, value))
            .and_then(|rec| rec["id"].as_str().map(str::to_owned));
        Ok((zone, id))
    }

    async fn remove(&self, session: &str, handle: &RecordHandle) -> Result<(), DnsError> {
        let zone = match &handle.zone {
            Some(z) => z.clone(),
            None => self.find_zone(session, &handle.fqdn).await?,
        };
        let host = relative_name(&handle.fqdn, &zone);
        let r = self
            .call(
                "infoDnsRecords",
                json!({"domainname": zone, "apisessionid": session}),
            )
            .await?;
        let gone: Vec<Value> = records(&r)
            .into_iter()
            .filter(|rec| match &handle.id {
                Some(id) => rec["id"].as_str() == Some(id.as_str()),
                None => matches_record(rec, &host, &handle.value),
            })
            .map(|rec| {
                json!({
                    "id": rec["id"], "hostname": rec["hostname"], "type": rec["type"],
                    "destination": rec["destination"], "deleterecord": true,
                })
            })
            .collect();
        if gone.is_empty() {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT record already gone");
            return Ok(());
        }
        self.call(
            "updateDnsRecords",
            json!({"domainname": zone, "apisessionid": session, "dnsrecordset": {"dnsrecords": gone}}),
        )
        .await?;
        tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT record deleted");
        Ok(())
    }

    /// The zone holding `name`: the longest suffix `infoDnsZone` accepts.
    async fn find_zone(&self, session: &str, name: &str) -> Result<String, DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        for candidate in zone_candidates(&name) {
            let r = self
                .call_raw(
                    "infoDnsZone",
                    json!({"domainname": candidate, "apisessionid": session}),
                )
                .await?;
            if r["status"].as_str() == Some("success") {
                return Ok(candidate);
            }
        }
        Err(DnsError::api(
            PLUGIN,
            format!("no DNS zone of this netcup account holds {name}"),
        ))
    }

    async fn login(&self) -> Result<String, DnsError> {
        let r = self
            .call(
                "login",
                json!({"apipassword": self.config.api_password.expose()}),
            )
            .await?;
        r["responsedata"]["apisessionid"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| DnsError::api(PLUGIN, "login: no session id in the answer"))
    }

    /// Ends the session; a failure only matters to netcup.
    async fn logout(&self, session: &str) {
        if let Err(e) = self
            .call_raw("logout", json!({"apisessionid": session}))
            .await
        {
            tracing::debug!(error = %e, "{PLUGIN}: logout failed");
        }
    }

    /// [`Self::call_raw`], with an answer whose status is not `success` an
    /// error saying what to fix.
    async fn call(&self, action: &str, param: Value) -> Result<Value, DnsError> {
        let r = self.call_raw(action, param).await?;
        if r["status"].as_str() == Some("success") {
            return Ok(r);
        }
        let code = r["statuscode"].as_u64().unwrap_or(0);
        let message = [r["shortmessage"].as_str(), r["longmessage"].as_str()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        let hint = if action == "login" {
            format!(
                "; check {KEY_CUSTOMER_ID}, {KEY_API_KEY} and {KEY_API_PASSWORD} in {PLUGIN}.ini"
            )
        } else {
            String::new()
        };
        Err(DnsError::api(
            PLUGIN,
            format!("{action}: {code} {message}{hint}"),
        ))
    }

    /// One call: `{"action", "param"}` with the customer number and API key
    /// added to `param`.
    async fn call_raw(&self, action: &str, mut param: Value) -> Result<Value, DnsError> {
        param["customernumber"] = Value::String(self.config.customer_id.clone());
        param["apikey"] = Value::String(self.config.api_key.expose().to_owned());
        let body = json!({"action": action, "param": param});
        let reply = self
            .http
            .send(action, || {
                self.http
                    .inner()
                    .post(self.config.endpoint.clone())
                    .json(&body)
            })
            .await?;
        serde_json::from_str(&reply.body).map_err(|_| {
            DnsError::api(
                PLUGIN,
                format!(
                    "{action}: HTTP {}: not a CCP API answer: {}",
                    reply.status,
                    snippet(&reply.body)
                ),
            )
        })
    }
}

/// The records in an `infoDnsRecords` / `updateDnsRecords` answer.
fn records(answer: &Value) -> Vec<Value> {
    answer["responsedata"]["dnsrecords"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn matches_record(rec: &Value, host: &str, value: &str) -> bool {
    rec["type"].as_str() == Some("TXT")
        && rec["hostname"]
            .as_str()
            .is_some_and(|h| h.eq_ignore_ascii_case(host))
        && rec["destination"].as_str() == Some(value)
}
