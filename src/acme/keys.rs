//! Fresh certificate keys for each order (`KEY_TYPE`).

use rustls_pki_types::PrivatePkcs8KeyDer;

use super::config::KeyType;
use super::AcmeError;

/// Generate a new key pair of `key_type`. ECDSA comes from ring; RSA from
/// the `rsa` crate, since ring cannot generate RSA keys.
pub fn generate(key_type: KeyType) -> Result<rcgen::KeyPair, AcmeError> {
    let internal =
        |e: String| AcmeError::Internal(format!("key generation ({}): {e}", key_type.as_str()));
    match key_type {
        KeyType::Ecdsa256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| internal(e.to_string())),
        KeyType::Ecdsa384 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
            .map_err(|e| internal(e.to_string())),
        KeyType::Rsa2048 | KeyType::Rsa4096 => {
            use rsa::pkcs8::EncodePrivateKey;
            let bits = if key_type == KeyType::Rsa2048 {
                2048
            } else {
                4096
            };
            let key = rsa::RsaPrivateKey::new(&mut rand_core_06::OsRng, bits)
                .map_err(|e| internal(e.to_string()))?;
            let der = key.to_pkcs8_der().map_err(|e| internal(e.to_string()))?;
            let der = PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
            rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)
                .map_err(|e| internal(e.to_string()))
        }
    }
}
