//! pingora-proxy's phases over [`MoatProxy`]: the path of the requests
//! moat's own request path hands over, HTTP/1 and HTTP/2 (bodies, gRPC,
//! HTTP-01 answers, heads nginx refuses; and, on an HTTP/1 connection
//! handed over earlier, the requests after, upgrades included, which the
//! same relay serves). The policy steps are the loop's own (`pre_access`,
//! `error_page`, `account`), called from the phases in the same order.

use super::*;

/// [`MoatProxy`] as pingora-proxy's application; shared with moat's own
/// HTTP/1 loop, which holds the same `Arc`.
pub struct Phases(pub Arc<MoatProxy>);

impl std::ops::Deref for Phases {
    type Target = MoatProxy;
    fn deref(&self) -> &MoatProxy {
        &self.0
    }
}

#[async_trait]
impl ProxyHttp for Phases {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        self.new_request_ctx()
    }

    /// The paths that answer locally or relay an upgrade are boxed: their
    /// futures are large, and Pingora boxes (moves) this one per request.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        if let Some(why) = oversized_head(session.req_header()) {
            return Err(status::refuse(431, why));
        }
        // Before anything reads the head: refuse what nginx refuses, drop
        // the headers it ignores, turn absolute-form into origin-form.
        // The header-name rules are those of the server the Host picks.
        let rules = self.header_rules(session);
        if let Err(refusal) = head_checks::check(session.req_header_mut(), rules) {
            tracing::info!(status = refusal.status, why = %refusal.why, "request refused");
            return Err(status::refuse(refusal.status, refusal.why));
        }
        // Pipelined requests are answered in order, one after the other
        // (Pingora's default closes after the first).
        session.as_downstream_mut().set_pipelining_enabled(true);
        let info = self.request_info(session);
        if !info.tls {
            if let Some(reply) = http01::answer(&self.tokens, &info.uri) {
                Box::pin(respond::send(session, reply, &[])).await?;
                return Ok(true);
            }
        }
        let mut decision = self.routes.decide(&info);
        let dry_runs = match self
            .pre_access(
                &info,
                declared_length(session.req_header()),
                &mut decision,
                ctx,
            )
            .await
        {
            Ok(dry) => dry,
            Err(e) => {
                ctx.decision = Some(decision);
                return Err(e);
            }
        };
        // Access phase, auth_request: ask the auth server, then decide
        // again with its answer (the request goes on only on 2xx).
        if let Action::Authenticate(ask) = &decision.action {
            let outcome = Box::pin(self.auth.ask(&self.resolver, ask, session.req_header())).await;
            decision = self.routes.decide_after_auth(&info, &outcome);
        }
        decision
            .errors
            .extend(dry_runs.iter().map(|r| r.to_string()));
        if let Action::Proxy(target) = &decision.action {
            if session.is_upgrade_req() {
                let target = target.clone();
                let result = Box::pin(self.relay_upgrade(
                    session.as_downstream_mut(),
                    &decision,
                    &target,
                    ctx,
                ))
                .await;
                ctx.decision = Some(decision);
                result?;
                return Ok(true);
            }
        }
        let forward = matches!(decision.action, Action::Proxy(_) | Action::Grpc(_));
        if !forward {
            let result = Box::pin(self.answer(session, &decision)).await;
            ctx.decision = Some(decision);
            result?;
            return Ok(true);
        }
        let buffer_limit = decision
            .max_body_size
            .filter(|_| decision.request_buffering);
        ctx.decision = Some(decision);
        if let Some(max) = buffer_limit {
            if body_buffer::streamed(session) {
                Box::pin(body_buffer::read_whole(session, max)).await?;
            }
        }
        Ok(false)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(chunk) = body {
            ctx.body_bytes += chunk.len() as u64;
        }
        match ctx.decision.as_ref().and_then(|d| d.max_body_size) {
            Some(max) if ctx.body_bytes > max => {
                return Err(status::refuse(
                    413,
                    format!("request body exceeds client_max_body_size {max}"),
                ))
            }
            _ => {}
        }
        Ok(())
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let Some((target, grpc)) = ctx.target() else {
            return Err(Error::explain(
                pingora::ErrorType::InternalError,
                "no upstream for this request",
            ));
        };
        let addr = self.resolve(target).await?;
        let peer = Box::new(peer(addr, target, grpc));
        ctx.upstream_addr = Some(addr);
        // Asked again when Pingora retries (a reused upstream connection
        // that closed): it then replays the body read so far from its
        // start, which must not count twice against client_max_body_size.
        ctx.body_bytes = 0;
        ctx.upstream_started = Some(Instant::now());
        Ok(peer)
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some((target, grpc)) = ctx.target() else {
            return Ok(());
        };
        headers::upstream_request(upstream_request, target, session.is_upgrade_req(), grpc)
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(started) = ctx.upstream_started.take() {
            ctx.upstream_elapsed = Some(started.elapsed());
        }
        if let Some((target, grpc)) = ctx.target() {
            headers::upstream_response(upstream_response, target);
            // gRPC frames and trailers are never rewritten.
            let substituter = target
                .body_filter
                .as_ref()
                .filter(|_| !grpc)
                .and_then(|f| sub_filter::start(f, upstream_response));
            ctx.substituter = substituter;
        }
        if let Some(decision) = &ctx.decision {
            // `error_page ... =code` (or the original error) imposes its
            // status on the proxied answer, as nginx's err_status does.
            if let Some(code) = decision.status_override {
                upstream_response.set_status(code)?;
            }
            headers::add_response_headers(upstream_response, &decision.response_headers);
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(s) = ctx.substituter.as_mut() {
            s.filter(body, end_of_stream);
        }
        Ok(None)
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        if let Some(h1) = session.as_downstream().as_http1() {
            header_deadline::rearm_after_response(h1.stream());
        }
        self.account(session, e, ctx);
    }

    /// Pingora's own "Fail to proxy" line is an ERROR for every refusal,
    /// client 404s included, as a debug dump; `fail_to_proxy` (always
    /// called first) writes moat's one readable line instead.
    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, _e: &Error) -> bool {
        true
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = status::for_error(e);
        let page = error_page(code, ctx).filter(|_| session.response_written().is_none());
        if let Some((reply, rules)) = page {
            if let Err(write) = respond::send(session, reply, rules).await {
                tracing::debug!(error = %write, "client gone before the error page");
            } else if code == 413 {
                // The client may still be sending: let it finish, so it
                // reads the 413 instead of a reset.
                linger::drain_refused_body(session).await;
            }
        }
        if let Some(failure) = failure_log::record(code, e, ctx.decision.as_ref()) {
            self.metrics.record_failure(failure);
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }
}
