//! Namecheap through its XML API (certbot-dns-namecheap, `namecheap.ini`:
//! `dns_namecheap_username`, `dns_namecheap_api_key`). Every call carries
//! `ApiUser`, `ApiKey`, `UserName` and `ClientIp` (the address Namecheap's
//! whitelist allows: `dns_namecheap_client_ip`, or this machine's public
//! IPv4 as api.ipify.org sees it, as certbot-dns-namecheap finds it).
//!
//! Namecheap has no call that adds or deletes one record:
//! `namecheap.domains.dns.setHosts` replaces a domain's whole host list.
//! So `present` and `cleanup` read the list with `getHosts`, add or take
//! out exactly one TXT entry, and write back every other host as it was
//! (name, type, address, MX preference, TTL, and the domain's `EmailType`),
//! serialised so the apex and wildcard values never overwrite each other.
//! The domain is the longest suffix `getHosts` accepts as `SLD`.`TLD`.

use std::time::Duration;

use super::http::{form_body, snippet, HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{challenge_bases, relative_name, zone_candidates};
use super::xml;
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `namecheap.ini`: the account's user name (ApiUser and UserName).
pub const KEY_USERNAME: &str = "dns_namecheap_username";
/// `namecheap.ini`: the API key (Profile > Tools > API Access).
pub const KEY_API_KEY: &str = "dns_namecheap_api_key";
/// moat extension: the whitelisted IPv4 sent as `ClientIp`; found with
/// [`IP_ECHO`] when unset.
pub const KEY_CLIENT_IP: &str = "dns_namecheap_client_ip";
/// moat extension (tests, or `https://api.sandbox.namecheap.com/`): the API
/// base URL; default [`DEFAULT_ENDPOINT`].
pub const KEY_ENDPOINT: &str = "dns_namecheap_endpoint";
/// Namecheap's production API.
pub const DEFAULT_ENDPOINT: &str = "https://api.namecheap.com/";
/// Where this machine's public IPv4 is asked when `dns_namecheap_client_ip`
/// is unset.
pub const IP_ECHO: &str = "https://api.ipify.org/";
/// TTL of challenge records (Namecheap's minimum).
pub const RECORD_TTL: u32 = 60;
const PLUGIN: &str = "namecheap";
const PLACEHOLDER_USERNAME: &str = "my-username";
const PLACEHOLDER_API_KEY: &str = "my-api-key";
/// Error numbers that mean the credentials or the whitelist, not the domain.
const AUTH_ERRORS: &[&str] = &[
    "1011102", "1011150", "1010101", "1010102", "1017150", "1017105", "1011104",
];

/// Settings from `namecheap.ini`.
#[derive(Debug, Clone)]
pub struct NamecheapConfig {
    /// The account.
    pub username: String,
    /// The API key.
    pub api_key: Secret,
    /// The whitelisted address, when given.
    pub client_ip: Option<std::net::Ipv4Addr>,
    /// API base URL, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl NamecheapConfig {
    /// Reads `namecheap.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (username, line) = ini.required(KEY_USERNAME, "your Namecheap user name")?;
        ini.refuse_placeholder(
            KEY_USERNAME,
            username,
            line,
            PLACEHOLDER_USERNAME,
            "your Namecheap user name",
        )?;
        let (api_key, _) =
            ini.required_secret(KEY_API_KEY, "your Namecheap API key", PLACEHOLDER_API_KEY)?;
        let client_ip = match ini.optional(KEY_CLIENT_IP) {
            Some((ip, line)) => Some(ip.parse().map_err(|_| {
                ini.error(
                    Some(line),
                    format!("{KEY_CLIENT_IP} must be an IPv4 address (Namecheap takes no IPv6)"),
                )
            })?),
            None => None,
        };
        Ok(NamecheapConfig {
            username: username.to_owned(),
            api_key,
            client_ip,
            endpoint: ini.endpoint(KEY_ENDPOINT, DEFAULT_ENDPOINT)?,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// One host of a domain's list, as `getHosts` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Host {
    name: String,
    kind: String,
    address: String,
    mx_pref: String,
    ttl: String,
}

/// A domain's host list and mail setting.
#[derive(Debug)]
struct HostList {
    hosts: Vec<Host>,
    email_type: Option<String>,
}

/// The Namecheap provider.
#[derive(Debug)]
pub struct NamecheapProvider {
    config: NamecheapConfig,
    http: HttpClient,
    client_ip: tokio::sync::OnceCell<String>,
    write: tokio::sync::Mutex<()>,
}

impl NamecheapProvider {
    /// A provider for `config`.
    pub fn new(config: NamecheapConfig) -> Result<Self, DnsError> {
        Ok(NamecheapProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
            client_ip: tokio::sync::OnceCell::new(),
            write: tokio::sync::Mutex::new(()),
        })
    }

    /// Builds the provider from `namecheap.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(NamecheapConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for NamecheapProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let mut zones = Vec::new();
        for d in challenge_bases(domains) {
            let (zone, list) = self.find_zone(&d).await?;
            zones.push(format!("{d} in domain {zone} ({} hosts)", list.hosts.len()));
        }
        if zones.is_empty() {
            self.call("namecheap.domains.getList", &[])
                .await
                .map_err(|e| e.error)?;
        }
        let head = format!("{PLUGIN}: API key accepted for {}", self.config.username);
        Ok(if zones.is_empty() {
            head
        } else {
            format!("{head}; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let _guard = self.write.lock().await;
        let (zone, mut list) = self.find_zone(&fqdn).await?;
        let host = Host {
            name: relative_name(&fqdn, &zone),
            kind: "TXT".to_owned(),
            address: value.to_owned(),
            mx_pref: "10".to_owned(),
            ttl: RECORD_TTL.to_string(),
        };
        if list.hosts.iter().any(|h| same_txt(h, &host)) {
            tracing::info!(%fqdn, "{PLUGIN}: TXT value already present");
        } else {
            list.hosts.push(host);
            self.set_hosts(&zone, &list).await?;
            tracing::info!(%fqdn, hosts = list.hosts.len(), "{PLUGIN}: TXT record added (host list rewritten)");
        }
        Ok(RecordHandle {
            fqdn,
            value: value.to_owned(),
            id: None,
            zone: Some(zone),
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let _guard = self.write.lock().await;
        let (zone, mut list) = match &handle.zone {
            Some(z) => (z.clone(), self.get_hosts(z).await?),
            None => self.find_zone(&handle.fqdn).await?,
        };
        let target = Host {
            name: relative_name(&handle.fqdn, &zone),
            kind: "TXT".to_owned(),
            address: handle.value.clone(),
            mx_pref: String::new(),
            ttl: String::new(),
        };
        let before = list.hosts.len();
        list.hosts.retain(|h| !same_txt(h, &target));
        if list.hosts.len() == before {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT record already gone");
            return Ok(());
        }
        self.set_hosts(&zone, &list).await?;
        tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT record deleted (host list rewritten)");
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        // Namecheap's servers take their time; certbot-dns-namecheap waits long.
        Duration::from_secs(120)
    }
}

fn same_txt(a: &Host, b: &Host) -> bool {
    a.kind.eq_ignore_ascii_case("TXT")
        && a.name.eq_ignore_ascii_case(&b.name)
        && a.address == b.address
}

/// `name="value"` pairs of the tag that starts `tag` (after `<tag`).
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq]
            .trim()
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or("");
        let after = &rest[eq + 2..];
        let Some(end) = after.find('"') else { break };
        out.push((name.to_owned(), xml::unescape(&after[..end])));
        rest = &after[end + 1..];
    }
    out
}

/// The attribute lists of every `<tag ...>` in `doc`.
fn tags(doc: &str, tag: &str) -> Vec<Vec<(String, String)>> {
    let open = format!("<{tag}");
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let Some(end) = after.find('>') else { break };
        if after.starts_with(char::is_whitespace)
            || after.starts_with('>')
            || after.starts_with('/')
        {
            out.push(attributes(&after[..end]));
        }
        rest = &after[end..];
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A failed call: Namecheap's error number (empty without one) and message.
#[derive(Debug)]
struct CallError {
    number: String,
    error: DnsError,
}

impl NamecheapProvider {
    /// The domain holding `name` and its host list, longest suffix first.
    async fn find_zone(&self, name: &str) -> Result<(String, HostList), DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut last = None;
        for candidate in zone_candidates(&name) {
            match self.try_get_hosts(&candidate).await {
                Ok(list) => return Ok((candidate, list)),
                Err(e) if AUTH_ERRORS.contains(&e.number.as_str()) || e.number.is_empty() => {
                    return Err(e.error)
                }
                Err(e) => last = Some(e.error),
            }
        }
        Err(DnsError::api(
            PLUGIN,
            format!(
                "no domain of the Namecheap account {} holds {name}{}",
                self.config.username,
                last.map(|e| format!(" (last answer: {e})"))
                    .unwrap_or_default()
            ),
        ))
    }

    async fn get_hosts(&self, zone: &str) -> Result<HostList, DnsError> {
        self.try_get_hosts(zone).await.map_err(|e| e.error)
    }

    async fn try_get_hosts(&self, zone: &str) -> Result<HostList, CallError> {
        let (sld, tld) = zone.split_once('.').unwrap_or((zone, ""));
        let doc = self
            .call(
                "namecheap.domains.dns.getHosts",
                &[("SLD", sld), ("TLD", tld)],
            )
            .await?;
        let result = tags(&doc, "DomainDNSGetHostsResult");
        let result = result.first().cloned().unwrap_or_default();
        if attr(&result, "IsUsingOurDNS").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
            return Err(CallError {
                number: String::new(),
                error: DnsError::api(
                    PLUGIN,
                    format!(
                        "{zone} does not use Namecheap's name servers, so records set through \
                         its API are not served; use the DNSPLUGIN of the host that serves it"
                    ),
                ),
            });
        }
        let hosts = tags(&doc, "host")
            .into_iter()
            .map(|a| Host {
                name: attr(&a, "Name").unwrap_or_default().to_owned(),
                kind: attr(&a, "Type").unwrap_or_default().to_owned(),
                address: attr(&a, "Address").unwrap_or_default().to_owned(),
                mx_pref: attr(&a, "MXPref").unwrap_or("10").to_owned(),
                ttl: attr(&a, "TTL").unwrap_or("1800").to_owned(),
            })
            .collect();
        Ok(HostList {
            hosts,
            email_type: attr(&result, "EmailType").map(str::to_owned),
        })
    }

    /// Writes the whole host list back (setHosts replaces it).
    async fn set_hosts(&self, zone: &str, list: &HostList) -> Result<(), DnsError> {
        let (sld, tld) = zone.split_once('.').unwrap_or((zone, ""));
        let mut params: Vec<(String, String)> =
            vec![("SLD".into(), sld.into()), ("TLD".into(), tld.into())];
        if let Some(e) = &list.email_type {
            params.push(("EmailType".into(), e.clone()));
        }
        for (i, h) in list.hosts.iter().enumerate() {
            let n = i + 1;
            params.push((format!("HostName{n}"), h.name.clone()));
            params.push((format!("RecordType{n}"), h.kind.clone()));
            params.push((format!("Address{n}"), h.address.clone()));
            params.push((format!("MXPref{n}"), h.mx_pref.clone()));
            params.push((format!("TTL{n}"), h.ttl.clone()));
        }
        let borrowed: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let doc = self
            .call("namecheap.domains.dns.setHosts", &borrowed)
            .await
            .map_err(|e| e.error)?;
        let ok = tags(&doc, "DomainDNSSetHostsResult")
            .first()
            .and_then(|a| attr(a, "IsSuccess").map(|v| v.eq_ignore_ascii_case("true")))
            .unwrap_or(false);
        if !ok {
            return Err(DnsError::api(
                PLUGIN,
                format!("setHosts for {zone} did not succeed: {}", snippet(&doc)),
            ));
        }
        Ok(())
    }

    /// The whitelisted address: the ini's, or this machine's public IPv4.
    async fn client_ip(&self) -> Result<String, DnsError> {
        if let Some(ip) = self.config.client_ip {
            return Ok(ip.to_string());
        }
        self.client_ip
            .get_or_try_init(|| async {
                let reply = self
                    .http
                    .send("api.ipify.org (this machine's public IPv4)", || {
                        self.http.inner().get(IP_ECHO)
                    })
                    .await?;
                reply
                    .body
                    .trim()
                    .parse::<std::net::Ipv4Addr>()
                    .map(|ip| ip.to_string())
                    .map_err(|_| {
                        DnsError::api(
                            PLUGIN,
                            format!(
                                "cannot tell this machine's public IPv4 (api.ipify.org answered \
                                 {:?}): set {KEY_CLIENT_IP} in {PLUGIN}.ini to the address \
                                 whitelisted at Namecheap",
                                snippet(&reply.body)
                            ),
                        )
                    })
            })
            .await
            .cloned()
    }

    /// One API command (POSTed as a form, since setHosts lists get long);
    /// the answer's XML when `Status="OK"`.
    async fn call(&self, command: &str, params: &[(&str, &str)]) -> Result<String, CallError> {
        let wrap = |error| CallError {
            number: String::new(),
            error,
        };
        let ip = self.client_ip().await.map_err(wrap)?;
        let url = self
            .config
            .endpoint
            .join("xml.response")
            .map_err(|e| wrap(DnsError::api(PLUGIN, format!("bad endpoint: {e}"))))?;
        let mut form: Vec<(&str, &str)> = vec![
            ("ApiUser", &self.config.username),
            ("ApiKey", self.config.api_key.expose()),
            ("UserName", &self.config.username),
            ("ClientIp", &ip),
            ("Command", command),
        ];
        form.extend_from_slice(params);
        let reply = self
            .http
            .post_form(command, &url, &form_body(&form))
            .await
            .map_err(wrap)?;
        let status = tags(&reply.body, "ApiResponse")
            .first()
            .and_then(|a| attr(a, "Status").map(str::to_owned));
        if status.as_deref() == Some("OK") {
            return Ok(reply.body);
        }
        let error = tags(&reply.body, "Error")
            .into_iter()
            .next()
            .unwrap_or_default();
        let number = attr(&error, "Number").unwrap_or_default().to_owned();
        let message = xml::text(&reply.body, "Error").unwrap_or_else(|| snippet(&reply.body));
        let hint = match number.as_str() {
            "1011102" | "1010101" | "1017105" => format!("; check {KEY_API_KEY} in {PLUGIN}.ini, and that API access is enabled for the account"),
            "1011150" | "1011104" => format!(
                "; add {ip} to the API whitelist (Profile > Tools > API Access), or set \
                 {KEY_CLIENT_IP} in {PLUGIN}.ini to the whitelisted address"
            ),
            "1010102" | "1017150" => format!("; check {KEY_USERNAME} in {PLUGIN}.ini"),
            _ => String::new(),
        };
        Err(CallError {
            error: DnsError::api(
                PLUGIN,
                format!(
                    "{command}: HTTP {}: error {number}: {message}{hint}",
                    reply.status
                ),
            ),
            number: if number.is_empty() {
                "?".to_owned()
            } else {
                number
            },
        })
    }
}
