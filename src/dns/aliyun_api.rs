//! The signed Alidns call and the mapping of its error codes to messages a
//! user can act on. Split from `aliyun.rs`, which keeps the provider's verbs.

use std::time::Duration;

use serde_json::Value;

use super::aliyun::{
    AliyunProvider, SignatureVersion, KEY_ACCESS_KEY, KEY_ACCESS_KEY_SECRET, NAME, RECORD_TTL,
};
use super::aliyun_sign::{canonical_query, percent_encode, sha256_hex, v2_signature, V3Request};
use super::http::snippet;
use super::DnsError;

const API_VERSION: &str = "2015-01-09";

/// A failed call before it is turned into a message for the user.
#[derive(Debug)]
pub(super) enum ApiFailure {
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
    /// One signed API call; a fresh nonce and timestamp on every try.
    pub(super) async fn call(
        &self,
        action: &str,
        params: &[(&str, String)],
    ) -> Result<Value, ApiFailure> {
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
    pub(super) fn describe(
        &self,
        failure: ApiFailure,
        action: &str,
        zone: Option<&str>,
    ) -> DnsError {
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

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC, as both signature versions require.
fn timestamp_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    now.format(&fmt).expect("a UTC time always formats")
}
