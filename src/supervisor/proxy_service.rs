//! The proxy as a supervised service: binds HTTP_PORT and HTTPS_PORT,
//! serves the current route table, and stops gracefully within
//! SHUTDOWN_GRACE.

use std::sync::Arc;

use super::error::ServiceError;
use super::service::{Service, ServiceContext};
use crate::acme::Http01Tokens;
use crate::proxy::{self, CertStore, ProxyConfig, ProxyError, RouteSource};

/// Runs [`proxy::spawn`] under the supervisor.
pub struct ProxyService {
    certs: CertStore,
    tokens: Http01Tokens,
}

impl ProxyService {
    /// A proxy serving `certs` (shared with ACME's certificate sink) and
    /// answering HTTP-01 from `tokens` (shared with the ACME service).
    pub fn new(certs: CertStore, tokens: Http01Tokens) -> Self {
        ProxyService { certs, tokens }
    }
}

#[async_trait::async_trait]
impl Service for ProxyService {
    fn name(&self) -> &'static str {
        "proxy"
    }

    async fn run(&self, ctx: ServiceContext) -> Result<(), ServiceError> {
        let routes: Arc<dyn RouteSource> = ctx.routes.clone();
        let mut config = ProxyConfig::new(routes, self.certs.clone(), self.tokens.clone());
        config.http_port = ctx.settings.http_port;
        config.https_port = ctx.settings.https_port;
        if let Some(workers) = ctx.settings.workers {
            config.workers = workers.get();
        }
        config.grace = ctx.grace;
        let listens = config.extra_listens.clone();
        let handle = proxy::spawn(config).map_err(|e| match e {
            // A port that cannot be bound will not free itself: say so and exit.
            ProxyError::Bind { .. } => ServiceError::fatal(e),
            other => ServiceError::failed(other),
        })?;

        let mut updates = ctx.route_updates.clone();
        loop {
            tokio::select! {
                _ = ctx.shutdown.requested() => break,
                changed = updates.changed() => {
                    if changed.is_err() {
                        ctx.shutdown.requested().await;
                        break;
                    }
                    let now = ctx.routes.load().listens().to_vec();
                    if now != listens {
                        tracing::warn!(
                            "the confs now listen on other ports; restart moat to open or close them"
                        );
                    }
                }
            }
        }
        handle.shutdown().await;
        Ok(())
    }
}
