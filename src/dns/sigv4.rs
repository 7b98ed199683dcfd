//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`), the few pieces Route 53
//! needs: canonical request, string to sign, signing key, `Authorization`.
//! Pure functions: the caller passes the time, so AWS's published
//! `aws-sig-v4-test-suite` vectors are unit tests (`sigv4_tests.rs`).
//!
//! Out of scope: S3's unsigned payloads and chunked uploads, presigned URLs,
//! path normalisation (Route 53 paths are plain), SigV4a.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::Secret;

/// The signing algorithm's name, first word of the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// An access key pair, with the session token of temporary credentials.
#[derive(Debug, Clone)]
pub struct AwsCredentials {
    /// The access key id (`AKIA...`, `ASIA...`); not a secret, but not logged.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// `X-Amz-Security-Token` of temporary (STS) credentials.
    pub session_token: Option<Secret>,
}

/// One request to sign: the path already URI-encoded as sent, the query as
/// decoded pairs, every header that will be sent (names in any case).
#[derive(Debug, Clone)]
pub struct SigV4Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The absolute path as it goes on the wire (`/2013-04-01/hostedzone`).
    pub path: &'a str,
    /// Query parameters, not encoded.
    pub query: &'a [(String, String)],
    /// Headers to sign; must include `host` and `x-amz-date`.
    pub headers: &'a [(String, String)],
    /// The body.
    pub payload: &'a [u8],
}

/// Percent-encodes as SigV4 requires: only `A-Z a-z 0-9 - _ . ~` bare,
/// upper-case hex, UTF-8 bytes.
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Hex SHA-256, lower case.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The query encoded and sorted by name, then value: `a=1&b=2`.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Header names lower-cased and sorted, values trimmed with inner runs of
/// spaces folded to one, repeated names joined with `,` in order. Returns
/// the canonical header block (each line ending in `\n`) and the signed
/// header list (`host;x-amz-date`).
pub fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut merged: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in headers {
        let name = name.trim().to_ascii_lowercase();
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => merged.push((name, vec![value])),
        }
    }
    merged.sort_by(|a, b| a.0.cmp(&b.0));
    let block = merged
        .iter()
        .map(|(n, v)| format!("{n}:{}\n", v.join(",")))
        .collect();
    let signed = merged
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (block, signed)
}

/// The canonical request of `req`.
pub fn canonical_request(req: &SigV4Request<'_>) -> String {
    let (headers, signed) = canonical_headers(req.headers);
    format!(
        "{}\n{}\n{}\n{headers}\n{signed}\n{}",
        req.method,
        req.path,
        canonical_query(req.query),
        sha256_hex(req.payload)
    )
}

/// `<yyyymmdd>/<region>/<service>/aws4_request`.
pub fn scope(amz_date: &str, region: &str, service: &str) -> String {
    let day = amz_date.get(..8).unwrap_or(amz_date);
    format!("{day}/{region}/{service}/aws4_request")
}

/// The string to sign for a canonical request made at `amz_date`
/// (`20150830T123600Z`).
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The derived key: HMAC chain over date, region, service and `aws4_request`.
pub fn signing_key(secret: &Secret, amz_date: &str, region: &str, service: &str) -> Vec<u8> {
    let day = amz_date.get(..8).unwrap_or(amz_date);
    let k = hmac(
        format!("AWS4{}", secret.expose()).as_bytes(),
        day.as_bytes(),
    );
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// The `Authorization` header value for `req`.
pub fn authorization(
    creds: &AwsCredentials,
    region: &str,
    service: &str,
    amz_date: &str,
    req: &SigV4Request<'_>,
) -> String {
    let scope = scope(amz_date, region, service);
    let (_, signed) = canonical_headers(req.headers);
    let sts = string_to_sign(amz_date, &scope, &canonical_request(req));
    let key = signing_key(&creds.secret_access_key, amz_date, region, service);
    let signature = hex::encode(hmac(&key, sts.as_bytes()));
    format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        creds.access_key_id
    )
}

/// `X-Amz-Date` for a time: `20150830T123600Z`.
pub fn amz_date(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;
