//! Aliyun (Alibaba Cloud DNS, "Alidns"): RPC API version 2015-01-09, signed
//! with Signature V3 (ACS3-HMAC-SHA256) by default or V2 (HMAC-SHA1, what
//! certbot-dns-aliyun sends) with `dns_aliyun_signature_version = 1`.
//!
//! Out of scope: CNAME following and waiting for DNS (see `propagation`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::aliyun_sign::{canonical_query, percent_encode, sha256_hex, v2_signature, V3Request};
use super::http::{snippet, HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::{DnsError, DnsProvider, RecordHandle, Secret};

const NAME: &str = "aliyun";
/// The AccessKey ID (RAM user with AliyunDNSFullAccess).
pub const KEY_ACCESS_KEY: &str = "dns_aliyun_access_key";
/// The AccessKey secret.
pub const KEY_ACCESS_KEY_SECRET: &str = "dns_aliyun_access_key_secret";
/// `1` for Signature V2 (HMAC-SHA1); `3` or absent for V3 (ACS3-HMAC-SHA256).
pub const KEY_SIGNATURE_VERSION: &str = "dns_aliyun_signature_version";
/// The API endpoint; default [`DEFAULT_ENDPOINT`] (regional hosts, tests).
pub const KEY_ENDPOINT: &str = "dns_aliyun_endpoint";
/// The public Alidns endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://alidns.aliyuncs.com/";
/// The TTL of challenge records: the default and the free plan's minimum.
pub const RECORD_TTL: u32 = 600;
const API_VERSION: &str = "2015-01-09";
const PLACEHOLDER_KEY: &str = "12345678";
const PLACEHOLDER_SECRET: &str = "1234567890abcdef1234567890abcdef";

/// Which Alibaba signature scheme requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    /// HMAC-SHA1 over the sorted query (`SignatureVersion=1.0`).
    V2,
    /// ACS3-HMAC-SHA256 in the `Authorization` header (default).
    V3,
}

/// Settings from `aliyun.ini`.
#[derive(Debug, Clone)]
pub struct AliyunConfig {
    /// AccessKey ID.
    pub access_key_id: String,
    /// AccessKey secret.
    pub access_key_secret: Secret,
    /// Signature scheme; default V3.
    pub signature_version: SignatureVersion,
    /// API endpoint; default [`DEFAULT_ENDPOINT`].
    pub endpoint: reqwest::Url,
    /// Timeout of one HTTP exchange; default 15 s.
    pub timeout: Duration,
    /// The ini file, named in errors that the user fixes there.
    pub ini_path: std::path::PathBuf,
}

impl AliyunConfig {
    /// Reads and validates the keys; errors name the file, line and key.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (key, key_line) = ini.required(KEY_ACCESS_KEY, "your AccessKey ID")?;
        ini.refuse_placeholder(
            KEY_ACCESS_KEY,
            key,
            key_line,
            PLACEHOLDER_KEY,
            "your AccessKey ID",
        )?;
        let (secret, _) = ini.required_secret(
            KEY_ACCESS_KEY_SECRET,
            "your AccessKey secret",
            PLACEHOLDER_SECRET,
        )?;
        let signature_version = match ini.optional(KEY_SIGNATURE_VERSION) {
            None => SignatureVersion::V3,
            Some(("1" | "1.0" | "2", _)) => SignatureVersion::V2,
            Some(("3", _)) => SignatureVersion::V3,
            Some((_, line)) => {
                return Err(ini.error(
                    Some(line),
                    format!(
                        "{KEY_SIGNATURE_VERSION} must be 1 (HMAC-SHA1) or 3 (ACS3-HMAC-SHA256)"
                    ),
                ))
            }
        };
        let endpoint = match ini.optional(KEY_ENDPOINT) {
            None => reqwest::Url::parse(DEFAULT_ENDPOINT).expect("the default endpoint is a URL"),
            Some((raw, line)) => reqwest::Url::parse(raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| {
                    ini.error(
                        Some(line),
                        format!("{KEY_ENDPOINT} must be an http(s) URL such as {DEFAULT_ENDPOINT}"),
                    )
                })?,
        };
        Ok(AliyunConfig {
            access_key_id: key.to_owned(),
            access_key_secret: secret,
            signature_version,
            endpoint,
            timeout: DEFAULT_TIMEOUT,
            ini_path: ini.path().to_owned(),
        })
    }
}

/// The Aliyun provider: one HTTP client and a cache of zones found.
#[derive(Debug)]
pub struct AliyunProvider {
    config: AliyunConfig,
    http: HttpClient,
    zones: Mutex<HashMap<String, String>>,
}

impl AliyunProvider {
    /// A provider for `config`.
    pub fn new(config: AliyunConfig) -> Result<Self, DnsError> {
        let http = HttpClient::new(NAME, config.timeout)?;
        Ok(AliyunProvider {
            config,
            http,
            zones: Mutex::new(HashMap::new()),
        })
    }

    /// Builds the provider from `aliyun.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(AliyunConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for AliyunProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let scheme = match self.config.signature_version {
            SignatureVersion::V2 => "Signature V2",
            SignatureVersion::V3 => "Signature V3",
        };
        if domains.is_empty() {
            self.call("DescribeDomains", &[("PageSize", "1".into())])
                .await
                .map_err(|e| self.describe(e, "DescribeDomains", None))?;
            return Ok(format!("aliyun: credentials accepted ({scheme})"));
        }
        let mut found = Vec::new();
        for domain in domains {
            let zone = self.find_zone(domain).await?;
            found.push(format!("{domain} in zone {zone}"));
        }
        found.dedup();
        Ok(format!(
            "aliyun: credentials accepted ({scheme}); {}",
            found.join(", ")
        ))
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let zone = self.find_zone(&fqdn).await?;
        let rr = relative_name(&fqdn, &zone);
        let answer = self
            .call(
                "AddDomainRecord",
                &[
                    ("DomainName", zone.clone()),
                    ("RR", rr.clone()),
                    ("Type", "TXT".into()),
                    ("Value", value.into()),
                    ("TTL", RECORD_TTL.to_string()),
                ],
            )
            .await;
        let id = match answer {
            Ok(json) => record_id(&json["RecordId"]),
            Err(ApiFailure::Code { code, .. }) if code == "DomainRecordDuplicate" => {
                tracing::info!(%fqdn, "aliyun: the TXT value is already present; reusing it");
                self.find_records(&fqdn, &zone, &rr, value)
                    .await?
                    .into_iter()
                    .next()
            }
            Err(e) => return Err(self.describe(e, "AddDomainRecord", Some(&zone))),
        };
        Ok(RecordHandle {
            fqdn,
            value: value.to_owned(),
            id,
            zone: Some(zone),
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let ids = match &handle.id {
            Some(id) => vec![id.clone()],
            None => {
                let zone = match &handle.zone {
                    Some(z) => z.clone(),
                    None => self.find_zone(&handle.fqdn).await?,
                };
                let rr = relative_name(&handle.fqdn, &zone);
                self.find_records(&handle.fqdn, &zone, &rr, &handle.value)
                    .await?
            }
        };
        for id in ids {
            match self.call("DeleteDomainRecord", &[("RecordId", id)]).await {
                Ok(_) => {}
                Err(ApiFailure::Code { code, .. })
                    if code == "DomainRecordNotBelongToUser" || code == "DomainRecordNotExist" =>
                {
                    tracing::info!(fqdn = %handle.fqdn, "aliyun: record already gone");
                }
                Err(e) => {
                    return Err(self.describe(e, "DeleteDomainRecord", handle.zone.as_deref()))
                }
            }
        }
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        Duration::from_secs(30)
    }
}

/// A failed call before it is turned into a message for the user.
#[derive(Debug)]
enum ApiFailure {
    /// The API answered with an error code.
    Code {
        code: String,
        message: String,
        request_id: String,
        status: u16,
    },
    /// Transport or format trouble, already a `DnsError`.
    Other(DnsError),
}

impl From<DnsError> for ApiFailure {
    fn from(e: DnsError) -> Self {
        ApiFailure::Other(e)
    }
}

impl AliyunProvider {
    /// Finds the Alidns zone holding `name`: DescribeDomains EXACT on each
    /// suffix, longest first, accepting only an exact DomainName match.
    async fn find_zone(&self, name: &str) -> Result<String, DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(zone) = self.lock_zones().get(&name) {
            return Ok(zone.clone());
        }
        let labels: Vec<&str> = name.split('.').collect();
        for start in 0..labels.len().saturating_sub(1) {
            let candidate = labels[start..].join(".");
            let json = self
                .call(
                    "DescribeDomains",
                    &[
                        ("KeyWord", candidate.clone()),
                        ("SearchMode", "EXACT".into()),
                        ("PageNumber", "1".into()),
                        ("PageSize", "100".into()),
                    ],
                )
                .await
                .map_err(|e| self.describe(e, "DescribeDomains", None))?;
            let hit = json["Domains"]["Domain"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| {
                    [&d["DomainName"], &d["PunyCode"]].iter().any(|n| {
                        n.as_str()
                            .is_some_and(|n| n.eq_ignore_ascii_case(&candidate))
                    })
                });
            if hit {
                self.lock_zones().insert(name.clone(), candidate.clone());
                return Ok(candidate);
            }
        }
        Err(DnsError::api(
            NAME,
            format!(
                "no zone in this Aliyun account holds {name}: add the domain to Alibaba Cloud DNS \
                 under the account of the AccessKey in {}",
                self.config.ini_path.display()
            ),
        ))
    }

    /// Record ids at `rr` whose type is TXT and value is exactly `value`.
    async fn find_records(
        &self,
        fqdn: &str,
        zone: &str,
        rr: &str,
        value: &str,
    ) -> Result<Vec<String>, DnsError> {
        let json = self
            .call(
                "DescribeSubDomainRecords",
                &[
                    ("SubDomain", fqdn.to_owned()),
                    ("DomainName", zone.to_owned()),
                    ("Type", "TXT".into()),
                    ("PageSize", "100".into()),
                ],
            )
            .await
            .map_err(|e| self.describe(e, "DescribeSubDomainRecords", Some(zone)))?;
        Ok(json["DomainRecords"]["Record"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["RR"].as_str() == Some(rr)
                    && r["Type"].as_str() == Some("TXT")
                    && r["Value"].as_str() == Some(value)
            })
            .filter_map(|r| record_id(&r["RecordId"]))
            .collect())
    }

    fn lock_zones(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // Each use is one map operation: a poisoned lock holds a usable map.
        self.zones.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One signed API call; a fresh nonce and timestamp on every try.
    async fn call(&self, action: &str, params: &[(&str, String)]) -> Result<Value, ApiFailure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reply = self
                .http
                .send(action, || self.build_request(action, params))
                .await?;
            let json: Value = serde_json::from_str(&reply.body).map_err(|_| {
                DnsError::api(
                    NAME,
                    format!(
                        "{action}: HTTP {} with an answer that is not JSON: {}",
                        reply.status,
                        snippet(&reply.body)
                    ),
                )
            })?;
            let code = json["Code"].as_str().unwrap_or_default();
            if reply.status < 400 && code.is_empty() {
                return Ok(json);
            }
            // A nonce collision or throttling is worth one more signed try.
            if matches!(
                code,
                "SignatureNonceUsed" | "Throttling" | "Throttling.User"
            ) && attempt < 3
            {
                tokio::time::sleep(Duration::from_millis(300 * attempt)).await;
                continue;
            }
            return Err(ApiFailure::Code {
                code: if code.is_empty() {
                    format!("HTTP{}", reply.status)
                } else {
                    code.to_owned()
                },
                message: json["Message"].as_str().unwrap_or_default().to_owned(),
                request_id: json["RequestId"].as_str().unwrap_or_default().to_owned(),
                status: reply.status,
            });
        }
    }

    fn build_request(&self, action: &str, params: &[(&str, String)]) -> reqwest::RequestBuilder {
        let timestamp = timestamp_now();
        let nonce = format!("{:032x}", rand::random::<u128>());
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let mut url = self.config.endpoint.clone();
        let client = self.http.inner();
        match self.config.signature_version {
            SignatureVersion::V2 => {
                let mut all = params;
                all.extend(
                    [
                        ("Action", action),
                        ("Format", "JSON"),
                        ("Version", API_VERSION),
                        ("AccessKeyId", self.config.access_key_id.as_str()),
                        ("SignatureMethod", "HMAC-SHA1"),
                        ("SignatureVersion", "1.0"),
                        ("SignatureNonce", nonce.as_str()),
                        ("Timestamp", timestamp.as_str()),
                    ]
                    .map(|(k, v)| (k.to_owned(), v.to_owned())),
                );
                let signature = v2_signature(self.config.access_key_secret.expose(), "GET", &all);
                url.set_query(Some(&format!(
                    "{}&Signature={}",
                    canonical_query(&all),
                    percent_encode(&signature)
                )));
                client.get(url).header("Accept", "application/json")
            }
            SignatureVersion::V3 => {
                let body_hash = sha256_hex(b"");
                let host = match url.port() {
                    Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
                    None => url.host_str().unwrap_or_default().to_owned(),
                };
                let headers: Vec<(String, String)> = [
                    ("host", host.as_str()),
                    ("x-acs-action", action),
                    ("x-acs-version", API_VERSION),
                    ("x-acs-date", timestamp.as_str()),
                    ("x-acs-signature-nonce", nonce.as_str()),
                    ("x-acs-content-sha256", body_hash.as_str()),
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .to_vec();
                let authorization = V3Request {
                    method: "POST",
                    query: &params,
                    headers: &headers,
                    body_sha256: &body_hash,
                }
                .authorization(
                    &self.config.access_key_id,
                    self.config.access_key_secret.expose(),
                );
                url.set_query(Some(&canonical_query(&params)));
                let mut req = client.post(url);
                for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
                    req = req.header(k.as_str(), v.as_str());
                }
                req.header("Authorization", authorization)
                    .header("Accept", "application/json")
            }
        }
    }

    /// Turns an API error code into a message the user can act on.
    fn describe(&self, failure: ApiFailure, action: &str, zone: Option<&str>) -> DnsError {
        let (code, message, request_id, status) = match failure {
            ApiFailure::Other(e) => return e,
            ApiFailure::Code {
                code,
                message,
                request_id,
                status,
            } => (code, message, request_id, status),
        };
        let file = self.config.ini_path.display();
        let zone = zone.unwrap_or("the domain");
        let text = match code.as_str() {
            "InvalidAccessKeyId.NotFound" | "InvalidAccessKeyId" => format!(
                "the AccessKey ID is not known to Aliyun: check {KEY_ACCESS_KEY} in {file}"
            ),
            "InvalidAccessKeyId.Inactive" => {
                format!("the AccessKey in {file} is disabled: enable it in the RAM console")
            }
            "SignatureDoesNotMatch" | "IncompleteSignature" => format!(
                "the signature was rejected: {KEY_ACCESS_KEY_SECRET} in {file} is wrong or does not \
                 belong to {KEY_ACCESS_KEY}"
            ),
            "InvalidTimeStamp.Expired" | "InvalidTimeStamp.Format" => {
                "the request timestamp was rejected: this machine's clock is off; sync it (NTP)".to_owned()
            }
            "IncorrectDomainUser" | "InvalidDomainName.NoExist" | "DomainRecordNotBelongToUser" => {
                format!(
                    "{zone} is not in the Aliyun account of the AccessKey in {file}: add it to \
                     Alibaba Cloud DNS there, or use that account's key"
                )
            }
            "QuotaExceeded.TTL" | "DomainRecordTTLTooSmall" => format!(
                "TTL {RECORD_TTL} is below the minimum of {zone}'s DNS plan: this cannot happen on \
                 the free plan; check the plan of {zone}"
            ),
            c if c.starts_with("Forbidden") => format!(
                "the AccessKey in {file} may not manage DNS: attach the AliyunDNSFullAccess policy \
                 to its RAM user"
            ),
            _ => format!("{action} failed: {code}: {}", snippet(&message)),
        };
        let retryable = status >= 500 || code.starts_with("Throttling");
        DnsError::Api {
            provider: NAME,
            message: if request_id.is_empty() {
                text
            } else {
                format!("{text} (code {code}, RequestId {request_id})")
            },
            retryable,
        }
    }
}

/// `fqdn` relative to `zone` (Alidns' RR); `@` for the apex.
fn relative_name(fqdn: &str, zone: &str) -> String {
    let fqdn = fqdn.trim_end_matches('.');
    match fqdn.strip_suffix(zone) {
        Some("") => "@".to_owned(),
        Some(rest) => rest.trim_end_matches('.').to_owned(),
        None => fqdn.to_owned(),
    }
}

/// RecordId is a JSON string (it can exceed 2^53); accept a number too.
fn record_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC, as both signature versions require.
fn timestamp_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    now.format(&fmt).expect("a UTC time always formats")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rr_is_the_name_relative_to_the_zone() {
        assert_eq!(
            relative_name("_acme-challenge.www.example.com", "example.com"),
            "_acme-challenge.www"
        );
        assert_eq!(relative_name("example.com.", "example.com"), "@");
    }

    #[test]
    fn record_ids_beyond_2_pow_53_survive() {
        let v: Value =
            serde_json::from_str(r#"{"a":"18014398509481985","b":18014398509481985}"#).unwrap();
        assert_eq!(record_id(&v["a"]).unwrap(), "18014398509481985");
        assert_eq!(record_id(&v["b"]).unwrap(), "18014398509481985");
    }
}
