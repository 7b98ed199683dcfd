//! moat's own HTTP/1 loop: one task per connection reads each request
//! head with pingora-core's session and runs the request path
//! (`request.rs`) on it, then reads the next on the same connection.

use bytes::BytesMut;
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use pingora::ErrorType;

use super::connections::{keepalive, Connections};
use super::request::Served;
use crate::proxy::header_deadline;

impl Connections {
    /// The keep-alive loop of one HTTP/1 connection.
    pub(super) async fn serve_h1(&self, mut stream: Stream, shutdown: &ShutdownWatch) {
        let mut stopping = shutdown.clone();
        let mut prefix: Option<BytesMut> = None;
        loop {
            header_deadline::start_head(&stream);
            let mut down = ServerSession::new_http1(stream);
            down.set_keepalive(keepalive(shutdown));
            // Pipelined requests are answered in order, one after the other.
            down.set_pipelining_enabled(true);
            if let Some(prefix) = prefix.take() {
                down.set_pipelined_prefix(prefix);
            }
            let read = tokio::select! {
                biased;
                read = down.read_request() => read,
                // A graceful stop closes connections waiting for a request.
                _ = stopping.changed() => return,
            };
            match read {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    // As Pingora's proxy: a malformed head gets a 400, a
                    // broken or timed-out connection nothing.
                    if matches!(e.etype(), ErrorType::InvalidHTTPHeader) {
                        let _ = down.respond_error(400).await;
                    }
                    return;
                }
            }
            match self.moat.serve_request(&mut down, &self.pool).await {
                Served::Done => match down.finish().await {
                    Ok(Some(reusable)) => (stream, prefix) = reusable.into_parts(),
                    _ => return,
                },
                Served::Close => {
                    down.shutdown().await;
                    return;
                }
            }
        }
    }
}
