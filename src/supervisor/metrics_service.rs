//! The metrics endpoint as a supervised service: binds METRICS_ADDR and
//! serves `/metrics` (the proxy's counters, the served certificates'
//! expiry, the renewal state) and `/health` until shutdown.
//!
//! A port that cannot be bound is a warning, not a failure: metrics are an
//! aid, and moat keeps serving traffic without them.

use std::fmt::Write as _;
use std::sync::Arc;

use super::error::ServiceError;
use super::service::{Service, ServiceContext};
use crate::acme::{LetsencryptPaths, RenewalState};
use crate::proxy::{escape_label, serve_metrics, CertStore, Health, MetricsRender, ProxyMetrics};

/// Serves `/metrics` and `/health` on METRICS_ADDR.
pub struct MetricsService {
    metrics: ProxyMetrics,
    certs: CertStore,
    health: Health,
}

impl MetricsService {
    /// Renders `metrics` (shared with the proxy), the expiry of what
    /// `certs` serves, and answers `/health` from `health`.
    pub fn new(metrics: ProxyMetrics, certs: CertStore, health: Health) -> Self {
        MetricsService {
            metrics,
            certs,
            health,
        }
    }
}

#[async_trait::async_trait]
impl Service for MetricsService {
    fn name(&self) -> &'static str {
        "metrics"
    }

    async fn run(&self, ctx: ServiceContext) -> Result<(), ServiceError> {
        let Some(addr) = ctx.settings.metrics_addr else {
            return Ok(());
        };
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(%addr, error = %e, "metrics endpoint: cannot listen (METRICS_ADDR); serving without metrics");
                return Ok(());
            }
        };
        tracing::info!(%addr, "metrics endpoint listening (/metrics, /health)");
        let state_file = LetsencryptPaths::new(ctx.layout.root()).state_file();
        let (metrics, certs) = (self.metrics.clone(), self.certs.clone());
        let render: MetricsRender = Arc::new(move || {
            let mut out = String::new();
            metrics.render(&mut out);
            render_certificates(&certs, &mut out);
            render_renewals(
                &RenewalState::load(&state_file).unwrap_or_default(),
                &mut out,
            );
            out
        });
        let shutdown = ctx.shutdown.clone();
        serve_metrics(listener, render, self.health.clone(), async move {
            shutdown.requested().await
        })
        .await;
        Ok(())
    }
}

fn render_certificates(certs: &CertStore, out: &mut String) {
    out.push_str("# HELP moat_certificate_not_after_timestamp_seconds When the certificate served for a name expires.\n");
    out.push_str("# TYPE moat_certificate_not_after_timestamp_seconds gauge\n");
    for (name, not_after) in certs.not_after_by_name() {
        let _ = writeln!(
            out,
            "moat_certificate_not_after_timestamp_seconds{{name=\"{}\"}} {not_after}",
            escape_label(&name)
        );
    }
}

fn render_renewals(state: &RenewalState, out: &mut String) {
    out.push_str("# HELP moat_certificate_renewal_failures Consecutive failed issuance attempts, by lineage (0 after a success).\n");
    out.push_str("# TYPE moat_certificate_renewal_failures gauge\n");
    for (lineage, s) in &state.lineages {
        let _ = writeln!(
            out,
            "moat_certificate_renewal_failures{{lineage=\"{}\"}} {}",
            escape_label(lineage),
            s.failures
        );
    }
    out.push_str("# HELP moat_certificate_renewal_last_success_timestamp_seconds Last successful issuance, by lineage.\n");
    out.push_str("# TYPE moat_certificate_renewal_last_success_timestamp_seconds gauge\n");
    for (lineage, s) in &state.lineages {
        if let Some(t) = s.last_success {
            let _ = writeln!(
                out,
                "moat_certificate_renewal_last_success_timestamp_seconds{{lineage=\"{}\"}} {t}",
                escape_label(lineage)
            );
        }
    }
    out.push_str("# HELP moat_certificate_renewal_next_attempt_timestamp_seconds When the scheduler looks at the lineage again.\n");
    out.push_str("# TYPE moat_certificate_renewal_next_attempt_timestamp_seconds gauge\n");
    for (lineage, s) in &state.lineages {
        if let Some(t) = s.next_attempt {
            let _ = writeln!(
                out,
                "moat_certificate_renewal_next_attempt_timestamp_seconds{{lineage=\"{}\"}} {t}",
                escape_label(lineage)
            );
        }
    }
}
