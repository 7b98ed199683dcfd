//! Each accepted connection, after its PROXY header and under its header
//! deadline (`header_deadline.rs`): HTTP/1 to moat's own keep-alive loop
//! (`h1.rs`), HTTP/2 to pingora-core's HTTP/2 accept loop, whose streams
//! run moat's request path ([`H2Streams`]). Both hand pingora-proxy what
//! that path does not serve itself.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::BytesMut;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream, ServerApp};
use pingora::protocols::http::v2::server::H2Options;
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::HttpProxy;
use pingora::server::configuration::ServerConf;
use pingora::server::ShutdownWatch;

use super::pool::Pool;
use super::request::Served;
use super::{MoatProxy, Phases};

/// nginx's `keepalive_timeout` default, as Pingora's HTTP/1 loop uses it.
pub(super) const KEEPALIVE_SECS: u64 = 60;

/// The application Pingora's listeners run.
pub struct Connections {
    pub(super) moat: Arc<MoatProxy>,
    /// pingora-proxy over the same [`MoatProxy`], for the requests moat's
    /// path hands over.
    pub(super) http: Arc<HttpProxy<Phases>>,
    /// Idle upstream connections of moat's request path.
    pub(super) pool: Arc<Pool>,
    /// The streams of HTTP/2 connections.
    h2: Arc<H2Streams>,
}

impl Connections {
    /// Serve with `moat`'s policy and routes.
    pub fn new(moat: MoatProxy, conf: &Arc<ServerConf>) -> Self {
        let moat = Arc::new(moat);
        let http = Arc::new(pingora::proxy::http_proxy(conf, Phases(moat.clone())));
        let pool: Arc<Pool> = Arc::default();
        let h2 = Arc::new(H2Streams {
            moat: moat.clone(),
            http: http.clone(),
            pool: pool.clone(),
        });
        Self {
            moat,
            http,
            pool,
            h2,
        }
    }

    /// Give the rest of this HTTP/1 connection to pingora-proxy, starting
    /// with `replay`: the bytes moat's loop read of the current request.
    /// Pingora's own keep-alive loop then runs to the connection's end.
    pub(super) async fn hand_over(
        &self,
        stream: Stream,
        replay: BytesMut,
        shutdown: &ShutdownWatch,
    ) {
        let mut session = ServerSession::new_http1(stream);
        session.set_keepalive(keepalive(shutdown));
        if !replay.is_empty() {
            session.set_pipelined_prefix(replay);
        }
        let mut reused = self.http.process_new_http(session, shutdown).await;
        while let Some((stream, settings)) = reused.map(|r| r.consume()) {
            let mut session = ServerSession::new_http1(stream);
            if let Some(settings) = settings {
                settings.apply_to_session(&mut session);
            }
            reused = self.http.process_new_http(session, shutdown).await;
        }
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

    async fn cleanup(&self) {
        ServerApp::cleanup(&*self.http).await;
    }
}

/// HTTP/2 connections, as pingora-core's HTTP/2 server runs them: its
/// accept loop (handshake, one task per stream, the GOAWAY drain of a
/// graceful stop, the budget of malformed streams) is reachable only
/// through an `HttpServerApp`, so this small one takes each stream. A
/// stream runs moat's request path, like an HTTP/1 request of the loop;
/// what that path hands over (a body, gRPC, a head nginx refuses) goes to
/// pingora-proxy on the same stream. Nothing has been read of the stream's
/// body or answered then, and the head checks it ran are idempotent, so
/// pingora-proxy sees the request as it came.
pub(super) struct H2Streams {
    moat: Arc<MoatProxy>,
    http: Arc<HttpProxy<Phases>>,
    pool: Arc<Pool>,
}

#[async_trait]
impl HttpServerApp for H2Streams {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        match self.moat.serve_request(&mut session, &self.pool).await {
            Served::Done => {
                if let Err(e) = session.finish().await {
                    tracing::debug!(error = %e, "client gone at the end of an HTTP/2 answer");
                }
            }
            // Resets the stream only if its answer did not end.
            Served::Close => session.shutdown().await,
            Served::HandOver => return self.http.process_new_http(session, shutdown).await,
        }
        None
    }

    fn h2_options(&self) -> Option<H2Options> {
        self.http.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.http.server_options()
    }
}
