//! The proxy as a supervisor [`Service`]: what `moat run` plugs in.
//!
//! `run` loads the default certificate (`keys/cert.crt`), applies the
//! confs' per-server `ssl_certificate`s, binds `HTTP_PORT`, `HTTPS_PORT` and
//! the confs' other `listen` ports, serves until the supervisor's shutdown
//! fires, then stops gracefully within the supervisor's grace period. After
//! each successful conf reload it re-applies the per-server certificates
//! and follows the confs' `listen` ports as nginx's reload does: a new port
//! is opened, and a port opened by a reload closes when no conf wants it
//! (ports open since start stay until a restart). The route table itself is
//! read per request from the shared snapshot.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::access_log::AccessLog;
use super::certs::{CertStore, ServerCertificate};
use super::error_log::ErrorLog;
use super::metrics::ProxyMetrics;
use super::metrics_endpoint::Health;
use super::service::{spawn, ProxyConfig, ProxyHandle};
use crate::acme::{CertSink, Http01Tokens};
use crate::conf::{Listen, RouteTable};
use crate::supervisor::{Service, ServiceContext, ServiceError};

/// The proxy service. Keep clones of [`ProxyService::certs`] and the tokens
/// for the ACME side ([`CertStore::sink`]).
pub struct ProxyService {
    /// Certificates served per SNI.
    pub certs: CertStore,
    /// HTTP-01 answers served on port 80.
    pub tokens: Http01Tokens,
    /// Addresses to bind; `None`: all IPv4 and IPv6 addresses (the container default).
    pub addresses: Option<Vec<IpAddr>>,
    /// Request counters, shared with the metrics endpoint.
    pub metrics: ProxyMetrics,
    /// The access log (started once per process; kept across restarts).
    pub access_log: AccessLog,
    /// nginx's error.log (started once per process).
    pub error_log: ErrorLog,
    /// Set while the listeners are up, for `/health`.
    pub health: Health,
    /// The fail2ban jails (started once per process, shared with the
    /// metrics endpoint's `/bans`).
    pub bans: Option<crate::bans::BanHandle>,
}

impl ProxyService {
    /// A proxy serving `certs` and answering HTTP-01 from `tokens`.
    pub fn new(certs: CertStore, tokens: Http01Tokens) -> Self {
        Self {
            certs,
            tokens,
            addresses: None,
            metrics: ProxyMetrics::new(),
            access_log: AccessLog::disabled(),
            error_log: ErrorLog::disabled(),
            health: Health::new(),
            bans: None,
        }
    }
}

impl CertStore {
    /// The ACME renewer's sink: installs each new lineage; a lineage that
    /// cannot be used is logged and the previous certificate keeps serving.
    pub fn sink(&self) -> CertSink {
        self.sink_inner(None)
    }

    /// [`CertStore::sink`], and after each lineage the default certificate
    /// is read again from `<config_dir>/keys/cert.{crt,key}`: the ACME side
    /// points those links at the new lineage (as SWAG does), so handshakes
    /// without a matching name get it too, not the first start's
    /// self-signed one.
    pub fn sink_with_default(&self, config_dir: std::path::PathBuf) -> CertSink {
        self.sink_inner(Some(config_dir))
    }

    fn sink_inner(&self, config_dir: Option<std::path::PathBuf>) -> CertSink {
        let store = self.clone();
        Arc::new(move |lineage| match store.install(&lineage) {
            Ok(()) => {
                if let Some(dir) = &config_dir {
                    if let Err(e) = store.load_default(dir) {
                        tracing::warn!(error = %e, "certificate store: keys/cert.crt unusable; keeping the previous default certificate");
                    }
                }
                tracing::info!(lineage = %lineage.name, names = ?lineage.names, "certificate installed in the store");
            }
            Err(e) => {
                tracing::error!(lineage = %lineage.name, error = %e, "certificate store: keeping the previous certificate")
            }
        })
    }
}

fn apply_server_certificates(
    certs: &CertStore,
    table: &RouteTable,
    default_cert: &std::path::Path,
) {
    let servers: Vec<ServerCertificate> = table
        .tls_certificates()
        .into_iter()
        .map(|t| ServerCertificate {
            names: t.names,
            certificate: t.certificate,
            key: t.key,
        })
        .collect();
    for e in certs.set_server_certificates(&servers, default_cert) {
        tracing::error!(error = %e, "a server's ssl_certificate is unusable; it gets the store's certificate");
    }
}

fn extra_ports(listens: &[Listen]) -> Vec<u16> {
    let mut ports: Vec<u16> = listens
        .iter()
        .map(|l| l.port)
        .filter(|p| *p != 80 && *p != 443)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

#[async_trait::async_trait]
impl Service for ProxyService {
    fn name(&self) -> &'static str {
        "proxy"
    }

    async fn run(&self, ctx: ServiceContext) -> Result<(), ServiceError> {
        let default_cert = ctx.layout.cert_file();
        if let Err(e) = self.certs.load_default(ctx.layout.root()) {
            tracing::error!(error = %e, "certificate store: no default certificate; TLS handshakes without a lineage will fail");
        }
        apply_server_certificates(&self.certs, &ctx.routes.load(), &default_cert);
        let config = self.config(&ctx);
        let bound_extra = extra_ports(&config.extra_listens);
        let handle = spawn(config).map_err(ServiceError::fatal)?;
        self.health.set_serving(true);
        // Conf `listen` ports that appeared after start, as nginx's reload
        // opens them: one small proxy each, closed when the port leaves.
        let mut added: BTreeMap<u16, ProxyHandle> = BTreeMap::new();
        let mut updates = ctx.route_updates.clone();
        loop {
            tokio::select! {
                _ = ctx.shutdown.requested() => break,
                changed = updates.changed() => {
                    if changed.is_err() {
                        // No more reloads (standalone context): just wait for shutdown.
                        ctx.shutdown.requested().await;
                        break;
                    }
                    let table = ctx.routes.load();
                    apply_server_certificates(&self.certs, &table, &default_cert);
                    self.follow_listen_ports(&ctx, table.listens(), &bound_extra, &mut added)
                        .await;
                }
            }
        }
        self.health.set_serving(false);
        for (_, extra) in added {
            extra.shutdown().await;
        }
        handle.shutdown().await;
        Ok(())
    }
}

impl ProxyService {
    /// The proxy's configuration from the settings and this service.
    fn config(&self, ctx: &ServiceContext) -> ProxyConfig {
        let mut config =
            ProxyConfig::new(ctx.routes.clone(), self.certs.clone(), self.tokens.clone());
        config.http_port = ctx.settings.http_port;
        config.https_port = ctx.settings.https_port;
        if let Some(workers) = ctx.settings.workers {
            config.workers = workers.get();
        }
        config.grace = ctx.grace;
        if let Some(addresses) = &self.addresses {
            config.addresses = addresses.clone();
        }
        config.metrics = self.metrics.clone();
        config.access_log = self.access_log.clone();
        config.error_log = self.error_log.clone();
        config.bans = self.bans.clone();
        config
    }

    /// Open the conf `listen` ports a reload added and close the ones a
    /// reload removed (those opened at start stay until a restart).
    async fn follow_listen_ports(
        &self,
        ctx: &ServiceContext,
        listens: &[Listen],
        at_start: &[u16],
        added: &mut BTreeMap<u16, ProxyHandle>,
    ) {
        let wanted = extra_ports(listens);
        let gone: Vec<u16> = added
            .keys()
            .copied()
            .filter(|p| !wanted.contains(p))
            .collect();
        for port in gone {
            if let Some(extra) = added.remove(&port) {
                extra.shutdown().await;
                tracing::info!(port, "no conf listens on this port any more; closed it");
            }
        }
        for &port in &wanted {
            if at_start.contains(&port) || added.contains_key(&port) {
                continue;
            }
            let mut config = self.config(ctx);
            config.main_ports = false;
            config.workers = 1;
            config.extra_listens = listens.iter().filter(|l| l.port == port).cloned().collect();
            match spawn(config) {
                Ok(extra) => {
                    tracing::info!(port, "a conf listens on a new port; opened it");
                    added.insert(port, extra);
                }
                Err(e) => {
                    tracing::error!(port, error = %e, "a conf listens on a new port that cannot be opened; its servers stay unreachable there")
                }
            }
        }
        let kept: Vec<u16> = at_start
            .iter()
            .copied()
            .filter(|p| !wanted.contains(p))
            .collect();
        if !kept.is_empty() {
            tracing::warn!(ports = ?kept, "no conf listens on these ports any more; they close at the next restart");
        }
    }
}
