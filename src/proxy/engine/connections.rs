//! Each accepted connection, after its PROXY header and under its header
//! deadline (`header_deadline.rs`): HTTP/1 to moat's own keep-alive loop
//! (`h1.rs`), HTTP/2 to pingora-core's HTTP/2 accept loop, whose streams
//! run moat's request path ([`H2Streams`]).

use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, ReusedHttpStream, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;

use super::pool::Pool;
use super::request::Served;
use super::MoatProxy;

/// nginx's `keepalive_timeout` default, as Pingora's HTTP/1 loop uses it.
pub(super) const KEEPALIVE_SECS: u64 = 60;

/// The application Pingora's listeners run.
pub struct Connections {
    pub(super) moat: Arc<MoatProxy>,
    /// Idle upstream connections of moat's request path.
    pub(super) pool: Arc<Pool>,
    /// The streams of HTTP/2 connections.
    h2: Arc<H2Streams>,
}

impl Connections {
    /// Serve with `moat`'s policy and routes.
    pub fn new(moat: MoatProxy) -> Self {
        let moat = Arc::new(moat);
        let pool: Arc<Pool> = Arc::default();
        let h2 = Arc::new(H2Streams {
            moat: moat.clone(),
            pool: pool.clone(),
        });
        Self { moat, pool, h2 }
    }
}

/// Keep-alive for a new request: none once a graceful stop has begun.
pub(super) fn keepalive(shutdown: &ShutdownWatch) -> Option<u64> {
    (!*shutdown.borrow()).then_some(KEEPALIVE_SECS)
}

#[async_trait]
impl ServerApp for Connections {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            return self.h2.process_new(stream, shutdown).await;
        }
        self.serve_h1(stream, shutdown).await;
        None
    }
}

/// HTTP/2 connections, as pingora-core's HTTP/2 server runs them: its
/// accept loop (handshake, one task per stream, the GOAWAY drain of a
/// graceful stop, the budget of malformed streams) is reachable only
/// through an `HttpServerApp`, so this small one takes each stream. A
/// stream runs moat's request path, like an HTTP/1 request of the loop.
pub(super) struct H2Streams {
    moat: Arc<MoatProxy>,
    pool: Arc<Pool>,
}

#[async_trait]
impl HttpServerApp for H2Streams {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        match self.moat.serve_request(&mut session, &self.pool).await {
            Served::Done => {
                if let Err(e) = session.finish().await {
                    tracing::debug!(error = %e, "client gone at the end of an HTTP/2 answer");
                }
            }
            // Resets the stream only if its answer did not end.
            Served::Close => session.shutdown().await,
        }
        None
    }
}
