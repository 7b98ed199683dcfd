//! `AcmeService`: the renewal loop as a supervisor [`Service`], so the
//! supervisor starts, restarts and stops it like the proxy.

use std::sync::Arc;

use super::renewer::{CertSink, Renewer};
use super::{AcmeError, Http01Tokens};
use crate::supervisor::{Service, ServiceContext, ServiceError};

/// Runs [`Renewer::run`] for the settings in the service context: HTTP-01
/// answers go into `tokens` (the proxy's port-80 map), certificates to
/// serve go to `sink` (the proxy's certificate store).
pub struct AcmeService {
    tokens: Http01Tokens,
    sink: CertSink,
}

impl AcmeService {
    /// A service publishing into `tokens` and handing certificates to `sink`.
    pub fn new(tokens: Http01Tokens, sink: CertSink) -> Self {
        Self { tokens, sink }
    }
}

#[async_trait::async_trait]
impl Service for AcmeService {
    fn name(&self) -> &'static str {
        "acme"
    }

    async fn run(&self, ctx: ServiceContext) -> Result<(), ServiceError> {
        if !ctx.settings.wants_acme() {
            tracing::warn!(
                "URL is not set: no ACME certificate; the self-signed one keeps serving"
            );
            ctx.shutdown.requested().await;
            return Ok(());
        }
        let renewer = match Renewer::from_settings(&ctx.settings, &self.tokens, self.sink.clone()) {
            Ok(r) => Arc::new(r),
            // Bad settings or DNS credentials: a restart with the same
            // input cannot help, but moat keeps serving; report and idle.
            Err(e @ (AcmeError::Config { .. } | AcmeError::Dns(_))) => {
                tracing::error!(error = %e, likely_cause = e.likely_cause(), "certificates disabled until the configuration is fixed");
                ctx.shutdown.requested().await;
                return Ok(());
            }
            Err(e) => return Err(ServiceError::failed(e)),
        };
        let (tx, rx) = tokio::sync::watch::channel(false);
        let shutdown = ctx.shutdown.clone();
        let forward = tokio::spawn(async move {
            shutdown.requested().await;
            let _ = tx.send(true);
        });
        renewer.run(rx).await;
        forward.abort();
        Ok(())
    }
}
