//! An RSA private key from a PEM file or string (PKCS#8 `PRIVATE KEY` or
//! PKCS#1 `RSA PRIVATE KEY`), signing with PKCS#1 v1.5: RS256 for Google's
//! service-account JWTs, SHA-512 for TransIP's authentication requests.

use ring::rand::SystemRandom;
use ring::signature::{RsaEncoding, RsaKeyPair, RSA_PKCS1_SHA256, RSA_PKCS1_SHA512};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

/// A loaded RSA key (TransIP's API key, Google's service account, an Azure
/// certificate's key); `Debug` never shows it.
pub struct RsaKey(RsaKeyPair);

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaKey(***)")
    }
}

/// The digest a signature uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Digest {
    Sha256,
    Sha512,
}

impl RsaKey {
    /// Parses the first private key in `pem`; the error says what is wrong
    /// without any of the key.
    pub(crate) fn from_pem(pem: &str) -> Result<Self, String> {
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
            "no PEM private key in it (expected -----BEGIN PRIVATE KEY----- or \
             -----BEGIN RSA PRIVATE KEY-----)"
                .to_owned()
        })?;
        let pair = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err("the private key is not an RSA key".to_owned()),
        }
        .map_err(|e| format!("not a usable RSA private key ({e})"))?;
        Ok(RsaKey(pair))
    }

    /// The public half as a PKCS#1 `RSAPublicKey` DER, to verify in tests.
    #[cfg(test)]
    pub fn public_key_der(&self) -> Vec<u8> {
        self.0.public().as_ref().to_vec()
    }

    /// The PKCS#1 v1.5 signature of `message`.
    pub(crate) fn sign(&self, digest: Digest, message: &[u8]) -> Result<Vec<u8>, String> {
        let alg: &'static dyn RsaEncoding = match digest {
            Digest::Sha256 => &RSA_PKCS1_SHA256,
            Digest::Sha512 => &RSA_PKCS1_SHA512,
        };
        let mut sig = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(alg, &SystemRandom::new(), message, &mut sig)
            .map_err(|_| "RSA signing failed".to_owned())?;
        Ok(sig)
    }
}
