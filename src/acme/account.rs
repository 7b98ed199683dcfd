//! The ACME account: created once per directory URL, persisted as
//! instant-acme credentials JSON (0600) under `etc/letsencrypt/accounts/`,
//! and reused across restarts.

use std::fs;

use base64::Engine;
use instant_acme::{Account, AccountCredentials, ExternalAccountKey, NewAccount};

use super::config::{AcmeConfig, Directory};
use super::fsio::{ensure_dir, write_atomic};
use super::paths::LetsencryptPaths;
use super::AcmeError;

/// Install ring as the process-wide rustls provider (instant-acme panics
/// when more than one provider is compiled in and none is installed).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The stored account for `cfg.directory`, or a new one registered now.
pub async fn load_or_create(
    cfg: &AcmeConfig,
    paths: &LetsencryptPaths,
) -> Result<Account, AcmeError> {
    install_crypto_provider();
    let url = cfg.directory.url().to_owned();
    let file = paths.account_file(&url);
    if let Ok(json) = fs::read_to_string(&file) {
        let creds: AccountCredentials = serde_json::from_str(&json).map_err(|e| {
            AcmeError::bad_file(&file, format!("not instant-acme credentials: {e}"))
        })?;
        let account = builder(cfg)?
            .from_credentials(creds)
            .await
            .map_err(|e| AcmeError::server(&url, e))?;
        tracing::debug!(file = %file.display(), "ACME account reused");
        return Ok(account);
    }

    let eab = match (&cfg.eab, &cfg.directory) {
        (Some(eab), _) => Some(eab.clone()),
        (None, Directory::ZeroSsl) => {
            let email = cfg.email.as_deref().unwrap_or("");
            Some(super::zerossl::fetch_eab(email).await?)
        }
        _ => None,
    };
    let eab_key = match &eab {
        Some(e) => {
            let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(e.hmac_key_b64.trim_end_matches('='))
                .map_err(|err| AcmeError::Config {
                    setting: "EAB",
                    message: format!("the HMAC key is not base64url: {err}"),
                })?;
            Some(ExternalAccountKey::new(e.kid.clone(), &key))
        }
        None => None,
    };
    let contact_owned = cfg.email.as_ref().map(|e| format!("mailto:{e}"));
    let contact: Vec<&str> = contact_owned.iter().map(String::as_str).collect();
    let (account, creds) = builder(cfg)?
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            url.clone(),
            eab_key.as_ref(),
        )
        .await
        .map_err(|e| AcmeError::server(&url, e))?;
    let json = serde_json::to_vec_pretty(&creds)
        .map_err(|e| AcmeError::Internal(format!("serialising credentials: {e}")))?;
    ensure_dir(&paths.accounts_dir(), 0o700)?;
    if let Some(dir) = file.parent() {
        ensure_dir(dir, 0o700)?;
    }
    write_atomic(&file, &json, 0o600)?;
    tracing::info!(directory = %url, id = account.id(), file = %file.display(), "ACME account created");
    Ok(account)
}

fn builder(cfg: &AcmeConfig) -> Result<instant_acme::AccountBuilder, AcmeError> {
    let client = super::http_client::acme_http_client(
        cfg.directory.ca_root().map(|p| p.as_path()),
        cfg.dns_servers.as_deref(),
    )?;
    Ok(Account::builder_with_http(client))
}
