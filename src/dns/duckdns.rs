//! DuckDNS: `GET /update?domains=<sub>&token=<t>&txt=<value>` (and
//! `&clear=true`). DuckDNS holds ONE TXT value per domain, mirrored to every
//! name under it, so an apex and its wildcard cannot be validated in one
//! order. SWAG avoids this by asking for the wildcard alone when
//! `SUBDOMAINS=wildcard` and the apex alone otherwise; moat's provider does the
//! same by refusing a second, different value for a domain while the first is
//! still presented, with an error that says so (rather than silently
//! overwriting it and failing the challenge).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::http::{snippet, HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::{DnsError, DnsProvider, RecordHandle, Secret};

const NAME: &str = "duckdns";
/// The account token shown on duckdns.org.
pub const KEY_TOKEN: &str = "dns_duckdns_token";
/// moat extension: the update URL; default [`DEFAULT_ENDPOINT`] (tests).
pub const KEY_ENDPOINT: &str = "dns_duckdns_endpoint";
/// DuckDNS' update API.
pub const DEFAULT_ENDPOINT: &str = "https://www.duckdns.org/update";
const PLACEHOLDER_TOKEN: &str = "your-duckdns-token";

/// Settings from `duckdns.ini`.
#[derive(Debug, Clone)]
pub struct DuckDnsConfig {
    /// The account token.
    pub token: Secret,
    /// The update URL.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange; default 15 s.
    pub timeout: Duration,
}

impl DuckDnsConfig {
    /// Reads the token (and optional endpoint).
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (token, _) = ini.required_secret(KEY_TOKEN, "your DuckDNS token", PLACEHOLDER_TOKEN)?;
        let endpoint = match ini.optional(KEY_ENDPOINT) {
            None => reqwest::Url::parse(DEFAULT_ENDPOINT).expect("the default endpoint is a URL"),
            Some((raw, line)) => reqwest::Url::parse(raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    ini.error(Some(line), format!("{KEY_ENDPOINT} must be an http(s) URL"))
                })?,
        };
        Ok(DuckDnsConfig {
            token,
            endpoint,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The DuckDNS provider; remembers which value it holds per domain.
#[derive(Debug)]
pub struct DuckDnsProvider {
    config: DuckDnsConfig,
    http: HttpClient,
    held: Mutex<HashMap<String, String>>,
}

impl DuckDnsProvider {
    /// A provider for `config`.
    pub fn new(config: DuckDnsConfig) -> Result<Self, DnsError> {
        Ok(DuckDnsProvider {
            http: HttpClient::new(NAME, config.timeout)?,
            config,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// Builds the provider from `duckdns.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(DuckDnsConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for DuckDnsProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let subs = domains
            .iter()
            .map(|d| duck_subdomain(d))
            .collect::<Result<Vec<_>, _>>()?;
        // Every DuckDNS call changes something (even a bare update moves the
        // A record), so the token is only checked by the first order.
        Ok(format!(
            "duckdns: token present; domains {} are DuckDNS names (DuckDNS has no read-only call: the token is checked by the first order)",
            subs.join(", ")
        ))
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let sub = duck_subdomain(fqdn)?;
        {
            let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(current) = held.get(&sub) {
                if current != value {
                    return Err(DnsError::api(
                        NAME,
                        format!(
                            "{sub}.duckdns.org holds one TXT value and another challenge is using it: \
                             DuckDNS cannot validate the apex and the wildcard in one order; as in \
                             SWAG, ask for the wildcard alone (SUBDOMAINS=wildcard) or the apex alone"
                        ),
                    ));
                }
            }
        }
        self.update(&sub, value, false).await?;
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sub.clone(), value.to_owned());
        tracing::info!(domain = %sub, "duckdns: TXT value set");
        Ok(RecordHandle {
            fqdn: fqdn.trim_end_matches('.').to_ascii_lowercase(),
            value: value.to_owned(),
            id: None,
            zone: Some(format!("{sub}.duckdns.org")),
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let sub = duck_subdomain(&handle.fqdn)?;
        let ours = {
            let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.get(&sub).is_none_or(|v| *v == handle.value)
        };
        if !ours {
            // Another challenge's value is there now: leave it.
            return Ok(());
        }
        self.update(&sub, "", true).await?;
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&sub);
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        Duration::from_secs(60)
    }
}

impl DuckDnsProvider {
    async fn update(&self, sub: &str, txt: &str, clear: bool) -> Result<(), DnsError> {
        let mut url = self.config.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("domains", sub)
            .append_pair("token", self.config.token.expose())
            .append_pair("txt", txt);
        if clear {
            url.query_pairs_mut().append_pair("clear", "true");
        }
        let reply = self
            .http
            .send("update", || self.http.inner().get(url.clone()))
            .await?;
        match reply.body.trim() {
            b if b.starts_with("OK") => Ok(()),
            "KO" => Err(DnsError::api(
                NAME,
                format!("DuckDNS refused the update of {sub}.duckdns.org (KO): check {KEY_TOKEN} and that the domain belongs to that account"),
            )),
            other => Err(DnsError::api(
                NAME,
                format!("unexpected answer HTTP {}: {}", reply.status, snippet(other)),
            )),
        }
    }
}

/// The DuckDNS label of `name` (`_acme-challenge.x.mine.duckdns.org` → `mine`).
fn duck_subdomain(name: &str) -> Result<String, DnsError> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    match labels.len().checked_sub(3).map(|i| &labels[i..]) {
        Some([sub, "duckdns", "org"]) if !sub.is_empty() && *sub != "*" => Ok((*sub).to_owned()),
        _ => Err(DnsError::api(
            NAME,
            format!("{name} is not under a DuckDNS domain (<name>.duckdns.org)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn subdomain_is_the_label_before_duckdns_org() {
        assert_eq!(
            super::duck_subdomain("_acme-challenge.mine.duckdns.org.").unwrap(),
            "mine"
        );
        assert_eq!(
            super::duck_subdomain("_acme-challenge.a.mine.duckdns.org").unwrap(),
            "mine"
        );
        assert!(super::duck_subdomain("_acme-challenge.example.com").is_err());
    }
}
