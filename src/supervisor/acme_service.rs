//! The ACME renewal loop as a supervised service: builds the challenge
//! solver (HTTP-01 through the proxy's port 80, or DNS-01 through the
//! DNSPLUGIN provider) on every start, so fixed credentials in
//! `dns-conf/<plugin>.ini` are picked up by the next restart of the service.

use std::sync::Arc;
use std::time::Duration;

use super::error::ServiceError;
use super::service::{Service, ServiceContext};
use crate::acme::{
    propagation_check, AcmeConfig, AcmeError, CertSink, ChallengeSolver, ExtraNames, Http01Tokens,
    Renewer,
};
use crate::proxy::Health;
use crate::settings::{Settings, Validation};

/// Runs [`Renewer::run`] under the supervisor.
pub struct AcmeService {
    tokens: Http01Tokens,
    sink: CertSink,
    proxy_ready: Option<Health>,
}

/// Longest the first order waits for the proxy's listeners before going
/// ahead anyway (DNS-01 does not need them; HTTP-01 then retries).
const PROXY_READY_WAIT: Duration = Duration::from_secs(30);

impl AcmeService {
    /// Renewals answering HTTP-01 through `tokens` and handing each
    /// certificate to `sink` (the proxy's certificate store).
    pub fn new(tokens: Http01Tokens, sink: CertSink) -> Self {
        AcmeService {
            tokens,
            sink,
            proxy_ready: None,
        }
    }

    /// Start ordering only once `health` says the proxy is serving, so the
    /// CA's HTTP-01 request never races the port-80 listener (the start
    /// order: proxy serving, then ACME in the background).
    pub fn after_proxy(mut self, health: Health) -> Self {
        self.proxy_ready = Some(health);
        self
    }
}

/// The ACME side's configuration from the validated settings: the same
/// builder `moat renew` uses standalone, so both order the same
/// certificate and record the same parameters.
pub fn acme_config(settings: &Settings) -> Result<AcmeConfig, AcmeError> {
    crate::acme::config_from_settings(settings)
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
        if let Some(health) = &self.proxy_ready {
            let deadline = tokio::time::Instant::now() + PROXY_READY_WAIT;
            while !health.serving() && tokio::time::Instant::now() < deadline {
                if ctx.shutdown.is_requested() {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if !health.serving() {
                tracing::warn!(waited = ?PROXY_READY_WAIT, "the proxy is not serving yet; ACME starts anyway");
            }
        }
        let mut renewer = Renewer::new(cfg, solver, self.sink.clone());
        let auto = ctx.settings.auto_proxy_certs;
        let follow = match (&ctx.settings.url, auto.on) {
            (Some(url), true) => {
                let extra = Arc::new(ExtraNames::new(auto.interval));
                renewer = renewer.with_extra_names(extra.clone());
                tracing::info!(
                    interval_secs = auto.interval.as_secs(),
                    "AUTO_PROXY_CERTS: names published from container labels under {url} join the certificate"
                );
                Some(tokio::spawn(follow_published_names(
                    ctx.clone(),
                    url.to_string(),
                    extra,
                )))
            }
            _ => None,
        };
        let renewer = Arc::new(renewer);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(renewer.run(stop_rx));
        ctx.shutdown.requested().await;
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(ctx.grace, task).await;
        if let Some(follow) = follow {
            follow.abort();
        }
        Ok(())
    }
}

/// Tells `extra` the names the generated confs serve under `apex`, now and
/// after every reload of the route table.
async fn follow_published_names(ctx: ServiceContext, apex: String, extra: Arc<ExtraNames>) {
    let mut updates = ctx.route_updates.clone();
    loop {
        let table = ctx.routes.load_full();
        let apex = apex.clone();
        let names =
            tokio::task::spawn_blocking(move || crate::discovery::published_names(&table, &apex))
                .await
                .unwrap_or_default();
        extra.set(names);
        if updates.changed().await.is_err() {
            return;
        }
    }
}
