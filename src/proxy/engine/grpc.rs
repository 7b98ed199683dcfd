//! gRPC (`grpc_pass`) on moat's own loop.
//!
//! Each call is one stream of an HTTP/2 connection to the upstream, from
//! pingora-core's HTTP/2 connector, whose pools multiplex calls over the
//! connections they hold. The call is relayed both ways at once: the
//! client's messages go up while the answer's come back, as streaming
//! calls need, then the upstream's trailers (`grpc-status`) go to the
//! client. The request body counts against `client_max_body_size` as it
//! comes; a call over it is refused (413) or, once its answer has begun,
//! reset. An upstream that does not speak HTTP/2 fails the call (502), as
//! nginx's gRPC module fails it.

use std::time::Instant;

use bytes::Bytes;
use pingora::protocols::http::client::HttpSession as ClientSession;
use pingora::protocols::http::v2::client::Http2Session;
use pingora::protocols::http::ServerSession;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::{MoatProxy, RequestCtx};
use crate::conf::{Decision, ProxyTarget};
use crate::proxy::body_buffer::BodyLimit;
use crate::proxy::headers;
use crate::proxy::upstream::peer;

/// The client's side of a call's request body.
struct Upload {
    /// `client_max_body_size`.
    limit: BodyLimit,
    done: bool,
}

impl Upload {
    /// Relay `piece` (the client's next read) to the upstream; `None` ends
    /// the body.
    async fn relay(&mut self, piece: Result<Option<Bytes>>, up: &mut Http2Session) -> Result<()> {
        match piece.map_err(|e| e.into_down())? {
            Some(piece) => {
                self.limit.count(piece.len())?;
                up.write_request_body(piece, false)
                    .await
                    .map_err(|e| e.into_up())
            }
            None => {
                self.done = true;
                up.finish_request_body().map_err(|e| e.into_up())
            }
        }
    }
}

impl MoatProxy {
    /// Forward a gRPC call and relay its answer and trailers.
    pub(super) async fn forward_grpc(
        &self,
        down: &mut ServerSession,
        target: &ProxyTarget,
        decision: &Decision,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let addr = self.resolve(target).await?;
        ctx.upstream_addr = Some(addr);
        let peer = peer(addr, target, true);
        let mut head = headers::upstream_head(down.req_header(), target, false, true, true)?;
        // HTTP/2 frames the body by its stream (an HTTP/1 client's was chunked).
        head.remove_header(&http::header::TRANSFER_ENCODING);
        let started = Instant::now();
        let mut up = self.grpc_stream(&peer).await?;
        up.read_timeout = peer.options.read_timeout;
        up.write_timeout = peer.options.write_timeout;
        let mut upload = Upload {
            limit: BodyLimit::new(decision.max_body_size),
            done: down.is_body_empty(),
        };
        up.write_request_header(Box::new(head), upload.done)
            .map_err(|e| e.into_up())?;
        // Until the answer's head: the client's messages go up, what has
        // come of them first (so a body over the limit is refused with a
        // status while none has been written).
        loop {
            tokio::select! {
                biased;
                piece = down.read_request_body(), if !upload.done => {
                    upload.relay(piece, &mut up).await?;
                }
                read = up.read_response_header() => {
                    read.map_err(|e| e.into_up())?;
                    break;
                }
            }
        }
        ctx.upstream_elapsed = Some(started.elapsed());
        let Some(received) = up.response_header() else {
            return Err(Error::explain(ErrorType::InternalError, "no upstream response").into_up());
        };
        let mut resp = Box::new(received.clone());
        headers::upstream_response(&mut resp, target);
        if let Some(code) = decision.status_override {
            resp.set_status(code)?;
        }
        headers::add_response_headers(&mut resp, &decision.response_headers);
        down.write_response_header(resp)
            .await
            .map_err(|e| e.into_down())?;
        // Both ways until the answer ends; a client still sending then is
        // not read further (the call is over).
        loop {
            tokio::select! {
                piece = up.read_response_body() => match piece.map_err(|e| e.into_up())? {
                    Some(piece) => down
                        .write_response_body(piece, false)
                        .await
                        .map_err(|e| e.into_down())?,
                    None => break,
                },
                piece = down.read_request_body(), if !upload.done => {
                    upload.relay(piece, &mut up).await?;
                }
            }
        }
        if let Some(trailers) = up.read_trailers().await.map_err(|e| e.into_up())? {
            down.write_response_trailers(trailers)
                .await
                .map_err(|e| e.into_down())?;
        }
        self.grpc
            .release_http_session(up, &peer, peer.options.idle_timeout);
        Ok(())
    }

    /// A new stream to `peer`: on a pooled HTTP/2 connection with room,
    /// else on a new connection.
    async fn grpc_stream(&self, peer: &HttpPeer) -> Result<Http2Session> {
        if let Some(stream) = self.grpc.reused_http_session(peer).await? {
            return Ok(stream);
        }
        match self.grpc.new_http_session::<_, ()>(peer).await? {
            ClientSession::H2(stream) => Ok(stream),
            _ => Err(Error::explain(
                ErrorType::ConnectError,
                "the gRPC upstream does not speak HTTP/2",
            )
            .into_up()),
        }
    }
}
