//! The metrics endpoint as a supervised service: binds METRICS_ADDR and
//! serves `/metrics` (the proxy's counters, the served certificates'
//! expiry, the renewal state, the bans) and `/health` until shutdown, and
//! `/bans` for `moat bans`, and the status page (`/`, `/api/status`).
//!
//! A port that cannot be bound is a warning, not a failure: metrics are an
//! aid, and moat keeps serving traffic without them.

use std::fmt::Write as _;
use std::sync::Arc;

use super::error::ServiceError;
use super::service::{Service, ServiceContext};
use crate::acme::{LetsencryptPaths, RenewalState};
use crate::bans::BanHandle;
use crate::proxy::{
    escape_label, serve_metrics, CertStore, ConfigHealth, Health, MetricsRender, ProxyMetrics,
    StatusAnswer, StatusRender, StatusView,
};
use crate::status;

/// Serves `/metrics` and `/health` on METRICS_ADDR.
pub struct MetricsService {
    metrics: ProxyMetrics,
    certs: CertStore,
    health: Health,
    bans: Option<BanHandle>,
}

impl MetricsService {
    /// Renders `metrics` (shared with the proxy), the expiry of what
    /// `certs` serves, and answers `/health` from `health`.
    pub fn new(metrics: ProxyMetrics, certs: CertStore, health: Health) -> Self {
        MetricsService {
            metrics,
            certs,
            health,
            bans: None,
        }
    }

    /// Also reports the fail2ban jails and answers `/bans`.
    pub fn with_bans(mut self, bans: Option<BanHandle>) -> Self {
        self.bans = bans;
        self
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
        tracing::info!(%addr, "metrics endpoint listening (/ status page, /api/status, /metrics, /health, /bans)");
        let state_file = LetsencryptPaths::new(ctx.layout.root()).state_file();
        let (metrics, certs) = (self.metrics.clone(), self.certs.clone());
        let health = self.health.clone();
        let bans = self.bans.clone();
        let render: MetricsRender = Arc::new(move || {
            let mut out = String::new();
            metrics.render(&mut out);
            render_config(&health.config(), &mut out);
            render_certificates(&certs, &mut out);
            render_renewals(
                &RenewalState::load(&state_file).unwrap_or_default(),
                &mut out,
            );
            if let Some(bans) = &bans {
                render_bans(bans, &mut out);
            }
            out
        });
        let sources = status::Sources {
            routes: ctx.routes.clone(),
            certs: self.certs.clone(),
            health: self.health.clone(),
            bans: self.bans.clone(),
            metrics: self.metrics.clone(),
            renewal_state: LetsencryptPaths::new(ctx.layout.root()).state_file(),
            zone: ctx.settings.local_zone(),
        };
        let auth = ctx.settings.status_page_auth.clone();
        let status: StatusRender = Arc::new(move |view, authorization| {
            if let Some(refused) = status_page_refusal(auth.as_deref(), authorization) {
                return refused;
            }
            let status = status::collect(&sources, crate::acme::now_unix());
            let (content_type, body) = match view {
                StatusView::Html => ("text/html; charset=utf-8", status::html(&status)),
                StatusView::Json => (
                    "application/json",
                    serde_json::to_string_pretty(&status).unwrap_or_default(),
                ),
            };
            StatusAnswer {
                status: "200 OK",
                content_type,
                body,
                challenge: false,
            }
        });
        let shutdown = ctx.shutdown.clone();
        serve_metrics(
            listener,
            render,
            status,
            self.health.clone(),
            self.bans.clone(),
            async move { shutdown.requested().await },
        )
        .await;
        Ok(())
    }
}

/// With STATUS_PAGE_AUTH set, the answer for a request whose credentials
/// the file does not grant: 401 asking for them, or 503 when the file
/// cannot be read (fail closed: never the page without its password).
/// The file is read on each request, so an edit needs no restart.
fn status_page_refusal(
    file: Option<&std::path::Path>,
    authorization: Option<&str>,
) -> Option<StatusAnswer> {
    let file = file?;
    let refusal = |status, body: String, challenge| StatusAnswer {
        status,
        content_type: "text/plain",
        body,
        challenge,
    };
    match std::fs::read_to_string(file) {
        Err(e) => {
            let why = format!(
                "status page: STATUS_PAGE_AUTH file {} cannot be read: {e}",
                file.display()
            );
            tracing::warn!("{why}");
            Some(refusal(
                "503 Service Unavailable",
                format!("{why}\n"),
                false,
            ))
        }
        Ok(text) => {
            let (users, _) = crate::conf::Htpasswd::parse(&text);
            match authorization {
                Some(value) if users.verify_header(value) => None,
                _ => Some(refusal(
                    "401 Unauthorized",
                    "credentials from STATUS_PAGE_AUTH needed\n".to_owned(),
                    true,
                )),
            }
        }
    }
}

/// `moat_config_state{state}`: 1 for the configuration in service
/// (`current`, `last_good` when the live confs are broken and the saved
/// copy serves, `broken` when nothing loads), 0 for the others.
fn render_config(state: &ConfigHealth, out: &mut String) {
    let now = match state {
        ConfigHealth::Current => "current",
        ConfigHealth::LastGood { .. } => "last_good",
        ConfigHealth::Broken { .. } => "broken",
    };
    gauge(
        out,
        "moat_config_state",
        "Which configuration is serving: current, last_good (the live confs are broken) or broken (nothing loads).",
        "state",
        ["current", "last_good", "broken"]
            .into_iter()
            .map(|s| (s, Some(i64::from(s == now)))),
    );
}

/// `moat_bans_active{jail}`, `moat_bans_issued_total{jail}` (across
/// restarts: the state file keeps the counts), and the refusals.
fn render_bans(handle: &BanHandle, out: &mut String) {
    let bans = handle.bans();
    let mut active = std::collections::BTreeMap::<String, i64>::new();
    for jail in bans.jail_names() {
        active.insert(jail.to_owned(), 0);
    }
    for ban in bans.list() {
        *active.entry(ban.jail).or_default() += 1;
    }
    gauge(
        out,
        "moat_bans_active",
        "Addresses banned now, by jail.",
        "jail",
        active.iter().map(|(j, n)| (j.as_str(), Some(*n))),
    );
    let issued = bans.issued();
    let _ = writeln!(
        out,
        "# HELP moat_bans_issued_total Bans issued, by jail (kept across restarts).\n# TYPE moat_bans_issued_total counter"
    );
    for (jail, n) in &issued {
        let _ = writeln!(
            out,
            "moat_bans_issued_total{{jail=\"{}\"}} {n}",
            escape_label(jail)
        );
    }
    let _ = writeln!(
        out,
        "# HELP moat_bans_refused_total Connections closed and requests refused because the client is banned.\n# TYPE moat_bans_refused_total counter\nmoat_bans_refused_total {}",
        bans.refused()
    );
    let _ = writeln!(
        out,
        "# HELP moat_bans_lines_dropped_total Requests whose log lines the jails did not see (their queue was full).\n# TYPE moat_bans_lines_dropped_total counter\nmoat_bans_lines_dropped_total {}",
        handle.dropped()
    );
}

fn render_certificates(certs: &CertStore, out: &mut String) {
    let rows = certs.not_after_by_name();
    gauge(
        out,
        "moat_certificate_not_after_timestamp_seconds",
        "When the certificate served for a name expires.",
        "name",
        rows.iter().map(|(name, t)| (name.as_str(), Some(*t))),
    );
}

fn render_renewals(state: &RenewalState, out: &mut String) {
    let lineages = || state.lineages.iter().map(|(l, s)| (l.as_str(), s));
    gauge(
        out,
        "moat_certificate_renewal_failures",
        "Consecutive failed issuance attempts, by lineage (0 after a success).",
        "lineage",
        lineages().map(|(l, s)| (l, Some(i64::from(s.failures)))),
    );
    gauge(
        out,
        "moat_certificate_renewal_last_success_timestamp_seconds",
        "Last successful issuance, by lineage.",
        "lineage",
        lineages().map(|(l, s)| (l, s.last_success)),
    );
    gauge(
        out,
        "moat_certificate_renewal_next_attempt_timestamp_seconds",
        "When the scheduler looks at the lineage again.",
        "lineage",
        lineages().map(|(l, s)| (l, s.next_attempt)),
    );
}

/// One gauge family with one label: a row per `(label value, value)`,
/// rows without a value left out.
fn gauge<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    rows: impl Iterator<Item = (&'a str, Option<i64>)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (key, value) in rows {
        if let Some(value) = value {
            let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {value}", escape_label(key));
        }
    }
}
