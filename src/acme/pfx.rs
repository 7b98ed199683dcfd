//! `privkey.pfx`: the key and chain as PKCS#12 with an empty password, as
//! SWAG's deploy hook writes it (`openssl pkcs12 -export -passout pass:`).

use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Build the PKCS#12 bytes for `key_pem` (PKCS#8) and `fullchain_pem`.
pub fn build_pfx(key_pem: &str, fullchain_pem: &str) -> Result<Vec<u8>, String> {
    let key = match PrivateKeyDer::from_pem_slice(key_pem.as_bytes()) {
        Ok(PrivateKeyDer::Pkcs8(k)) => k.secret_pkcs8_der().to_vec(),
        Ok(_) => return Err("privkey.pem is not PKCS#8".into()),
        Err(e) => return Err(format!("privkey.pem: {e}")),
    };
    let certs = CertificateDer::pem_slice_iter(fullchain_pem.as_bytes())
        .map(|c| {
            c.map_err(|e| format!("fullchain.pem: {e}"))
                .and_then(|d| Certificate::from_der(&d).map_err(|e| format!("fullchain.pem: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKey::from_der(&key).map_err(|e| format!("privkey.pem: {e}"))?;
    let mut store = KeyStore::new();
    store.add_entry(
        "1",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(vec![1u8], key, certs)),
    );
    store
        .writer("")
        .write()
        .map_err(|e| format!("PKCS#12: {e}"))
}
