//! One request's path on moat's own loop, for an HTTP/1 request of the
//! keep-alive loop (`h1.rs`) and an HTTP/2 stream (`connections.rs`'s
//! `H2Streams`) alike: pingora-core's `ServerSession` hides which.
//!
//! The steps, in order ([`MoatProxy::serve_request`]):
//! 1. the head checks nginx makes before anything reads the head;
//! 2. the route decision;
//! 3. the hand-over test: what this path does not serve itself (bodies,
//!    gRPC, HTTP-01 answers, heads nginx refuses) goes to
//!    pingora-proxy before anything here has had an effect (see
//!    [`hands_over`]);
//! 4. pre-access: ban, limits ([`MoatProxy::pre_access`]);
//! 5. access: `auth_request`, then the decision again with its answer;
//! 6. content: the upstream head from the conf's edits (`headers.rs`),
//!    forwarding over moat's pool, the response rules and `sub_filter`;
//!    an upgrade relayed on a new upstream connection (`websocket.rs`);
//!    or moat's own answer (`return`, redirects, static files, refusals);
//! 7. the access log, metrics and jails ([`MoatProxy::account`]).

use std::time::Instant;

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::v1::client::HttpSession as UpstreamSession;
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::pool::{self, Pool};
use super::{MoatProxy, RequestCtx};
use crate::conf::{Action, Decision, ProxyTarget};
use crate::proxy::failure_log;
use crate::proxy::head_checks;
use crate::proxy::headers;
use crate::proxy::http01;
use crate::proxy::limits::oversized_head;
use crate::proxy::respond;
use crate::proxy::status;
use crate::proxy::sub_filter::{self, Substituter};
use crate::proxy::upstream::peer;
use tokio::io::AsyncWriteExt;

/// What became of one request on moat's path.
pub(super) enum Served {
    /// Answered; an HTTP/1 connection may carry the next request.
    Done,
    /// Answered or failed in a way that ends the connection (HTTP/1) or
    /// resets the stream if its answer is incomplete (HTTP/2).
    Close,
    /// For pingora-proxy: nothing has been answered or counted.
    HandOver,
}

/// Requests the loop leaves to pingora-proxy: those with a body (its
/// buffering, 413 and replay are in `body_buffer`) and gRPC (an HTTP/2
/// upstream). An upgrade stays: its body is the relayed bytes, which
/// pingora-core reads as such once the `101` is written, so it is not
/// asked about a body before (that would fix the reader's framing early).
fn hands_over(down: &mut ServerSession, upgrade: bool, decision: &Decision) -> bool {
    matches!(decision.action, Action::Grpc(_)) || (!upgrade && !down.is_body_empty())
}

impl MoatProxy {
    /// One request's path, in the order the module doc lists.
    pub(super) async fn serve_request(
        &self,
        down: &mut ServerSession,
        pool: &std::sync::Arc<Pool>,
    ) -> Served {
        // The refusals of the head are pingora-proxy's to answer (they
        // read the head the same way there).
        if oversized_head(down.req_header()).is_some() {
            return Served::HandOver;
        }
        let rules = self.header_rules(down);
        if head_checks::check(down.req_header_mut(), rules).is_err() {
            return Served::HandOver;
        }
        let info = self.request_info(down);
        if !info.tls && http01::answer(&self.tokens, &info.uri).is_some() {
            return Served::HandOver;
        }
        let mut decision = self.routes.decide(&info);
        let upgrade = down.is_upgrade_req();
        if hands_over(down, upgrade, &decision) {
            return Served::HandOver;
        }
        let mut ctx = self.new_request_ctx();
        let result = match self.pre_access(&info, None, &mut decision, &mut ctx).await {
            Ok(dry_runs) => {
                // Access phase, auth_request: ask the auth server, then
                // decide again with its answer.
                if let Action::Authenticate(ask) = &decision.action {
                    let outcome =
                        Box::pin(self.auth.ask(&self.resolver, ask, down.req_header())).await;
                    decision = self.routes.decide_after_auth(&info, &outcome);
                }
                decision
                    .errors
                    .extend(dry_runs.iter().map(|r| r.to_string()));
                match &decision.action {
                    // The relay closes the connection when it ends.
                    Action::Proxy(target) if upgrade => {
                        Box::pin(self.relay_upgrade(down, &decision, target, &mut ctx)).await
                    }
                    Action::Proxy(target) => {
                        self.forward(down, pool, target, &decision, &mut ctx).await
                    }
                    // Behind auth_request, where the first decision could
                    // not tell: refused rather than sent to the wrong kind of
                    // upstream. Real gRPC calls carry a body and are handed
                    // over before this; a body-less one here (HTTP/1 or
                    // HTTP/2) has no gRPC client behind it.
                    Action::Grpc(_) => Err(status::refuse(
                        503,
                        "grpc_pass behind auth_request for a request without a body",
                    )),
                    _ => self.answer_here(down, &decision).await,
                }
            }
            Err(e) => Err(e),
        };
        ctx.decision = Some(decision);
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
        let addr = self.resolve(target).await?;
        ctx.upstream_addr = Some(addr);
        let peer = peer(addr, target, false);
        let started = Instant::now();
        let mut up = self
            .exchange(down.req_header(), target, pool, &peer)
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

    /// Send the upstream head and read the response head; once more on a
    /// new connection when a reused one turns out closed before answering.
    async fn exchange(
        &self,
        client: &RequestHeader,
        target: &ProxyTarget,
        pool: &Pool,
        peer: &HttpPeer,
    ) -> Result<UpstreamSession> {
        let (stream, reused) = pool.stream(&self.connector, peer).await?;
        match send(stream, peer, client, target).await {
            Ok(up) => Ok(up),
            Err(e) if reused && stale(&e) => {
                tracing::debug!(error = %e, "reused upstream connection was closed; retrying on a new one");
                let stream = self.connector.new_stream(peer).await?;
                send(stream, peer, client, target).await
            }
            Err(e) => Err(e),
        }
    }

    /// The error page of a failed request, as `fail_to_proxy` writes it on
    /// the pingora-proxy path, and its failure record.
    async fn fail(&self, down: &mut ServerSession, e: &Error, ctx: &RequestCtx) {
        let code = status::for_error(e);
        let page = super::error_page(code, ctx).filter(|_| down.response_written().is_none());
        if let Some((reply, rules)) = page {
            down.set_keepalive(None);
            if let Err(write) = respond::send_session(down, reply, rules).await {
                tracing::debug!(error = %write, "client gone before the error page");
            } else if let Err(e) = down.finish_body().await {
                tracing::debug!(error = %e, "client gone during the error page");
            }
        }
        if let Some(failure) = failure_log::record(code, e, ctx.decision.as_ref()) {
            self.metrics.record_failure(failure);
        }
    }
}

/// Write the upstream head for `client` on `stream` and read the response
/// head, skipping interim (1xx) answers as nginx does.
async fn send(
    mut stream: Stream,
    peer: &HttpPeer,
    client: &RequestHeader,
    target: &ProxyTarget,
) -> Result<UpstreamSession> {
    let method = target.method.as_deref().unwrap_or(client.method.as_str());
    // The head goes out as bytes made from the conf's plan, for HTTP/1
    // and HTTP/2 clients alike. A HEAD request is written through
    // Pingora's session instead: its client session must know the method
    // to read a response without a body.
    let mut up = if method.eq_ignore_ascii_case("HEAD") {
        let mut head = headers::upstream_head(client, target, false, false, true)?;
        // HTTP/1.0 and HTTP/2 clients are served as 1.1 upstream, as
        // Pingora's proxy does.
        head.set_version(http::Version::HTTP_11);
        let mut up = pool::session(stream, peer);
        up.write_request_header(Box::new(head))
            .await
            .map_err(|e| e.into_up())?;
        up
    } else {
        let mut wire = Vec::with_capacity(1024);
        headers::upstream_wire(client, target, &mut wire)?;
        write_head(&mut stream, &wire, peer.options.write_timeout).await?;
        pool::session(stream, peer)
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

/// Write and flush an upstream head within `proxy_send_timeout`.
async fn write_head(
    stream: &mut Stream,
    wire: &[u8],
    limit: Option<std::time::Duration>,
) -> Result<()> {
    let write = async {
        stream.write_all(wire).await?;
        stream.flush().await
    };
    let written = match limit {
        Some(limit) => match tokio::time::timeout(limit, write).await {
            Ok(written) => written,
            Err(_) => {
                return Err(Error::explain(
                    ErrorType::WriteTimedout,
                    "while writing request headers (timeout)",
                )
                .into_up())
            }
        },
        None => write.await,
    };
    written.map_err(|e| {
        Error::because(ErrorType::WriteError, "while writing request headers", e).into_up()
    })
}

/// A failure that a closed keep-alive connection explains: the request
/// can go again on a new one. Timeouts are the upstream's own answer.
fn stale(e: &Error) -> bool {
    !matches!(
        e.etype(),
        ErrorType::ReadTimedout | ErrorType::WriteTimedout | ErrorType::ConnectTimedout
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
