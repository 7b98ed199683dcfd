//! Aliyun (Alibaba Cloud DNS, "Alidns"): RPC API version 2015-01-09, signed
//! with Signature V3 (ACS3-HMAC-SHA256) by default or V2 (HMAC-SHA1, what
//! certbot-dns-aliyun sends) with `dns_aliyun_signature_version = 1`.
//!
//! Out of scope: CNAME following and waiting for DNS (see `propagation`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::aliyun_api::ApiFailure;
use super::http::{HttpClient, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::names::{relative_name, zone_candidates};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

pub(super) const NAME: &str = "aliyun";
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
    /// API endpoint; default `https://alidns.aliyuncs.com/`.
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
    pub(super) config: AliyunConfig,
    pub(super) http: HttpClient,
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
        tracing::info!(%fqdn, %zone, record_id = ?id, "aliyun: TXT record added");
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
            match self
                .call("DeleteDomainRecord", &[("RecordId", id.clone())])
                .await
            {
                Ok(_) => {
                    tracing::info!(fqdn = %handle.fqdn, record_id = %id, "aliyun: TXT record deleted");
                }
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

impl AliyunProvider {
    /// Finds the Alidns zone holding `name`: DescribeDomains EXACT on each
    /// suffix, longest first, accepting only an exact DomainName match.
    async fn find_zone(&self, name: &str) -> Result<String, DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(zone) = self.lock_zones().get(&name) {
            return Ok(zone.clone());
        }
        for candidate in zone_candidates(&name) {
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
}

/// RecordId is a JSON string (it can exceed 2^53); accept a number too.
fn record_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
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
