//! Alibaba Cloud request signatures: V2 (HMAC-SHA1, what certbot-dns-aliyun
//! sends) and V3 (ACS3-HMAC-SHA256, the current default). Pure functions: the
//! caller supplies the timestamp and nonce, so the published vectors are
//! unit tests.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use base64::Engine as _;

/// Percent-encodes as Alibaba requires: UTF-8, only `A-Z a-z 0-9 - _ . ~`
/// left bare, upper-case hex, space as `%20`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `name=value` pairs percent-encoded, sorted by encoded name (byte order),
/// joined with `&`: the canonical query of both signature versions.
pub fn canonical_query(params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// V2 string to sign: `METHOD&%2F&` + percent-encode(canonical query).
pub fn v2_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical_query(params))
    )
}

/// V2 signature: base64(HMAC-SHA1(secret + "&", string to sign)). `params`
/// must not contain `Signature`.
pub fn v2_signature(secret: &str, method: &str, params: &[(String, String)]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(v2_string_to_sign(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Hex SHA-256, used for the V3 body hash and canonical request hash.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The parts of a request that V3 signs.
#[derive(Debug, Clone)]
pub struct V3Request<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// Query parameters (unencoded).
    pub query: &'a [(String, String)],
    /// Headers to sign, any case; they are lower-cased and sorted.
    pub headers: &'a [(String, String)],
    /// Hex SHA-256 of the body (`x-acs-content-sha256`).
    pub body_sha256: &'a str,
}

impl V3Request<'_> {
    /// Signed header names, lower-case, sorted, joined by `;`.
    pub fn signed_headers(&self) -> String {
        self.sorted_headers()
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
            .join(";")
    }

    fn sorted_headers(&self) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        h.sort();
        h
    }

    /// The canonical request: method, `/`, query, headers, names, body hash.
    pub fn canonical_request(&self) -> String {
        let headers: String = self
            .sorted_headers()
            .iter()
            .map(|(k, v)| format!("{k}:{v}\n"))
            .collect();
        format!(
            "{}\n/\n{}\n{}\n{}\n{}",
            self.method,
            canonical_query(self.query),
            headers,
            self.signed_headers(),
            self.body_sha256
        )
    }

    /// Hex HMAC-SHA256(secret, `ACS3-HMAC-SHA256\n` + hex(SHA-256(canonical))).
    pub fn signature(&self, secret: &str) -> String {
        let to_sign = format!(
            "ACS3-HMAC-SHA256\n{}",
            sha256_hex(self.canonical_request().as_bytes())
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(to_sign.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The `Authorization` header value.
    pub fn authorization(&self, access_key_id: &str, secret: &str) -> String {
        format!(
            "ACS3-HMAC-SHA256 Credential={access_key_id},SignedHeaders={},Signature={}",
            self.signed_headers(),
            self.signature(secret)
        )
    }
}

#[cfg(test)]
#[path = "aliyun_sign_tests.rs"]
mod tests;
