//! HTTP/1.1 upgrades (WebSockets), relayed on moat's own loop.
//!
//! This began as a way around pingora-proxy, which moat no longer uses:
//! Pingora 0.9's proxy loop tears an upgraded tunnel down when the
//! upstream's `101` is read before the upgrade request's own empty body end
//! has been handed to the upstream side; the client gets the `101` and then
//! EOF (cloudflare/pingora#946). On loopback and Docker networks, where
//! backends answer in microseconds, that happened to about one WebSocket in
//! fifty. Home Assistant, Jellyfin and Open WebUI depend on WebSockets.
//! The relay: one fresh upstream connection (Pingora's connector, so TLS
//! and timeouts follow the conf like every other request), the request head
//! as the conf builds it, the upstream's answer with the response header
//! rules applied, and, after a `101`, bytes relayed both ways until either
//! side closes or the connection is idle longer than `proxy_read_timeout`
//! (nginx's rule for upgraded connections). An upstream that refuses the
//! upgrade gets its answer relayed as an ordinary response.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pingora::connectors::TransportConnector;
use pingora::http::ResponseHeader;
use pingora::protocols::http::v1::client::HttpSession as UpstreamSession;
use pingora::protocols::http::ServerSession;
use pingora::{Error, ErrorType, OrErr, Result};

use super::headers;
use super::upstream::peer;
use crate::conf::{HeaderRule, ProxyTarget};

/// What the relay measured, for the access log and metrics.
pub struct Relayed {
    /// Connect → upstream response header.
    pub upstream_elapsed: Duration,
}

/// Relays one upgrade request to `target` at `addr`. `Err` only before any
/// response was written downstream (the caller answers with the status the
/// error maps to); once the response has started, failures end the
/// connection and are logged.
pub async fn relay(
    connector: &TransportConnector,
    downstream: &mut ServerSession,
    target: &ProxyTarget,
    addr: SocketAddr,
    response_rules: &[HeaderRule],
) -> Result<Relayed> {
    let peer = peer(addr, target, false);
    let started = Instant::now();
    let stream = connector.new_stream(&peer).await.map_err(|e| e.into_up())?;
    let mut upstream = UpstreamSession::new_with_options(stream, &peer);

    let req = headers::upstream_head(downstream.req_header(), target, true, false, true)?;
    upstream
        .write_request_header(Box::new(req))
        .await
        .map_err(|e| e.into_up())?;
    upstream.read_response().await.map_err(|e| e.into_up())?;
    let upstream_elapsed = started.elapsed();
    let mut resp: ResponseHeader = upstream.resp_header().cloned().ok_or_else(|| {
        Error::explain(
            ErrorType::InvalidHTTPHeader,
            "upstream sent no response header",
        )
        .into_up()
    })?;
    headers::upstream_response(&mut resp, target);
    headers::add_response_headers(&mut resp, response_rules);
    let upgraded = upstream.was_upgraded();
    if !upgraded {
        // A refusal (403, 404, 426...): relay it as an ordinary response
        // and close, as nginx does when the upstream does not switch.
        resp.remove_header("connection");
        resp.insert_header("Connection", "close")
            .or_err(ErrorType::InternalError, "setting Connection")?;
    }
    downstream.set_keepalive(None);
    downstream.write_response_header(Box::new(resp)).await?;
    if upgraded {
        upstream.maybe_upgrade_body_writer();
        if let Err(e) = pump(downstream, &mut upstream, target).await {
            tracing::debug!(error = %e, upstream = %target.url, "upgraded connection ended with an error");
        }
    } else {
        while let Some(chunk) = upstream.read_body_bytes().await? {
            downstream.write_response_body(chunk, false).await?;
        }
    }
    let _ = downstream.finish_body().await;
    upstream.shutdown().await;
    Ok(Relayed { upstream_elapsed })
}

/// Relays bytes both ways until one side closes or both are idle for the
/// conf's read timeout. Each read is cancel-safe (a socket read that loses
/// the race consumes nothing), so the two directions share one loop.
async fn pump(
    downstream: &mut ServerSession,
    upstream: &mut UpstreamSession,
    target: &ProxyTarget,
) -> Result<()> {
    let idle = target.options.read_timeout;
    loop {
        let step = tokio::time::timeout(idle, async {
            tokio::select! {
                from_client = downstream.read_request_body() => Direction::FromClient(from_client),
                from_upstream = upstream.read_body_bytes() => Direction::FromUpstream(from_upstream),
            }
        })
        .await;
        match step {
            Err(_) => {
                return Error::e_explain(
                    ErrorType::ReadTimedout,
                    format!("upgraded connection idle for {idle:?} (proxy_read_timeout)"),
                )
            }
            Ok(Direction::FromClient(Ok(Some(data)))) => {
                upstream.write_body(&data).await?;
            }
            Ok(Direction::FromUpstream(Ok(Some(data)))) => {
                downstream.write_response_body(data, false).await?;
            }
            // Either side closed: pass on what is flushed and stop.
            Ok(Direction::FromClient(Ok(None))) | Ok(Direction::FromUpstream(Ok(None))) => {
                return Ok(())
            }
            Ok(Direction::FromClient(Err(e))) | Ok(Direction::FromUpstream(Err(e))) => {
                return Err(e)
            }
        }
    }
}

/// Which side a relay step read from.
enum Direction {
    FromClient(Result<Option<Bytes>>),
    FromUpstream(Result<Option<Bytes>>),
}
