//! Each accepted connection, after its PROXY header and under its header
//! deadline (`header_deadline.rs`): HTTP/2 goes to pingora-proxy, HTTP/1
//! to moat's own keep-alive loop (`h1.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::BytesMut;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::HttpProxy;
use pingora::server::configuration::ServerConf;
use pingora::server::ShutdownWatch;

use super::pool::Pool;
use super::{MoatProxy, Phases};

/// nginx's `keepalive_timeout` default, as Pingora's HTTP/1 loop uses it.
pub(super) const KEEPALIVE_SECS: u64 = 60;

/// The application Pingora's listeners run.
pub struct Connections {
    pub(super) moat: Arc<MoatProxy>,
    /// pingora-proxy over the same [`MoatProxy`], for HTTP/2 and the
    /// requests the HTTP/1 loop hands over.
    pub(super) http: Arc<HttpProxy<Phases>>,
    /// Idle upstream connections of the HTTP/1 loop.
    pub(super) pool: Arc<Pool>,
}

impl Connections {
    /// Serve with `moat`'s policy and routes.
    pub fn new(moat: MoatProxy, conf: &Arc<ServerConf>) -> Self {
        let moat = Arc::new(moat);
        let http = Arc::new(pingora::proxy::http_proxy(conf, Phases(moat.clone())));
        Self {
            moat,
            http,
            pool: Arc::default(),
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
            return self.http.process_new(stream, shutdown).await;
        }
        self.serve_h1(stream, shutdown).await;
        None
    }

    async fn cleanup(&self) {
        ServerApp::cleanup(&*self.http).await;
    }
}
