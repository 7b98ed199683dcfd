//! A downstream session that replays a body moat has already read whole.
//!
//! Pingora forwards a request body by reading it from the downstream
//! session while the upstream request is under way; once moat has read the
//! body itself, only Pingora's 64 KiB retry buffer can give it back, and a
//! larger body would reach the upstream as a head with nothing after it.
//! Pingora's custom-session hook lets moat put this wrapper in the client
//! session's place: the body comes from moat's copy (memory, or the temp
//! file), everything else (the response, timeouts, TLS digest, addresses)
//! goes to the client's own session unchanged.

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use http::HeaderMap;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::custom::server::Session as CustomSession;
use pingora::protocols::http::custom::CustomMessageWrite;
use pingora::protocols::http::subrequest::server::HttpSession as Subrequest;
use pingora::protocols::http::{HttpTask, ServerSession};
use pingora::protocols::l4::socket::SocketAddr;
use pingora::protocols::Digest;
use pingora::proxy::Session;
use pingora::Result;
use std::time::Duration;

use super::spill::SpilledBody;

/// A body read whole, to be forwarded.
pub enum Held {
    /// In memory: replayed in one piece, and again if Pingora retries the
    /// upstream (as its own retry buffer would be).
    Memory(Bytes),
    /// In a temp file: read back in pieces, once (a retry is refused).
    File(SpilledBody),
}

/// Puts the replaying session in the client session's place.
pub fn install(session: &mut Session, held: Held) {
    // A stand-in for the moment of the swap (Pingora's own cheap
    // subrequest session, dropped at once).
    let (stand_in, _) = Subrequest::new_from_session(&session.downstream_session);
    let mut client = std::mem::replace(
        &mut session.downstream_session,
        Box::new(ServerSession::new_subrequest(stand_in)),
    );
    // Pingora gets no stream back from a custom session to keep alive: the
    // client is told the connection closes after this response.
    client.set_keepalive(None);
    *session.downstream_session = ServerSession::new_custom(Box::new(Replay {
        client,
        held,
        closed: false,
    }));
}

struct Replay {
    /// The client's session, kept to the end: Pingora reads it (the
    /// access log's addresses, the response written) after `finish`.
    client: Box<ServerSession>,
    held: Held,
    /// Whether the response is finished and the connection closed.
    closed: bool,
}

impl Replay {
    /// Closes the client's connection once, whichever of Pingora's calls
    /// comes first.
    async fn close(&mut self) {
        if !std::mem::replace(&mut self.closed, true) {
            self.client.shutdown().await;
        }
    }

    fn body_done(&self) -> bool {
        match &self.held {
            Held::Memory(_) => true,
            Held::File(file) => file.is_done(),
        }
    }
}

type MessageReader = Box<dyn Stream<Item = Result<Bytes>> + Unpin + Send + Sync + 'static>;

#[async_trait]
impl CustomSession for Replay {
    fn req_header(&self) -> &RequestHeader {
        self.client.req_header()
    }

    fn req_header_mut(&mut self) -> &mut RequestHeader {
        self.client.req_header_mut()
    }

    async fn read_body_bytes(&mut self) -> Result<Option<Bytes>> {
        match &mut self.held {
            // Handed over whole through `get_retry_buffer`.
            Held::Memory(_) => Ok(None),
            Held::File(file) => file.next_piece().await,
        }
    }

    async fn drain_request_body(&mut self) -> Result<()> {
        while self.read_body_bytes().await?.is_some() {}
        Ok(())
    }

    async fn write_response_header(&mut self, resp: Box<ResponseHeader>, end: bool) -> Result<()> {
        let client = &mut self.client;
        client.write_response_header(resp).await?;
        if end {
            client.write_response_body(Bytes::new(), true).await?;
        }
        Ok(())
    }

    async fn write_response_header_ref(&mut self, resp: &ResponseHeader, end: bool) -> Result<()> {
        let client = &mut self.client;
        client.write_response_header_ref(resp).await?;
        if end {
            client.write_response_body(Bytes::new(), true).await?;
        }
        Ok(())
    }

    async fn write_body(&mut self, data: Bytes, end: bool) -> Result<()> {
        self.client.write_response_body(data, end).await
    }

    async fn write_trailers(&mut self, trailers: HeaderMap) -> Result<()> {
        self.client.write_response_trailers(trailers).await
    }

    async fn response_duplex_vec(&mut self, tasks: Vec<HttpTask>) -> Result<bool> {
        self.client.response_duplex_vec(tasks).await
    }

    fn proxy_tasks_enabled(&self) -> bool {
        self.client.supports_proxy_task_api()
    }

    fn set_proxy_tasks_enabled(&mut self, enabled: bool) {
        self.client.set_proxy_tasks_enabled(enabled);
    }

    fn send_proxy_task(&mut self, task: HttpTask) {
        self.client.send_downstream_proxy_task(task);
    }

    fn has_pending_proxy_tasks(&self) -> bool {
        self.client.has_pending_downstream_proxy_tasks()
    }

    async fn write_proxy_tasks(&mut self) -> Result<bool> {
        self.client.write_downstream_proxy_tasks().await
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.client.set_read_timeout(timeout);
    }

    fn get_read_timeout(&self) -> Option<Duration> {
        self.client.get_read_timeout()
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.client.set_write_timeout(timeout);
    }

    fn get_write_timeout(&self) -> Option<Duration> {
        self.client.get_write_timeout()
    }

    fn set_total_drain_timeout(&mut self, timeout: Option<Duration>) {
        self.client.set_total_drain_timeout(timeout);
    }

    fn get_total_drain_timeout(&self) -> Option<Duration> {
        self.client.get_total_drain_timeout()
    }

    fn request_summary(&self) -> String {
        self.client.request_summary()
    }

    fn response_written(&self) -> Option<&ResponseHeader> {
        self.client.response_written()
    }

    async fn shutdown(&mut self, _code: u32, _ctx: &str) {
        self.close().await;
    }

    fn is_body_done(&mut self) -> bool {
        self.body_done()
    }

    /// Pingora calls this twice for one response: as the session's
    /// `finish_body` once the last byte is written (the logging phase then
    /// reads the session), and as its `finish`. Keep-alive is off, so the
    /// first call ends the response and closes the connection (a TLS
    /// close_notify) and the second has nothing left to do.
    async fn finish(&mut self) -> Result<()> {
        if !self.closed {
            self.client.finish_body().await?;
            self.close().await;
        }
        Ok(())
    }

    fn is_body_empty(&mut self) -> bool {
        false
    }

    async fn read_body_or_idle(&mut self, no_body_expected: bool) -> Result<Option<Bytes>> {
        if no_body_expected || self.body_done() {
            // The client's own body is read to its end: this waits, as
            // Pingora does, for the client to go away.
            self.client.read_body_or_idle(true).await
        } else {
            self.read_body_bytes().await
        }
    }

    fn body_bytes_sent(&self) -> usize {
        self.client.body_bytes_sent()
    }

    fn body_bytes_read(&self) -> usize {
        self.client.body_bytes_read()
    }

    fn digest(&self) -> Option<&Digest> {
        self.client.digest()
    }

    fn digest_mut(&mut self) -> Option<&mut Digest> {
        self.client.digest_mut()
    }

    fn client_addr(&self) -> Option<&SocketAddr> {
        self.client.client_addr()
    }

    fn server_addr(&self) -> Option<&SocketAddr> {
        self.client.server_addr()
    }

    fn pseudo_raw_h1_request_header(&self) -> Bytes {
        self.client.to_h1_raw()
    }

    fn enable_retry_buffering(&mut self) {}

    fn retry_buffer_truncated(&self) -> bool {
        matches!(self.held, Held::File(_))
    }

    fn get_retry_buffer(&self) -> Option<Bytes> {
        match &self.held {
            Held::Memory(body) => Some(body.clone()),
            Held::File(_) => None,
        }
    }

    async fn finish_custom(&mut self) -> Result<()> {
        Ok(())
    }

    fn take_custom_message_reader(&mut self) -> Option<MessageReader> {
        None
    }

    fn restore_custom_message_reader(&mut self, _reader: MessageReader) -> Result<()> {
        Ok(())
    }

    fn take_custom_message_writer(&mut self) -> Option<Box<dyn CustomMessageWrite>> {
        None
    }

    fn restore_custom_message_writer(
        &mut self,
        _writer: Box<dyn CustomMessageWrite>,
    ) -> Result<()> {
        Ok(())
    }

    fn is_upgrade_req(&self) -> bool {
        self.client.is_upgrade_req()
    }

    fn was_upgraded(&self) -> bool {
        self.client.was_upgraded()
    }
}
