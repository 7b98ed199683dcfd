//! acme-dns (github.com/joohoi/acme-dns): a tiny DNS server whose only job is
//! serving ACME challenge TXT records, reached by a CNAME from
//! `_acme-challenge.<domain>` to the registration's `fulldomain`; any DNS
//! host works that way. SWAG's plugin is certbot-dns-acmedns (`acmedns.ini`:
//! `dns_acmedns_api_url`, `dns_acmedns_registration_file`, a JSON file keyed
//! by domain with each registration's `username`, `password`, `fulldomain`,
//! `subdomain`).
//!
//! `present` is `POST <api_url>/update` with `X-Api-User` / `X-Api-Key` and
//! `{"subdomain", "txt"}`. acme-dns keeps the two most recent values of a
//! subdomain, which is exactly the apex and the wildcard; it has no delete,
//! so `cleanup` does nothing (the next order's values replace these).
//! Out of scope: registering (`/register`) and checking the CNAME, which the
//! user sets up once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::http::{snippet, HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::challenge_bases;
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `acmedns.ini`: the acme-dns server's API base URL.
pub const KEY_API_URL: &str = "dns_acmedns_api_url";
/// `acmedns.ini`: the registration JSON (a `/config/...` path is also looked
/// for under moat's config directory; a relative one next to the ini).
pub const KEY_REGISTRATION_FILE: &str = "dns_acmedns_registration_file";
const PLACEHOLDER_API_URL: &str = "http://your-acme-dns-server.example.com/";
/// SWAG's `acmedns-registration.json` template values.
const PLACEHOLDER_DOMAIN: &str = "yourdomain.com";
const PLACEHOLDER_USERNAME: &str = "yourusername";
const PLACEHOLDER_PASSWORD: &str = "yourpassword";
const PLACEHOLDER_SUBDOMAIN: &str = "<guid>";
const PLUGIN: &str = "acmedns";

/// One domain's acme-dns account.
#[derive(Debug, Clone)]
pub struct AcmeDnsRegistration {
    /// `X-Api-User`.
    pub username: String,
    /// `X-Api-Key`.
    pub password: Secret,
    /// The name `_acme-challenge.<domain>` must be a CNAME to.
    pub fulldomain: String,
    /// The registration's subdomain (sent with each update).
    pub subdomain: String,
}

/// Settings from `acmedns.ini` and its registration file.
#[derive(Debug, Clone)]
pub struct AcmeDnsConfig {
    /// API base URL, ending in `/`.
    pub api_url: reqwest::Url,
    /// Where the registrations were read from (named in errors).
    pub registration_file: PathBuf,
    /// Registrations by domain, lower case (`example.com`, `*.example.com`).
    pub registrations: BTreeMap<String, AcmeDnsRegistration>,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl AcmeDnsConfig {
    /// Reads `acmedns.ini` and the registration file it names.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (raw_url, url_line) = ini.required(KEY_API_URL, "your acme-dns server's URL")?;
        ini.refuse_placeholder(
            KEY_API_URL,
            raw_url,
            url_line,
            PLACEHOLDER_API_URL,
            "your acme-dns server's URL",
        )?;
        let api_url = ini.endpoint(KEY_API_URL, PLACEHOLDER_API_URL)?;
        let (file, file_line) = ini.required(
            KEY_REGISTRATION_FILE,
            "the path of the acme-dns registration JSON",
        )?;
        let registration_file = locate(ini.path(), Path::new(file));
        let text = std::fs::read_to_string(&registration_file).map_err(|e| {
            ini.error(
                Some(file_line),
                format!(
                    "{KEY_REGISTRATION_FILE}: cannot read {}: {e}",
                    registration_file.display()
                ),
            )
        })?;
        let registrations = parse_registrations(&text, &registration_file)?;
        Ok(AcmeDnsConfig {
            api_url,
            registration_file,
            registrations,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The registration for the domain of `fqdn` (`_acme-challenge.` taken
    /// off), its wildcard, or the one whose `fulldomain` is `fqdn` (when the
    /// caller followed the CNAME).
    pub fn registration_for(&self, fqdn: &str) -> Option<(&str, &AcmeDnsRegistration)> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let domain = fqdn.strip_prefix("_acme-challenge.").unwrap_or(&fqdn);
        [domain.to_owned(), format!("*.{domain}")]
            .iter()
            .find_map(|k| self.registrations.get_key_value(k))
            .or_else(|| {
                self.registrations
                    .iter()
                    .find(|(_, r)| r.fulldomain.eq_ignore_ascii_case(&fqdn))
            })
            .map(|(k, r)| (k.as_str(), r))
    }
}

/// `path` as written, or for `/config/...` that does not exist, the same
/// path under the config directory holding this ini (`<config>/dns-conf/`);
/// a relative path is taken next to the ini.
fn locate(ini_path: &Path, path: &Path) -> PathBuf {
    let dns_conf = ini_path.parent().unwrap_or(Path::new("."));
    if path.is_relative() {
        return dns_conf.join(path);
    }
    if !path.exists() {
        if let (Ok(rest), Some(config)) = (path.strip_prefix("/config"), dns_conf.parent()) {
            return config.join(rest);
        }
    }
    path.to_owned()
}

/// The registrations in `text`; errors name `file` and the domain and field.
fn parse_registrations(
    text: &str,
    file: &Path,
) -> Result<BTreeMap<String, AcmeDnsRegistration>, DnsError> {
    let error = |message: String| DnsError::Credentials {
        provider: PLUGIN,
        file: file.to_owned(),
        line: None,
        message,
    };
    let json: Value = serde_json::from_str(text)
        .map_err(|e| error(format!("not valid JSON (line {}): {e}", e.line())))?;
    let Some(map) = json.as_object() else {
        return Err(error(
            "expected a JSON object keyed by domain, as acme-dns-client and certbot-dns-acmedns write it"
                .to_owned(),
        ));
    };
    let mut out = BTreeMap::new();
    for (domain, reg) in map {
        if domain == PLACEHOLDER_DOMAIN {
            return Err(error(format!(
                "{domain} is the template's placeholder domain: replace it with your domain \
                 and its acme-dns registration (from POST /register)"
            )));
        }
        let field = |name: &str, placeholder: &str| -> Result<String, DnsError> {
            match reg[name].as_str().map(str::trim) {
                Some(v)
                    if v == placeholder
                        || v.contains(PLACEHOLDER_SUBDOMAIN)
                        || (v.starts_with('<') && v.ends_with('>')) =>
                {
                    Err(error(format!(
                        "{domain}: {name} still holds the template's placeholder value: replace \
                         it with the registration's {name}"
                    )))
                }
                Some(v) if !v.is_empty() => Ok(v.to_owned()),
                _ => Err(error(format!(
                    "{domain}: missing {name}: add the registration's {name} (from POST /register)"
                ))),
            }
        };
        let username = field("username", PLACEHOLDER_USERNAME)?;
        let password = Secret::new(field("password", PLACEHOLDER_PASSWORD)?);
        let subdomain = field("subdomain", PLACEHOLDER_SUBDOMAIN)?;
        let fulldomain = field("fulldomain", PLACEHOLDER_SUBDOMAIN)?;
        out.insert(
            domain.trim_end_matches('.').to_ascii_lowercase(),
            AcmeDnsRegistration {
                username,
                password,
                fulldomain: fulldomain.trim_end_matches('.').to_ascii_lowercase(),
                subdomain,
            },
        );
    }
    Ok(out)
}

/// The acme-dns provider.
#[derive(Debug)]
pub struct AcmeDnsProvider {
    config: AcmeDnsConfig,
    http: HttpClient,
}

impl AcmeDnsProvider {
    /// A provider for `config`.
    pub fn new(config: AcmeDnsConfig) -> Result<Self, DnsError> {
        Ok(AcmeDnsProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
        })
    }

    /// Builds the provider from `acmedns.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(AcmeDnsConfig::from_ini(ini)?)?))
    }

    fn registration(&self, fqdn: &str) -> Result<(&str, &AcmeDnsRegistration), DnsError> {
        self.config.registration_for(fqdn).ok_or_else(|| {
            let domain = fqdn
                .trim_end_matches('.')
                .trim_start_matches("_acme-challenge.");
            DnsError::Credentials {
                provider: PLUGIN,
                file: self.config.registration_file.clone(),
                line: None,
                message: format!(
                    "no registration for {domain}: register it with the acme-dns server \
                     (POST /register), add it under \"{domain}\", and CNAME \
                     _acme-challenge.{domain} to its fulldomain"
                ),
            }
        })
    }
}

#[async_trait::async_trait]
impl DnsProvider for AcmeDnsProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let domains = &challenge_bases(domains)[..];
        let mut covered = Vec::new();
        for d in domains {
            let (_, reg) = self.registration(&format!("_acme-challenge.{d}"))?;
            covered.push(format!("{d} (CNAME to {})", reg.fulldomain));
        }
        // acme-dns has no authenticated read: /health shows the server is
        // there; the credentials are first used by the order's update.
        let url = self.url("health")?;
        let reply = self
            .http
            .send("GET health", || self.http.inner().get(url.clone()))
            .await?;
        if reply.status >= 400 {
            return Err(DnsError::api(
                PLUGIN,
                format!(
                    "GET health: HTTP {}: {}; check {KEY_API_URL} in {PLUGIN}.ini",
                    reply.status,
                    snippet(&reply.body)
                ),
            ));
        }
        let head = format!("{PLUGIN}: server at {} answers", self.config.api_url);
        Ok(if covered.is_empty() {
            format!("{head}; {} registrations", self.config.registrations.len())
        } else {
            format!("{head}; registrations for {}", covered.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let (domain, reg) = self.registration(&fqdn)?;
        let url = self.url("update")?;
        let body = json!({"subdomain": reg.subdomain, "txt": value});
        let reply = self
            .http
            .send("POST update", || {
                self.http
                    .inner()
                    .post(url.clone())
                    .header("x-api-user", &reg.username)
                    .header("x-api-key", reg.password.expose())
                    .json(&body)
            })
            .await?;
        if reply.status >= 400 {
            let json: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
            let message = json["error"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| snippet(&reply.body));
            let hint = if matches!(reply.status, 401 | 403) {
                format!(
                    "; check username and password of \"{domain}\" in {} (and the \
                     registration's allowfrom)",
                    self.config.registration_file.display()
                )
            } else {
                String::new()
            };
            return Err(DnsError::api(
                PLUGIN,
                format!("POST update: HTTP {}: {message}{hint}", reply.status),
            ));
        }
        tracing::info!(%fqdn, fulldomain = %reg.fulldomain, "{PLUGIN}: TXT value updated");
        Ok(RecordHandle {
            fqdn,
            value: value.to_owned(),
            id: None,
            zone: Some(reg.fulldomain.clone()),
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        // acme-dns has no delete; it keeps the two latest values of a
        // subdomain, and the next order's values replace these.
        tracing::debug!(fqdn = %handle.fqdn, "{PLUGIN}: nothing to clean up (acme-dns keeps the two latest values)");
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        // acme-dns answers from memory at once; a margin for the CNAME path.
        Duration::from_secs(30)
    }
}

impl AcmeDnsProvider {
    fn url(&self, path: &str) -> Result<reqwest::Url, DnsError> {
        self.config
            .api_url
            .join(path)
            .map_err(|e| DnsError::api(PLUGIN, format!("bad API path {path}: {e}")))
    }
}
