//! The ACME renewal loop as a supervised service: builds the challenge
//! solver (HTTP-01 through the proxy's port 80, or DNS-01 through the
//! DNSPLUGIN provider) on every start, so fixed credentials in
//! `dns-conf/<plugin>.ini` are picked up by the next restart of the service.

use std::sync::Arc;

use super::error::ServiceError;
use super::service::{Service, ServiceContext};
use crate::acme::{
    propagation_check, AcmeConfig, AcmeError, CertSink, ChallengeSolver, Directory, Http01Tokens,
    KeyType, Renewer,
};
use crate::settings::{self, CertProvider, Settings, Validation};

/// Runs [`Renewer::run`] under the supervisor.
pub struct AcmeService {
    tokens: Http01Tokens,
    sink: CertSink,
}

impl AcmeService {
    /// Renewals answering HTTP-01 through `tokens` and handing each
    /// certificate to `sink` (the proxy's certificate store).
    pub fn new(tokens: Http01Tokens, sink: CertSink) -> Self {
        AcmeService { tokens, sink }
    }
}

/// The ACME side's configuration from the validated settings.
pub fn acme_config(settings: &Settings) -> Result<AcmeConfig, AcmeError> {
    let directory = if settings.acme_ca_root.is_some()
        || !matches!(
            settings.acme_directory.as_str(),
            settings::vars::LETSENCRYPT_DIRECTORY
                | settings::vars::LETSENCRYPT_STAGING_DIRECTORY
                | settings::vars::ZEROSSL_DIRECTORY
        ) {
        Directory::Custom {
            url: settings.acme_directory.clone(),
            ca_root: settings.acme_ca_root.clone(),
        }
    } else if settings.cert_provider == CertProvider::ZeroSsl {
        Directory::ZeroSsl
    } else if settings.staging {
        Directory::LetsEncryptStaging
    } else {
        Directory::LetsEncrypt
    };
    let domains = settings.domains.iter().map(|d| d.to_string()).collect();
    let mut cfg = AcmeConfig::new(&settings.config_dir, domains, directory)?;
    cfg.email = settings.email.clone();
    cfg.key_type = KeyType::parse(&settings.key_type.to_string())?;
    cfg.profile = settings.cert_profile.clone();
    cfg.propagation_timeout = settings.propagation;
    cfg.revoke_replaced = settings.revoke_replaced;
    cfg.swag_params = settings.swag_params();
    Ok(cfg)
}

#[async_trait::async_trait]
impl Service for AcmeService {
    fn name(&self) -> &'static str {
        "acme"
    }

    async fn run(&self, ctx: ServiceContext) -> Result<(), ServiceError> {
        let cfg = acme_config(&ctx.settings).map_err(ServiceError::fatal)?;
        let solver = match &ctx.settings.validation {
            Validation::Http => ChallengeSolver::Http01(self.tokens.clone()),
            Validation::Dns(plugin) => {
                let provider = crate::dns::provider_for(plugin, &ctx.settings.config_dir)
                    .map_err(ServiceError::failed)?;
                ChallengeSolver::Dns01 {
                    provider: Arc::from(provider),
                    propagation: Arc::new(propagation_check(&ctx.settings)),
                }
            }
        };
        tracing::info!(
            lineage = %cfg.lineage,
            names = ?cfg.domains,
            directory = cfg.directory.url(),
            solver = ?solver,
            "ACME renewals starting"
        );
        let renewer = Arc::new(Renewer::new(cfg, solver, self.sink.clone()));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(renewer.run(stop_rx));
        ctx.shutdown.requested().await;
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(ctx.grace, task).await;
        Ok(())
    }
}
