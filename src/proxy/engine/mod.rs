//! The request path: moat's own loop over pingora-core's sessions.
//!
//! - [`Connections`] (`connections.rs`) owns each accepted connection.
//!   HTTP/1 connections run moat's own keep-alive loop (`h1.rs`); the
//!   streams of HTTP/2 connections come from pingora-core's HTTP/2 accept
//!   loop.
//! - Each request or stream runs moat's request path (`request.rs`): the
//!   policy steps on [`MoatProxy`] (head checks, the decision, bans,
//!   limits, `auth_request`, header edits, the access log) in one fixed
//!   order, then the content: forwarding over moat's own upstream pool
//!   (`pool.rs`) with the request body after the head (`body.rs`),
//!   upgrades (the relay in `websocket.rs`), gRPC over HTTP/2 upstreams
//!   (`grpc.rs`), or moat's own answers. No pingora-proxy phase machinery,
//!   no boxed request future, no pool task per release.

mod body;
mod connections;
mod grpc;
mod h1;
mod pool;
mod request;

pub use connections::Connections;

use crate::conf::fx_hash::FxHashMap;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pingora::protocols::http::ServerSession;
use pingora::{Error, Result};

use super::access_log::{AccessLog, AccessRecord};
use super::auth_request::AuthClient;
use super::error_log::{ErrorLog, ErrorRecord};
use super::failure_log;
use super::head_checks::HeaderRules;
use super::metrics::{server_label, ProxyMetrics, NO_SERVER};
use super::proxy_protocol::Gate;
use super::resolve::UpstreamResolver;
use super::respond::Reply;
use super::routes::RouteSource;
use super::static_files::{self, StaticFile};
use super::status;
use super::websocket;
use crate::acme::Http01Tokens;
use crate::bans::BanHandle;
use crate::conf::{Action, Decision, ProxyTarget, RequestInfo};

/// What a listener is, by the local port it is bound to.
#[derive(Debug, Clone, Copy)]
pub struct ListenerRole {
    /// The port the confs know this listener by (`$server_port`, `listen`).
    pub conf_port: u16,
    /// TLS is terminated on it.
    pub tls: bool,
}

/// Counts requests in flight so a graceful stop can wait for them.
#[derive(Debug, Default)]
pub struct Inflight(AtomicUsize);

impl Inflight {
    /// Requests currently being served.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// Decrements [`Inflight`] when the request's context is dropped.
struct InflightGuard(Arc<Inflight>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Per-request state shared by the steps of the request path.
pub struct RequestCtx {
    decision: Option<Decision>,
    /// When the request context was made (start of `$request_time`).
    started: Instant,
    /// `$upstream_response_time`: upstream chosen → response header.
    upstream_elapsed: Option<Duration>,
    /// The upstream address connected to (the latest, after retries).
    upstream_addr: Option<std::net::SocketAddr>,
    /// `limit_conn` places held until the request ends.
    limit_hold: crate::limits::ConnHold,
    /// Refused because its client is banned: its lines are not fed back
    /// to the jails.
    banned: bool,
    _inflight: InflightGuard,
}

impl RequestCtx {
    fn target(&self) -> Option<(&ProxyTarget, bool)> {
        match self.decision.as_ref().map(|d| &d.action) {
            Some(Action::Proxy(t)) => Some((t, false)),
            Some(Action::Grpc(t)) => Some((t, true)),
            _ => None,
        }
    }
}

/// The request path's policy and state: routes by the current
/// [`RouteSource`] snapshot.
pub struct MoatProxy {
    /// Routing decisions.
    pub routes: Arc<dyn RouteSource>,
    /// HTTP-01 answers for port 80.
    pub tokens: Http01Tokens,
    /// Upstream name resolution.
    pub resolver: UpstreamResolver,
    /// Local port → role of that listener.
    pub roles: FxHashMap<u16, ListenerRole>,
    /// PROXY protocol addresses of live connections.
    pub proxy_protocol: Arc<Gate>,
    /// Requests in flight.
    pub inflight: Arc<Inflight>,
    /// Request counters and upstream latency.
    pub metrics: ProxyMetrics,
    /// One line per finished request.
    pub access_log: AccessLog,
    /// New upstream connections: for the HTTP/1 loop's pool (`pool.rs`)
    /// and for upgrades, which moat relays itself (see `websocket.rs`).
    pub connector: pingora::connectors::TransportConnector,
    /// HTTP/2 upstream connections and their streams, for gRPC (`grpc.rs`).
    pub grpc: pingora::connectors::http::v2::Connector,
    /// Pooled connections for `auth_request` subrequests.
    pub auth: AuthClient,
    /// SWAG's `log/nginx/error.log` (what fail2ban's nginx filters read).
    pub error_log: ErrorLog,
    /// `limit_req` / `limit_conn` zones, shared by every worker thread.
    pub limiter: Arc<crate::limits::Limiter>,
    /// The fail2ban jails (`None` with `DISABLE_F2B=true`).
    pub bans: Option<BanHandle>,
}

impl MoatProxy {
    /// `underscores_in_headers` / `ignore_invalid_headers` of the server
    /// this request's Host (or absolute-form authority) goes to.
    fn header_rules(&self, session: &ServerSession) -> HeaderRules {
        let req = session.req_header();
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri.authority().map(|a| a.as_str()));
        self.routes.header_rules(self.conf_port(session), host)
    }

    /// The port the confs know this request's listener by.
    fn conf_port(&self, session: &ServerSession) -> u16 {
        let local_port = session
            .server_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.port())
            .unwrap_or_default();
        self.roles
            .get(&local_port)
            .map_or(local_port, |r| r.conf_port)
    }

    fn request_info(&self, session: &ServerSession) -> RequestInfo {
        let req = session.req_header();
        let local_port = session
            .server_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.port())
            .unwrap_or_default();
        let ssl = session.digest().and_then(|d| d.ssl_digest.clone());
        let role = self.roles.get(&local_port).copied();
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri.authority().map(|a| a.as_str().to_owned()));
        let remote = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let handshake = ssl
            .as_ref()
            .and_then(|d| d.extension.get::<super::tls::Handshake>());
        RequestInfo {
            method: req.method.as_str().to_owned(),
            tls: ssl.is_some() || role.is_some_and(|r| r.tls),
            server_port: role.map_or(local_port, |r| r.conf_port),
            host,
            sni: handshake.and_then(|h| h.sni.clone()),
            client_certs: handshake.and_then(|h| h.client_certs.clone()),
            uri: String::from_utf8_lossy(req.raw_path()).into_owned(),
            headers: req
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            remote,
            proxy_protocol: session
                .server_addr()
                .and_then(|a| a.as_inet())
                .and_then(|local| self.proxy_protocol.addrs(&(remote, *local))),
        }
    }

    /// The upstream's address, or a 502 (logged with the conf and upstream
    /// by `fail_to_proxy`).
    async fn resolve(&self, target: &ProxyTarget) -> Result<SocketAddr> {
        match self
            .resolver
            .resolve(&target.host, target.port, &target.options)
            .await
        {
            Ok(addr) => Ok(addr),
            Err(e) => Err(status::refuse(502, e.to_string())),
        }
    }

    /// An HTTP/1.1 upgrade to a proxied location, relayed by moat (Pingora
    /// issue #946, see `websocket.rs`); the connection ends with it.
    async fn relay_upgrade(
        &self,
        down: &mut ServerSession,
        decision: &Decision,
        target: &ProxyTarget,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let addr = self.resolve(target).await?;
        ctx.upstream_addr = Some(addr);
        let relayed = websocket::relay(
            &self.connector,
            down,
            target,
            addr,
            &decision.response_headers,
        )
        .await?;
        ctx.upstream_elapsed = Some(relayed.upstream_elapsed);
        Ok(())
    }

    /// What moat answers itself for `decision` (every action but a
    /// forwarded one), or the refusal to raise.
    async fn reply(&self, decision: &Decision) -> Result<Reply> {
        let reply = match &decision.action {
            Action::Proxy(_) | Action::Grpc(_) => {
                unreachable!("forwarded actions are not answered locally")
            }
            // Only reachable when a reload changed the table between the
            // two auth steps in a way that asks again: fail closed.
            Action::Authenticate(_) => {
                return Err(status::refuse(500, "auth_request asked twice"));
            }
            Action::Return { status: 444, .. } => {
                return Err(status::refuse(
                    status::CLOSE_WITHOUT_RESPONSE,
                    "return 444: close without a response",
                ));
            }
            Action::Return {
                status,
                location,
                body,
            } => match (location, body) {
                (Some(location), _) => Reply::redirect(*status, location.clone()),
                (None, Some(body)) => Reply::text(*status, body.clone()),
                // nginx: `return 204;` has no body, `return 404;` its error page.
                (None, None) if *status < 400 => Reply::text(*status, ""),
                (None, None) => Reply::status(*status),
            },
            Action::Deny { status } => return Err(status::refuse(*status, "denied by allow/deny")),
            Action::Unauthorized { realm } => {
                let mut reply = Reply::status(401);
                let realm = realm.replace('\\', "\\\\").replace('"', "\\\"");
                reply
                    .headers
                    .push(("WWW-Authenticate", format!("Basic realm=\"{realm}\"")));
                reply
            }
            Action::Unavailable { reason } | Action::Unsupported { reason } => {
                tracing::warn!(conf = %decision.server.file.display(), line = decision.server.line, %reason, "location cannot be served; answering 503");
                return Err(status::refuse(503, reason.clone()));
            }
            Action::NotFound => return Err(status::refuse(404, "no route")),
            Action::Static {
                root,
                path,
                index,
                add_slash,
                post,
            } => match static_files::lookup(root, path, index).await {
                StaticFile::Found { .. } if *post => {
                    return Err(status::refuse(405, "POST to a static file"))
                }
                StaticFile::Found { body, content_type } => Reply {
                    status: decision.status_override.unwrap_or(200),
                    headers: Vec::new(),
                    content_type,
                    body: Bytes::from(body),
                },
                StaticFile::Directory => Reply::redirect(301, add_slash.clone()),
                StaticFile::NoIndex => {
                    return Err(status::refuse(403, "directory index is forbidden"))
                }
                StaticFile::Missing => return Err(status::refuse(404, "no such file")),
            },
        };
        Ok(reply)
    }
}

impl MoatProxy {
    /// Counts the finished request and writes its access log line.
    fn account(&self, session: &ServerSession, e: Option<&Error>, ctx: &RequestCtx) {
        let status = match (session.response_written(), e) {
            (Some(resp), _) => resp.status.as_u16(),
            // 444 closes without a response; 0 means the client is gone.
            (None, Some(e)) => match status::for_error(e) {
                0 => 499,
                code => code,
            },
            // The client went away before an answer (nginx's 499).
            (None, None) => 499,
        };
        let server = ctx
            .decision
            .as_ref()
            .map_or(std::borrow::Cow::Borrowed(NO_SERVER), |d| {
                server_label(&d.server)
            });
        let upstream = ctx.upstream_addr.zip(ctx.target()).map(|(addr, (t, _))| {
            super::metrics::UpstreamPeer {
                addr,
                host: &t.host,
                port: t.port,
            }
        });
        self.metrics
            .record(&server, status, ctx.upstream_elapsed, upstream);
        // The jails read the same lines as the logs, so they are built
        // when either wants them.
        let bans = self.bans.as_ref().filter(|_| !ctx.banned);
        let errors = if self.error_log.enabled() || bans.is_some() {
            self.error_records(session, e, ctx, status)
        } else {
            Vec::new()
        };
        // The jails get the error lines without their dates.
        let error_lines: Vec<_> = match bans {
            Some(_) => errors.iter().map(|r| r.undated(0)).collect(),
            None => Vec::new(),
        };
        for record in errors {
            self.error_log.log(record);
        }
        if !self.access_log.enabled() && bans.is_none() {
            return;
        }
        let req = session.req_header();
        let header = |name: http::header::HeaderName| {
            req.headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()))
        };
        let record = AccessRecord {
            time: time::OffsetDateTime::now_utc(),
            // realip's answer when the conf trusts the peer (nginx logs
            // `$remote_addr` after realip), else the connection's.
            remote_addr: ctx
                .decision
                .as_ref()
                .and_then(|d| d.client_addr)
                .or_else(|| {
                    session
                        .client_addr()
                        .and_then(|a| a.as_inet())
                        .map(|a| a.ip())
                }),
            method: Cow::Borrowed(req.method.as_str()),
            uri: String::from_utf8_lossy(req.raw_path()),
            protocol: Cow::Borrowed(protocol_text(req.version)),
            status,
            body_bytes_sent: session.body_bytes_sent() as u64,
            referer: header(http::header::REFERER),
            user_agent: header(http::header::USER_AGENT),
            host: header(http::header::HOST)
                .or_else(|| req.uri.authority().map(|a| Cow::Borrowed(a.as_str()))),
            server,
            upstream: ctx.target().map(|(t, _)| Cow::Borrowed(t.url.as_str())),
            request_time: ctx.started.elapsed().as_secs_f64(),
            upstream_response_time: ctx.upstream_elapsed.map(|d| d.as_secs_f64()),
            remote_user: ctx
                .decision
                .as_ref()
                .and_then(|d| d.remote_user.as_deref())
                .map(Cow::Borrowed),
        };
        match bans {
            None => self.access_log.log(&record),
            // One line for both: the log puts the time into the jails' line.
            Some(bans) => {
                let (line, time_at) = record.combined_undated_at();
                self.access_log.log_undated(&record, &line, time_at);
                bans.observe(Some(line), error_lines);
            }
        }
    }
}

/// The error page for `code` and the `add_header` rules it gets, or `None`
/// when nothing is written (the client is gone, `return 444`). Refusals
/// that may leave unread bytes (413) and failures close the connection.
fn error_page(code: u16, ctx: &RequestCtx) -> Option<(Reply, &[crate::conf::HeaderRule])> {
    if code == 0 || code == status::CLOSE_WITHOUT_RESPONSE {
        return None;
    }
    let rules = ctx
        .decision
        .as_ref()
        .map(|d| d.response_headers.as_slice())
        .unwrap_or(&[]);
    let mut reply = Reply::status(code);
    if code == 413 || code >= 500 {
        reply.headers.push(("Connection", "close".into()));
    }
    Some((reply, rules))
}

/// `$server_protocol`, as nginx spells it.
fn protocol_text(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

impl MoatProxy {
    /// The request's lines in error.log: the access phase's refusals, and
    /// the cause of an upstream failure.
    fn error_records(
        &self,
        session: &ServerSession,
        e: Option<&Error>,
        ctx: &RequestCtx,
        status: u16,
    ) -> Vec<ErrorRecord> {
        let Some(decision) = &ctx.decision else {
            return Vec::new();
        };
        let upstream = ctx.target().map(|(t, _)| t.url.clone());
        let upstream_failure = match (e, &upstream) {
            // A phase's own refusal (limit_req's 503) is no upstream error.
            (Some(e), Some(_))
                if status >= 500 && !matches!(e.etype(), pingora::ErrorType::HTTPStatus(_)) =>
            {
                Some(format!(
                    "{} while proxying to upstream",
                    failure_log::reason(e)
                ))
            }
            _ => None,
        };
        if decision.errors.is_empty() && upstream_failure.is_none() {
            return Vec::new();
        }
        let req = session.req_header();
        let client = decision.client_addr.or_else(|| {
            session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip())
        });
        let record = |message: String, upstream: Option<String>| ErrorRecord {
            time: time::OffsetDateTime::now_utc(),
            level: "error",
            message,
            client,
            server: decision.server.names.first().cloned().unwrap_or_default(),
            request: format!(
                "{} {} {:?}",
                req.method.as_str(),
                String::from_utf8_lossy(req.raw_path()),
                req.version
            ),
            upstream,
            host: req
                .headers
                .get(http::header::HOST)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .or_else(|| req.uri.authority().map(|a| a.as_str().to_owned())),
        };
        let mut records: Vec<ErrorRecord> = decision
            .errors
            .iter()
            .map(|message| record(message.clone(), None))
            .collect();
        if let Some(message) = upstream_failure {
            records.push(record(message, upstream));
        }
        records
    }
}

impl MoatProxy {
    /// A new request's context, counted in flight until it is dropped.
    fn new_request_ctx(&self) -> RequestCtx {
        self.inflight.0.fetch_add(1, Ordering::AcqRel);
        RequestCtx {
            decision: None,
            started: Instant::now(),
            upstream_elapsed: None,
            upstream_addr: None,
            limit_hold: Default::default(),
            banned: false,
            _inflight: InflightGuard(self.inflight.clone()),
        }
    }

    /// What nginx does between finding the location and its access phase,
    /// in its order: fail2ban's ban, the declared body length against
    /// `client_max_body_size`, then `limit_req` (which may wait out a
    /// delay) and `limit_conn`. Gives the limits' dry-run lines; refusals
    /// and dry runs go to error.log in nginx's words. On `Err` the caller
    /// keeps `decision` in `ctx` for the log.
    async fn pre_access(
        &self,
        info: &RequestInfo,
        declared_length: Option<u64>,
        decision: &mut Decision,
        ctx: &mut RequestCtx,
    ) -> Result<Vec<crate::limits::Refused>> {
        // A banned peer was closed at accept; a banned client behind a
        // trusted hop (realip), or a peer banned since its connection
        // opened, gets 403 before anything else runs.
        if let Some(bans) = &self.bans {
            if decision
                .client_addr
                .into_iter()
                .chain([info.remote.ip()])
                .any(|a| bans.refuses(a))
            {
                ctx.banned = true;
                return Err(status::refuse(403, "the client is banned (fail2ban)"));
            }
        }
        if let (Some(max), Some(len)) = (decision.max_body_size, declared_length) {
            if len > max {
                return Err(status::refuse(
                    413,
                    format!("Content-Length {len} exceeds client_max_body_size {max}"),
                ));
            }
        }
        match self
            .limiter
            .admit(&decision.limits, &mut ctx.limit_hold)
            .await
        {
            Ok(dry) => Ok(dry),
            Err(refused) => {
                decision.errors.push(refused.to_string());
                Err(status::refuse(refused.status, refused.to_string()))
            }
        }
    }
}
