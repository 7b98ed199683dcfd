//! One request's path on moat's own loop, for an HTTP/1 request of the
//! keep-alive loop (`h1.rs`) and an HTTP/2 stream (`connections.rs`'s
//! `H2Streams`) alike: pingora-core's `ServerSession` hides which.
//!
//! The steps, in order ([`MoatProxy::serve_request`]):
//! 1. the head checks nginx makes before anything reads the head (431,
//!    400, 501 and the rest), and HTTP-01 answers on the plain port;
//! 2. the route decision;
//! 3. pre-access: ban, the declared body length, limits
//!    ([`MoatProxy::pre_access`]);
//! 4. access: `auth_request`, then the decision again with its answer;
//! 5. content: the body read whole where the location buffers it
//!    (`body.rs`), the upstream head from the conf's edits (`headers.rs`)
//!    and the body after it, over moat's pool, the response rules and
//!    `sub_filter`; an upgrade relayed on a new upstream connection
//!    (`websocket.rs`); a gRPC call over HTTP/2 (`grpc.rs`); or moat's
//!    own answer (`return`, redirects, static files, refusals);
//! 6. the access log, metrics and jails ([`MoatProxy::account`]).

use std::time::Instant;

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::v1::client::HttpSession as UpstreamSession;
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::body::{self, Out, RequestBody};
use super::pool::{self, Pool};
use super::{MoatProxy, RequestCtx};
use crate::conf::{Action, Decision, ProxyTarget};
use crate::proxy::failure_log;
use crate::proxy::head_checks;
use crate::proxy::headers;
use crate::proxy::http01;
use crate::proxy::limits::{declared_length, oversized_head};
use crate::proxy::linger;
use crate::proxy::respond;
use crate::proxy::status;
use crate::proxy::sub_filter::{self, Substituter};
use crate::proxy::upstream::peer;

/// What became of one request on moat's path.
pub(super) enum Served {
    /// Answered; an HTTP/1 connection may carry the next request.
    Done,
    /// Answered or failed in a way that ends the connection (HTTP/1) or
    /// resets the stream if its answer is incomplete (HTTP/2).
    Close,
}

impl MoatProxy {
    /// One request's path, in the order the module doc lists.
    pub(super) async fn serve_request(
        &self,
        down: &mut ServerSession,
        pool: &std::sync::Arc<Pool>,
    ) -> Served {
        let mut ctx = self.new_request_ctx();
        let result = self.serve(down, pool, &mut ctx).await;
        let served = match &result {
            Ok(()) => Served::Done,
            Err(e) => {
                self.fail(down, e, &ctx).await;
                Served::Close
            }
        };
        self.account(down, result.as_ref().err().map(|e| &**e), &ctx);
        served
    }

    /// Steps 1 to 5. The decision is kept in `ctx` for the log whatever
    /// the outcome.
    async fn serve(
        &self,
        down: &mut ServerSession,
        pool: &std::sync::Arc<Pool>,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(why) = oversized_head(down.req_header()) {
            return Err(status::refuse(431, why));
        }
        // Before anything reads the head: refuse what nginx refuses, drop
        // the headers it ignores, turn absolute-form into origin-form.
        // The header-name rules are those of the server the Host picks.
        let rules = self.header_rules(down);
        if let Err(refusal) = head_checks::check(down.req_header_mut(), rules) {
            tracing::info!(status = refusal.status, why = %refusal.why, "request refused");
            return Err(status::refuse(refusal.status, refusal.why));
        }
        let info = self.request_info(down);
        if !info.tls {
            if let Some(reply) = http01::answer(&self.tokens, &info.uri) {
                return Box::pin(respond::send_session(down, reply, &[])).await;
            }
        }
        let mut decision = self.routes.decide(&info);
        let declared = declared_length(down.req_header());
        let dry_runs = match self.pre_access(&info, declared, &mut decision, ctx).await {
            Ok(dry_runs) => dry_runs,
            Err(e) => {
                ctx.decision = Some(decision);
                return Err(e);
            }
        };
        // Access phase, auth_request: ask the auth server, then decide
        // again with its answer.
        if let Action::Authenticate(ask) = &decision.action {
            let outcome = Box::pin(self.auth.ask(&self.resolver, ask, down.req_header())).await;
            decision = self.routes.decide_after_auth(&info, &outcome);
        }
        decision
            .errors
            .extend(dry_runs.iter().map(|r| r.to_string()));
        let result = match &decision.action {
            // The relay closes the connection when it ends.
            Action::Proxy(target) if down.is_upgrade_req() => {
                Box::pin(self.relay_upgrade(down, &decision, target, ctx)).await
            }
            Action::Proxy(target) => self.forward(down, pool, target, &decision, ctx).await,
            Action::Grpc(target) => Box::pin(self.forward_grpc(down, target, &decision, ctx)).await,
            _ => self.answer_here(down, &decision).await,
        };
        ctx.decision = Some(decision);
        result
    }

    /// An answer moat makes itself: `return`, redirects, static files,
    /// refusals (raised as errors for [`Self::fail`]).
    async fn answer_here(&self, down: &mut ServerSession, decision: &Decision) -> Result<()> {
        let reply = Box::pin(self.reply(decision)).await?;
        respond::send_session(down, reply, &decision.response_headers).await
    }

    /// Forward a proxied request and relay the answer.
    async fn forward(
        &self,
        down: &mut ServerSession,
        pool: &std::sync::Arc<Pool>,
        target: &ProxyTarget,
        decision: &Decision,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // A body the location buffers is read whole before the upstream
        // is chosen (boxed: a large future, and most requests have none).
        let mut body = match down.is_body_empty() {
            true => None,
            false => Some(Box::pin(RequestBody::prepare(down, decision)).await?),
        };
        let addr = self.resolve(target).await?;
        ctx.upstream_addr = Some(addr);
        let peer = peer(addr, target, false);
        let head = Head::new(down.req_header(), target)?;
        let started = Instant::now();
        let mut up = self
            .exchange(down, &head, body.as_mut(), pool, &peer)
            .await?;
        ctx.upstream_elapsed = Some(started.elapsed());
        let (resp, mut substituter) = response_head(down.req_header(), &up, target, decision)?;
        down.write_response_header(resp)
            .await
            .map_err(|e| e.into_down())?;
        loop {
            let mut body = if up.is_body_done() {
                None
            } else {
                up.read_body_bytes().await.map_err(|e| e.into_up())?
            };
            let end = body.is_none();
            if let Some(s) = substituter.as_mut() {
                s.filter(&mut body, end);
            }
            if let Some(chunk) = body.filter(|b| !b.is_empty()) {
                down.write_response_body(chunk, false)
                    .await
                    .map_err(|e| e.into_down())?;
            }
            if end {
                break;
            }
        }
        pool.release(up, &peer).await;
        Ok(())
    }

    /// Send the upstream head and body and read the response head; once
    /// more on a new connection when a reused one turns out closed before
    /// answering and the body can be sent again.
    async fn exchange(
        &self,
        down: &mut ServerSession,
        head: &Head,
        mut body: Option<&mut RequestBody>,
        pool: &Pool,
        peer: &HttpPeer,
    ) -> Result<UpstreamSession> {
        let (stream, reused) = pool.stream(&self.connector, peer).await?;
        match send(stream, peer, head, down, body.as_deref_mut(), false).await {
            Ok(up) => Ok(up),
            Err(e) if reused && stale(&e) && body.as_ref().is_none_or(|b| b.can_send_again()) => {
                tracing::debug!(error = %e, "reused upstream connection was closed; retrying on a new one");
                let stream = self.connector.new_stream(peer).await?;
                send(stream, peer, head, down, body, true).await
            }
            Err(e) => Err(e),
        }
    }

    /// The error page of a failed request (none once an answer has begun,
    /// or for a client that is gone), a 413's lingering close, and the
    /// failure's record.
    async fn fail(&self, down: &mut ServerSession, e: &Error, ctx: &RequestCtx) {
        let code = status::for_error(e);
        let page = super::error_page(code, ctx).filter(|_| down.response_written().is_none());
        if let Some((reply, rules)) = page {
            down.set_keepalive(None);
            if let Err(write) = respond::send_session(down, reply, rules).await {
                tracing::debug!(error = %write, "client gone before the error page");
            } else if let Err(e) = down.finish_body().await {
                tracing::debug!(error = %e, "client gone during the error page");
            } else if code == 413 {
                // The client may still be sending: let it finish, so it
                // reads the 413 instead of a reset.
                linger::drain_refused_body(down).await;
            }
        }
        if let Some(failure) = failure_log::record(code, e, ctx.decision.as_ref()) {
            self.metrics.record_failure(failure);
        }
    }
}

/// The upstream head, made once per request (a second send writes it
/// again).
enum Head {
    /// Bytes made from the conf's plan, for HTTP/1 and HTTP/2 clients alike.
    Wire(Vec<u8>),
    /// A HEAD request, written through Pingora's session: its client
    /// session must know the method to read a response without a body.
    Session(Box<RequestHeader>),
}

impl Head {
    fn new(client: &RequestHeader, target: &ProxyTarget) -> Result<Self> {
        let method = target.method.as_deref().unwrap_or(client.method.as_str());
        if method.eq_ignore_ascii_case("HEAD") {
            let mut head = headers::upstream_head(client, target, false, false, true)?;
            // HTTP/1.0 and HTTP/2 clients are served as 1.1 upstream, as
            // Pingora's proxy does.
            head.set_version(http::Version::HTTP_11);
            return Ok(Head::Session(Box::new(head)));
        }
        let mut wire = Vec::with_capacity(1024);
        headers::upstream_wire(client, target, &mut wire)?;
        Ok(Head::Wire(wire))
    }
}

/// Write `head` and `body` on `stream` and read the response head,
/// skipping interim (1xx) answers as nginx does.
async fn send(
    mut stream: Stream,
    peer: &HttpPeer,
    head: &Head,
    down: &mut ServerSession,
    body: Option<&mut RequestBody>,
    again: bool,
) -> Result<UpstreamSession> {
    let limit = peer.options.write_timeout;
    let mut up = match head {
        Head::Session(head) => {
            let mut up = pool::session(stream, peer);
            up.write_request_header(head.clone())
                .await
                .map_err(|e| e.into_up())?;
            if let Some(body) = body {
                body.send(down, &mut Out::Session(&mut up), again).await?;
            }
            up
        }
        Head::Wire(wire) => {
            body::write(&mut stream, wire, limit, "request headers").await?;
            if let Some(body) = body {
                let mut out = Out::wire(&mut stream, body, limit);
                body.send(down, &mut out, again).await?;
            }
            pool::session(stream, peer)
        }
    };
    loop {
        up.read_response().await.map_err(|e| e.into_up())?;
        match up.resp_header().map(|r| r.status) {
            Some(s) if s.is_informational() && s != http::StatusCode::SWITCHING_PROTOCOLS => {
                continue
            }
            Some(_) => return Ok(up),
            None => {
                return Err(Error::explain(
                    ErrorType::InvalidHTTPHeader,
                    "no response header from upstream",
                )
                .into_up())
            }
        }
    }
}

/// A failure that a closed keep-alive connection explains: the request
/// can go again on a new one. Timeouts are the upstream's own answer; the
/// client's failures and moat's refusals (a body over the limit) are not
/// the connection's.
fn stale(e: &Error) -> bool {
    matches!(e.esource(), pingora::ErrorSource::Upstream)
        && !matches!(
            e.etype(),
            ErrorType::ReadTimedout
                | ErrorType::WriteTimedout
                | ErrorType::ConnectTimedout
                | ErrorType::HTTPStatus(_)
        )
}

/// The client's response head: the upstream's, with its body framed for
/// keep-alive, the conf's header rules, `sub_filter`'s changes (and its
/// substituter) and `error_page`'s status, in the order of the proxy
/// path's `response_filter`.
fn response_head(
    client: &RequestHeader,
    up: &UpstreamSession,
    target: &ProxyTarget,
    decision: &Decision,
) -> Result<(Box<ResponseHeader>, Option<Substituter>)> {
    let Some(received) = up.resp_header() else {
        return Err(Error::explain(ErrorType::InternalError, "no upstream response").into_up());
    };
    let mut resp = Box::new(received.clone());
    // A close-delimited body goes out chunked, so the client's connection
    // can stay open (Pingora's proxy does the same). HTTP/2 frames it by
    // its streams.
    let no_body = client.method == http::Method::HEAD
        || matches!(resp.status.as_u16(), 204 | 304)
        || client.version == http::Version::HTTP_2;
    if !no_body
        && !resp.headers.contains_key(http::header::TRANSFER_ENCODING)
        && !resp.headers.contains_key(http::header::CONTENT_LENGTH)
    {
        resp.set_version(http::Version::HTTP_11);
        resp.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
    }
    headers::upstream_response(&mut resp, target);
    let substituter = target
        .body_filter
        .as_ref()
        .and_then(|f| sub_filter::start(f, &mut resp));
    if let Some(code) = decision.status_override {
        resp.set_status(code)?;
    }
    headers::add_response_headers(&mut resp, &decision.response_headers);
    Ok((resp, substituter))
}
