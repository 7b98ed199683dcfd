//! ZeroSSL External Account Binding: fetched for `EMAIL` from ZeroSSL's API
//! (`POST https://api.zerossl.com/acme/eab-credentials-email`), as SWAG does.

use super::config::Eab;
use super::AcmeError;

/// ZeroSSL's endpoint that issues EAB credentials for an e-mail address.
pub const EAB_ENDPOINT: &str = "https://api.zerossl.com/acme/eab-credentials-email";

/// Ask ZeroSSL for EAB credentials for `email`.
pub async fn fetch_eab(email: &str) -> Result<Eab, AcmeError> {
    fetch_eab_from(EAB_ENDPOINT, email).await
}

/// [`fetch_eab`] against another endpoint (for tests).
pub async fn fetch_eab_from(endpoint: &str, email: &str) -> Result<Eab, AcmeError> {
    if !email.contains('@') {
        return Err(AcmeError::Config {
            setting: "EMAIL",
            message: "CERTPROVIDER=zerossl needs an e-mail address to fetch EAB credentials".into(),
        });
    }
    let mut builder = reqwest::Client::builder();
    // Never getaddrinfo: it cannot resolve anything in the static image.
    if let Some(dns) = crate::dns::HickoryDns::from_system() {
        builder = builder.dns_resolver(std::sync::Arc::new(dns));
    }
    let client = builder
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| AcmeError::ZeroSslEab(format!("HTTP client: {e}")))?;
    let body = format!("email={}", form_encode(email));
    let rsp = client
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| AcmeError::ZeroSslEab(format!("{endpoint}: {e}")))?;
    let status = rsp.status();
    let text = rsp
        .text()
        .await
        .map_err(|e| AcmeError::ZeroSslEab(format!("{endpoint}: {e}")))?;
    if !status.is_success() {
        return Err(AcmeError::ZeroSslEab(format!(
            "{endpoint}: HTTP {status}: {text}"
        )));
    }
    parse_eab_response(&text)
}

/// Parse ZeroSSL's answer: `{"success":true,"eab_kid":"...","eab_hmac_key":"..."}`
/// or `{"success":false,"error":{"code":..,"type":".."}}`.
pub fn parse_eab_response(body: &str) -> Result<Eab, AcmeError> {
    #[derive(serde::Deserialize)]
    struct Rsp {
        success: Option<bool>,
        eab_kid: Option<String>,
        eab_hmac_key: Option<String>,
        error: Option<serde_json::Value>,
    }
    let r: Rsp = serde_json::from_str(body)
        .map_err(|e| AcmeError::ZeroSslEab(format!("unexpected answer ({e})")))?;
    match (r.success, r.eab_kid, r.eab_hmac_key) {
        (Some(true), Some(kid), Some(key)) if !kid.is_empty() && !key.is_empty() => Ok(Eab {
            kid,
            hmac_key_b64: key,
        }),
        _ => Err(AcmeError::ZeroSslEab(format!(
            "ZeroSSL refused: {}",
            r.error
                .map(|e| e.to_string())
                .unwrap_or_else(|| "no credentials in the answer".into())
        ))),
    }
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eab_answer_gives_kid_and_key() {
        let eab =
            parse_eab_response(r#"{"success":true,"eab_kid":"kid123","eab_hmac_key":"aGVsbG8"}"#)
                .unwrap();
        assert_eq!(eab.kid, "kid123");
        assert_eq!(eab.hmac_key_b64, "aGVsbG8");
    }

    #[test]
    fn eab_refusal_is_an_error_with_zerossl_reason() {
        let e =
            parse_eab_response(r#"{"success":false,"error":{"code":2900,"type":"invalid_email"}}"#)
                .unwrap_err();
        assert!(e.to_string().contains("invalid_email"), "{e}");
    }

    #[test]
    fn email_is_form_encoded() {
        assert_eq!(form_encode("a+b@x.org"), "a%2Bb%40x.org");
    }

    #[tokio::test]
    async fn eab_without_email_names_the_variable() {
        let e = fetch_eab_from("http://127.0.0.1:9/", "nobody")
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with("EMAIL:"), "{e}");
    }
}
