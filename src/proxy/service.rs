//! Starting and stopping the Pingora service on moat's own threads.
//!
//! moat does not use Pingora's `Server`: `Server::run` panics inside a tokio
//! runtime, installs its own signal handlers (the supervisor owns signals as
//! PID 1) and sleeps a fixed grace period. Instead [`spawn`] binds the
//! sockets, builds one proxy service with every listener, and runs it on a
//! dedicated multi-threaded runtime with `workers` threads; the returned
//! [`ProxyHandle`] stops it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::IntoRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pingora::server::{Fds, ListenFds};
use pingora::services::listening::Service;
use pingora::services::Service as _;
use tokio::sync::watch;

use super::access_log::AccessLog;
use super::certs::CertStore;
use super::engine::{Connections, Inflight, ListenerRole, MoatProxy};
use super::error::ProxyError;
use super::error_log::ErrorLog;
use super::header_deadline::{HeaderDeadlineApp, DEFAULT_HEADER_TIMEOUT};
use super::listeners::{self, BoundListener};
use super::metrics::ProxyMetrics;
use super::proxy_protocol::{Gate, PreTls};
use super::resolve::UpstreamResolver;
use super::routes::RouteSource;
use super::tls;
use crate::acme::Http01Tokens;
use crate::bans::BanHandle;
use crate::conf::Listen;

/// Default time in-flight requests get to finish on shutdown.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Everything the proxy needs to start. Build it with [`ProxyConfig::new`]
/// and adjust the public fields.
pub struct ProxyConfig {
    /// `HTTP_PORT`: the plain-HTTP listener (the confs' port 80). 0 = any free port.
    pub http_port: u16,
    /// `HTTPS_PORT`: the TLS listener (the confs' port 443). 0 = any free port.
    pub https_port: u16,
    /// Addresses every listener binds. Default `0.0.0.0` and `::`; an IPv6
    /// address that the host cannot bind is skipped with a warning.
    pub addresses: Vec<IpAddr>,
    /// Other ports the confs listen on (synapse's 8448), usually
    /// `RouteTable::listens()`; entries for ports 80 and 443 are ignored
    /// (those are `http_port`/`https_port`). Read once at start.
    pub extra_listens: Vec<Listen>,
    /// Bind `http_port` and `https_port` (default). Off for a proxy that
    /// only adds conf `listen` ports to a running one (after a reload).
    pub main_ports: bool,
    /// Worker threads (`WORKERS`); default: available cores.
    pub workers: usize,
    /// Routing decisions; production passes `Arc<ArcSwap<RouteTable>>`.
    pub routes: Arc<dyn RouteSource>,
    /// Certificates served per SNI.
    pub certs: CertStore,
    /// HTTP-01 answers served on the plain-HTTP listener.
    pub tokens: Http01Tokens,
    /// Upstream resolution (default: `/etc/resolv.conf`, else 127.0.0.11).
    pub resolver: UpstreamResolver,
    /// How long [`ProxyHandle::shutdown`] waits for in-flight requests.
    pub grace: Duration,
    /// `client_header_timeout`: the longest a request head may take to arrive.
    pub header_timeout: Duration,
    /// Request counters and upstream latency (rendered by the metrics endpoint).
    pub metrics: ProxyMetrics,
    /// One line per request; disabled by default.
    pub access_log: AccessLog,
    /// nginx's error.log lines (auth failures, denials, upstream errors);
    /// disabled by default.
    pub error_log: ErrorLog,
    /// The fail2ban jails; none by default (`moat run` starts them unless
    /// `DISABLE_F2B=true`).
    pub bans: Option<BanHandle>,
}

impl ProxyConfig {
    /// Defaults: ports 80/443 on all IPv4 and IPv6 addresses, extra ports
    /// from `routes.listens()`, one worker per core, 5 s grace.
    pub fn new(routes: Arc<dyn RouteSource>, certs: CertStore, tokens: Http01Tokens) -> Self {
        let extra_listens = routes.listens();
        Self {
            http_port: 80,
            https_port: 443,
            addresses: vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ],
            extra_listens,
            main_ports: true,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            routes,
            certs,
            tokens,
            resolver: UpstreamResolver::new(),
            grace: DEFAULT_GRACE,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            metrics: ProxyMetrics::new(),
            access_log: AccessLog::disabled(),
            error_log: ErrorLog::disabled(),
            bans: None,
        }
    }
}

/// One listener of a running proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundAddr {
    /// The bound address (the real port when 0 was asked).
    pub addr: SocketAddr,
    /// The port the confs know it by.
    pub conf_port: u16,
    /// TLS is terminated on it.
    pub tls: bool,
}

/// A running proxy. Dropping it stops the proxy at once; call
/// [`ProxyHandle::shutdown`] for a graceful stop.
pub struct ProxyHandle {
    runtime: Option<tokio::runtime::Runtime>,
    /// The service task: done once every accept loop has stopped and the
    /// listening sockets are closed.
    accepting: Option<tokio::task::JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
    inflight: Arc<Inflight>,
    grace: Duration,
    bound: Vec<BoundAddr>,
}

impl std::fmt::Debug for ProxyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyHandle")
            .field("bound", &self.bound)
            .finish()
    }
}

impl ProxyHandle {
    /// Every listening socket.
    pub fn bound(&self) -> &[BoundAddr] {
        &self.bound
    }

    /// The first plain-HTTP listener on the confs' port 80.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.find(80, false)
    }

    /// The first TLS listener on the confs' port 443.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.find(443, true)
    }

    fn find(&self, conf_port: u16, tls: bool) -> Option<SocketAddr> {
        self.bound
            .iter()
            .find(|b| b.conf_port == conf_port && b.tls == tls)
            .map(|b| b.addr)
    }

    /// Requests being served right now.
    pub fn inflight(&self) -> usize {
        self.inflight.count()
    }

    /// Graceful stop: stop accepting at once, let in-flight requests finish
    /// for up to the grace period, then close everything. Safe to call from
    /// async code (it never blocks a runtime thread).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        let deadline = Instant::now() + self.grace;
        if let Some(accepting) = self.accepting.take() {
            if tokio::time::timeout(self.grace, accepting).await.is_err() {
                tracing::warn!("listeners did not close within the grace period");
            }
        }
        while self.inflight.count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if self.inflight.count() > 0 {
            tracing::warn!(requests = self.inflight.count(), grace = ?self.grace, "grace period over; closing requests still in flight");
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Bind every listener and start serving. Returns once the sockets are
/// listening (connections made after this are queued and served).
pub fn spawn(config: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
    let bound = bind_everything(&config)?;
    let workers = config.workers.max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("moat-proxy")
        .enable_all()
        .build()
        .map_err(ProxyError::Runtime)?;

    let roles: crate::conf::fx_hash::FxHashMap<u16, ListenerRole> = bound
        .iter()
        .map(|b| {
            (
                b.addr.port(),
                ListenerRole {
                    conf_port: b.conf_port,
                    tls: b.tls,
                },
            )
        })
        .collect();
    let inflight = Arc::new(Inflight::default());
    let gate = Arc::new(Gate::new(
        config.routes.clone(),
        roles.clone(),
        config.header_timeout,
        config.bans.clone(),
    ));
    let app = MoatProxy {
        proxy_protocol: gate.clone(),
        routes: config.routes.clone(),
        tokens: config.tokens,
        resolver: config.resolver,
        roles,
        inflight: inflight.clone(),
        metrics: config.metrics,
        access_log: config.access_log,
        connector: pingora::connectors::TransportConnector::new(None),
        grpc: pingora::connectors::http::v2::Connector::new(None),
        auth: super::auth_request::AuthClient::default(),
        error_log: config.error_log,
        limiter: Default::default(),
        bans: config.bans,
    };
    let mut service = Service::new(
        "moat proxy".to_owned(),
        HeaderDeadlineApp::new(Connections::new(app), config.header_timeout, gate.clone()),
    );
    // Before the handshake on TLS sockets (plain ones read it in
    // `HeaderDeadlineApp`); it reads only where a `listen` asks for it.
    service
        .endpoints()
        .set_pre_tls_callback(Arc::new(PreTls(gate)));
    let mut fds = Fds::new();
    let mut addrs = Vec::with_capacity(bound.len());
    for listener in bound {
        let key = listener.addr.to_string();
        if listener.tls {
            service.add_tls_with_settings(
                &key,
                None,
                tls::settings(&config.certs, config.routes.clone(), listener.conf_port),
            );
        } else {
            service.add_tcp(&key);
        }
        addrs.push(BoundAddr {
            addr: listener.addr,
            conf_port: listener.conf_port,
            tls: listener.tls,
        });
        // Pingora takes ownership of the descriptor when it builds the listener.
        fds.add(key, listener.socket.into_raw_fd());
    }
    let fds: ListenFds = Arc::new(parking_lot::Mutex::new(fds));
    let (shutdown, watch_rx) = watch::channel(false);
    let accepting = runtime.spawn(async move {
        service.start_service(Some(fds), watch_rx, 1).await;
    });
    for b in &addrs {
        tracing::info!(addr = %b.addr, tls = b.tls, conf_port = b.conf_port, "proxy listening");
    }
    Ok(ProxyHandle {
        runtime: Some(runtime),
        accepting: Some(accepting),
        shutdown,
        inflight,
        grace: config.grace,
        bound: addrs,
    })
}

fn bind_everything(config: &ProxyConfig) -> Result<Vec<BoundListener>, ProxyError> {
    let mut bound = Vec::new();
    if config.main_ports {
        bound.extend(listeners::bind_all(
            &config.addresses,
            config.http_port,
            80,
            false,
        )?);
        bound.extend(listeners::bind_all(
            &config.addresses,
            config.https_port,
            443,
            true,
        )?);
    }
    let mut extra: Vec<(u16, bool)> = config
        .extra_listens
        .iter()
        .filter(|l| l.port != 80 && l.port != 443)
        .map(|l| (l.port, l.ssl))
        .collect();
    // A port listed with `ssl` in one server and without in another is TLS
    // for all of them, as nginx ORs the flag per address.
    extra.sort_unstable();
    extra.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 |= later.1;
        }
        same
    });
    for (port, ssl) in extra {
        bound.extend(listeners::bind_all(&config.addresses, port, port, ssl)?);
    }
    Ok(bound)
}
