//! RS256 JSON Web Tokens (RFC 7519, RFC 7515 compact form): the assertions
//! OAuth token endpoints exchange for access tokens, Google's service-account
//! grant (RFC 7523) and Azure's certificate client assertion.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use super::rsa_key::{Digest, RsaKey};
use super::secret::Secret;

/// `header` (its `alg` and `typ` set here) and `claims`, signed with `key`.
pub(crate) fn rs256(mut header: Value, claims: &Value, key: &RsaKey) -> Result<Secret, String> {
    header["alg"] = "RS256".into();
    header["typ"] = "JWT".into();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key.sign(Digest::Sha256, signing_input.as_bytes())?;
    Ok(Secret::new(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(sig)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    #[test]
    fn the_token_is_three_parts_whose_signature_verifies() {
        let pem = include_str!("../../tests/support/keys/test-rsa-pkcs8.pem");
        let key = RsaKey::from_pem(pem).unwrap();
        let jwt = rs256(
            serde_json::json!({"x5t": "abc"}),
            &serde_json::json!({"iss": "me"}),
            &key,
        )
        .unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["x5t"], "abc");
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "me");
        let public = key.public_key_der();
        let message = format!("{}.{}", parts[0], parts[1]);
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
            .verify(message.as_bytes(), &sig)
            .expect("the signature verifies with the key's public half");
    }
}
