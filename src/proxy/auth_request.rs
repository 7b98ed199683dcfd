//! Carries out the `auth_request` subrequest the route table asks for
//! ([`Action::Authenticate`](crate::conf::Action::Authenticate)): a `GET`
//! without a body to the internal location's upstream, with that
//! location's header list, over pooled keep-alive connections (the auth
//! server is asked on every request). The response body is read and
//! dropped; only the status and headers go back to the route table.
//!
//! Failures never let the request through: an unreachable or failing auth
//! server is status 502, a timeout 504, and the route table turns any
//! status but 2xx/401/403 into 500.

use std::time::Duration;

use pingora::connectors::http::v1::Connector;
use pingora::http::RequestHeader;
use pingora::protocols::http::v1::client::HttpSession;
use pingora::upstreams::peer::HttpPeer;

use super::headers;
use super::resolve::UpstreamResolver;
use super::upstream::peer;
use crate::conf::{AuthOutcome, AuthRequest};

/// How much of an auth response body is read before the connection is
/// given up instead of drained for reuse.
const MAX_DRAINED_BODY: usize = 64 * 1024;

/// How long an idle connection to an auth server stays pooled.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// Pooled HTTP/1.1 connections to auth servers, shared by all requests.
pub struct AuthClient {
    connector: Connector,
}

impl Default for AuthClient {
    fn default() -> Self {
        AuthClient {
            connector: Connector::new(None),
        }
    }
}

/// Why an auth subrequest got no answer.
#[derive(Debug, thiserror::Error)]
enum AskError {
    #[error("cannot resolve the auth server: {0}")]
    Resolve(String),
    #[error("{0}")]
    Exchange(Box<pingora::Error>),
}

impl AskError {
    /// The subrequest status nginx would record: 504 for a timeout, else 502.
    fn status(&self) -> u16 {
        match self {
            AskError::Exchange(e) if is_timeout(e) => 504,
            _ => 502,
        }
    }
}

fn is_timeout(e: &pingora::Error) -> bool {
    use pingora::ErrorType::*;
    matches!(
        e.etype(),
        ConnectTimedout | ReadTimedout | WriteTimedout | TLSHandshakeTimedout
    )
}

impl AuthClient {
    /// Asks the auth server; never fails (a failure is a 502/504 outcome,
    /// logged with the upstream).
    pub async fn ask(
        &self,
        resolver: &UpstreamResolver,
        ask: &AuthRequest,
        client: &RequestHeader,
    ) -> AuthOutcome {
        let (status, headers) = match self.try_ask(resolver, ask, client).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(upstream = %ask.target.url, auth_request = %ask.uri, error = %e, "auth subrequest failed; answering 500");
                (e.status(), Vec::new())
            }
        };
        AuthOutcome {
            uri: ask.uri.clone(),
            status,
            headers,
        }
    }

    async fn try_ask(
        &self,
        resolver: &UpstreamResolver,
        ask: &AuthRequest,
        client: &RequestHeader,
    ) -> Result<(u16, Vec<(String, String)>), AskError> {
        let target = &ask.target;
        let addr = resolver
            .resolve(&target.host, target.port, &target.options)
            .await
            .map_err(|e| AskError::Resolve(e.to_string()))?;
        let peer = peer(addr, target, false);
        let request = request_header(ask, client).map_err(AskError::Exchange)?;
        // A pooled connection the server has closed fails on first use:
        // one retry on a fresh connection.
        for attempt in 0..2 {
            let (mut session, reused) = self
                .connector
                .get_http_session(&peer)
                .await
                .map_err(AskError::Exchange)?;
            // Pingora's proxy applies these per request; its bare session does not.
            session.read_timeout = Some(target.options.read_timeout);
            session.write_timeout = Some(target.options.send_timeout);
            match exchange(&mut session, request.clone()).await {
                Ok(answer) => {
                    self.release(session, &peer).await;
                    return Ok(answer);
                }
                Err(e) if reused && attempt == 0 && !is_timeout(&e) => continue,
                Err(e) => return Err(AskError::Exchange(e)),
            }
        }
        unreachable!("the second attempt returns")
    }

    async fn release(&self, mut session: HttpSession, peer: &HttpPeer) {
        if session.is_body_done() {
            self.connector
                .release_http_session(session, peer, Some(POOL_IDLE))
                .await;
        } else {
            session.shutdown().await;
        }
    }
}

/// The target's method (`GET`) to its path with its headers over the
/// client's (`client`, the main request's head), without the client's
/// body or its framing, over HTTP/1.1 whatever the client spoke (Pingora's
/// connection handling as for proxied requests).
fn request_header(
    ask: &AuthRequest,
    client: &RequestHeader,
) -> pingora::Result<Box<RequestHeader>> {
    let mut req = headers::upstream_head(client, &ask.target, false, false, false)?;
    req.set_version(http::Version::HTTP_11);
    Ok(Box::new(req))
}

/// Writes the request, reads the response head and drains its body.
async fn exchange(
    session: &mut HttpSession,
    request: Box<RequestHeader>,
) -> pingora::Result<(u16, Vec<(String, String)>)> {
    session.write_request_header(request).await?;
    session.finish_body().await?;
    session.read_response().await?;
    let head = session
        .resp_header()
        .ok_or_else(|| pingora::Error::new(pingora::ErrorType::InvalidHTTPHeader))?;
    let status = head.status.as_u16();
    let headers = head
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut drained = 0;
    while drained <= MAX_DRAINED_BODY {
        match session.read_body_ref().await? {
            Some(chunk) => drained += chunk.len(),
            None => break,
        }
    }
    Ok((status, headers))
}
