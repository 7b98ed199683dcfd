//! Building an [`AcmeConfig`] and a [`ChallengeSolver`] from `Settings`:
//! what the supervisor and `moat renew` standalone call, so both order the
//! same certificate.

use std::sync::Arc;

use super::config::{AcmeConfig, Directory, KeyType};
use super::order::ChallengeSolver;
use super::propagation::NameserverCheck;
use super::{AcmeError, Http01Tokens};
use crate::settings::{self, Settings, Validation};

/// The certificate `settings` ask for; `Config` error naming URL when the
/// settings want no certificate.
pub fn config_from_settings(s: &Settings) -> Result<AcmeConfig, AcmeError> {
    s.url.as_ref().ok_or_else(|| AcmeError::Config {
        setting: "URL",
        message: "not set: moat serves a self-signed certificate until it is".into(),
    })?;
    let directory = match (&s.acme_ca_root, s.acme_directory.as_str()) {
        (Some(root), url) => Directory::Custom {
            url: url.to_owned(),
            ca_root: Some(root.clone()),
        },
        (None, u) if u == settings::vars::LETSENCRYPT_DIRECTORY => Directory::LetsEncrypt,
        (None, u) if u == settings::vars::LETSENCRYPT_STAGING_DIRECTORY => {
            Directory::LetsEncryptStaging
        }
        (None, u) if u == settings::vars::ZEROSSL_DIRECTORY => Directory::ZeroSsl,
        (None, u) => Directory::Custom {
            url: u.to_owned(),
            ca_root: None,
        },
    };
    let domains = s.domains.iter().map(|d| d.as_str().to_owned()).collect();
    let mut cfg = AcmeConfig::new(&s.config_dir, domains, directory)?;
    cfg.email = s.email.clone();
    cfg.key_type = match s.key_type {
        settings::KeyType::Rsa2048 => KeyType::Rsa2048,
        settings::KeyType::Rsa4096 => KeyType::Rsa4096,
        settings::KeyType::EcdsaP256 => KeyType::Ecdsa256,
        settings::KeyType::EcdsaP384 => KeyType::Ecdsa384,
    };
    cfg.profile = s.cert_profile.clone();
    cfg.propagation_timeout = s.propagation;
    cfg.revoke_replaced = s.revoke_replaced;
    // SWAG's own record of the parameters (what its init script writes to
    // `.donoteditthisfile.conf`), plus the ACME directory, which only moat
    // can change. Keys only one side has are ignored when comparing, so a
    // file SWAG wrote compares cleanly.
    cfg.swag_params = s.swag_params();
    cfg.swag_params
        .push(("ORIGACME_SERVER".into(), s.acme_directory.clone()));
    Ok(cfg)
}

/// HTTP-01 through `tokens` (answered by the proxy on port 80, or by
/// `serve_http01` standalone), or DNS-01 through `DNSPLUGIN`'s provider
/// with credentials from `dns-conf/<plugin>.ini`.
pub fn solver_from_settings(
    s: &Settings,
    tokens: &Http01Tokens,
) -> Result<ChallengeSolver, AcmeError> {
    match &s.validation {
        Validation::Http => Ok(ChallengeSolver::Http01(tokens.clone())),
        Validation::Dns(plugin) => {
            let provider = crate::dns::provider_for(plugin, &s.config_dir)?;
            Ok(ChallengeSolver::Dns01 {
                provider: Arc::from(provider),
                propagation: Arc::new(propagation_check(s)),
            })
        }
    }
}

/// Where DNS-01 TXT records are looked for: the servers in
/// `PROPAGATION_NAMESERVERS` when set (split-horizon DNS, tests), otherwise
/// the zone's authoritative servers.
pub fn propagation_check(s: &Settings) -> NameserverCheck {
    if s.propagation_nameservers.is_empty() {
        NameserverCheck::authoritative()
    } else {
        NameserverCheck::with_servers(s.propagation_nameservers.clone())
    }
}
