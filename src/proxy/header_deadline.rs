//! `client_header_timeout`: a whole request head must arrive within a
//! deadline, however slowly its bytes trickle in.
//!
//! Pingora's downstream read timeout restarts on every read, so a slowloris
//! client sending one byte a second holds a connection forever. moat wraps
//! each accepted (already decrypted) stream: the clock starts at the first
//! byte of a request head and stops at its blank line (`\r\n\r\n`); when it
//! runs out, reads fail with `TimedOut` and Pingora drops the connection.
//! After a keep-alive response the wrapper is re-armed for the next head.
//! Bodies and upgraded (WebSocket) streams are not affected: the deadline
//! is off once the head is complete.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::SslDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::proxy_protocol::{conn_key, ConnKey, Gate};

/// nginx's `client_header_timeout` default.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(60);

/// A [`ServerApp`] that puts every connection under a header deadline,
/// and reads or claims its PROXY protocol header first (see
/// `proxy_protocol.rs`).
pub struct HeaderDeadlineApp<A> {
    inner: Arc<A>,
    limit: Duration,
    gate: Arc<Gate>,
}

impl<A> HeaderDeadlineApp<A> {
    /// Wrap `inner`; each request head gets `limit` to arrive.
    pub fn new(inner: A, limit: Duration, gate: Arc<Gate>) -> Self {
        Self {
            inner: Arc::new(inner),
            limit,
            gate,
        }
    }

    /// The PROXY protocol step of a new connection: `Err` closes it. Gives
    /// the key to forget when the connection ends.
    async fn proxy_protocol(&self, session: &mut Stream) -> Result<Option<ConnKey>, ()> {
        let Some(key) = conn_key(session.get_socket_digest().as_deref()) else {
            return Ok(None);
        };
        // TLS connections of a banned peer were closed before the
        // handshake; plain ones are closed here.
        if self.gate.closes(key.0) {
            return Err(());
        }
        let Some(role) = self.gate.role(key.1) else {
            return Ok(None);
        };
        if role.tls {
            // Read before the handshake by the pre-TLS callback.
            if self.gate.claim(&key) {
                return Ok(Some(key));
            }
            if self.gate.wanted(key.1) {
                // The flag appeared (a reload) between accept and here.
                tracing::info!(peer = %key.0, listener = %key.1, "closed a connection on a proxy_protocol listener: no header was read before TLS");
                return Err(());
            }
            return Ok(None);
        }
        if !self.gate.wanted(key.1) {
            return Ok(None);
        }
        match self.gate.read(session).await {
            Ok(addrs) => {
                self.gate.insert_claimed(key, addrs);
                Ok(Some(key))
            }
            Err(e) => {
                tracing::info!(peer = %key.0, listener = %key.1, error = %e, "closed a connection on a proxy_protocol listener");
                Err(())
            }
        }
    }
}

/// Forgets a connection's PROXY addresses when its task ends, however it ends.
struct Forget<'a>(&'a Gate, Option<ConnKey>);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.1 {
            self.0.remove(&key);
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for HeaderDeadlineApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        mut session: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // A stream Pingora hands back for reuse is already ours (and past
        // its PROXY header).
        let fresh = session.as_any().downcast_ref::<DeadlineStream>().is_none();
        let key = if fresh {
            self.proxy_protocol(&mut session).await.ok()?
        } else {
            conn_key(session.get_socket_digest().as_deref())
        };
        let mut forget = Forget(&self.gate, key);
        // The keep-alive loop runs inside the inner app: it re-arms the
        // wrapper before each head (`start_head`).
        let wrapped: Stream = Box::new(DeadlineStream::new(session, self.limit));
        let reuse = self.inner.process_new(wrapped, shutdown).await;
        if reuse.is_some() {
            // The connection goes on; the next `process_new` forgets it.
            forget.1 = None;
        }
        reuse
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// Start a new head on this connection: re-arm the deadline.
pub fn start_head(stream: &Stream) {
    if let Some(deadline) = stream.as_any().downcast_ref::<DeadlineStream>() {
        deadline.rearm.store(true, Ordering::Release);
    }
}

/// A stream whose reads fail once a request head has taken too long.
pub(crate) struct DeadlineStream {
    inner: Stream,
    limit: Duration,
    /// Looking for the end of a request head.
    armed: bool,
    /// Started at the head's first byte; kept (and reset) across heads.
    timer: Option<Pin<Box<Sleep>>>,
    /// `timer` runs for the current head.
    timing: bool,
    /// Last bytes seen, to find `\r\n\r\n` across reads.
    tail: [u8; 3],
    /// Set between requests: the next read starts a new head.
    rearm: AtomicBool,
}

impl fmt::Debug for DeadlineStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadlineStream")
            .field("inner", &self.inner)
            .field("armed", &self.armed)
            .finish()
    }
}

impl DeadlineStream {
    fn new(inner: Stream, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            armed: true,
            timer: None,
            timing: false,
            tail: [0; 3],
            rearm: AtomicBool::new(false),
        }
    }

    /// Note bytes just read; disarm at the end of the head. Runs on every
    /// read of every request, so it allocates nothing: the timer is kept
    /// between heads and only reset.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if !self.timing {
            let deadline = Instant::now() + self.limit;
            match self.timer.as_mut() {
                Some(timer) => timer.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.timing = true;
        }
        if ends_head(&self.tail, bytes) {
            self.armed = false;
            self.timing = false;
        }
        push_tail(&mut self.tail, bytes);
    }
}

/// Keep the last three bytes of `tail` followed by `bytes`, for a
/// `\r\n\r\n` split across reads.
fn push_tail(tail: &mut [u8; 3], bytes: &[u8]) {
    let keep = bytes.len().min(3);
    tail.copy_within(keep.., 0);
    tail[3 - keep..].copy_from_slice(&bytes[bytes.len() - keep..]);
}

/// Whether `\r\n\r\n` occurs in `tail` followed by `bytes`.
fn ends_head(tail: &[u8; 3], bytes: &[u8]) -> bool {
    let mut seam = [0u8; 6];
    seam[..3].copy_from_slice(tail);
    let n = bytes.len().min(3);
    seam[3..3 + n].copy_from_slice(&bytes[..n]);
    seam[..3 + n].windows(4).any(|w| w == b"\r\n\r\n") || bytes.windows(4).any(|w| w == b"\r\n\r\n")
}

impl AsyncRead for DeadlineStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.rearm.swap(false, Ordering::AcqRel) {
            this.armed = true;
            this.timing = false;
            this.tail = [0; 3];
        }
        if this.timing {
            if let Some(timer) = this.timer.as_mut() {
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "request header not received within client_header_timeout",
                    )));
                }
            }
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.armed {
            if let Poll::Ready(Ok(())) = &result {
                let read = &buf.filled()[before..];
                this.saw(read);
            }
        }
        result
    }
}

impl AsyncWrite for DeadlineStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for DeadlineStream {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for DeadlineStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for DeadlineStream {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }
    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }
    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for DeadlineStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }
    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for DeadlineStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for DeadlineStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }
    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for DeadlineStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::{ends_head, push_tail};

    /// The blank line is found wherever the reads split it.
    #[test]
    fn head_end_is_found_across_every_split() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for cut in 0..=head.len() {
            let (first, second) = head.split_at(cut);
            let mut tail = [0u8; 3];
            let mut found = ends_head(&tail, first);
            push_tail(&mut tail, first);
            found |= ends_head(&tail, second);
            assert!(found, "split at {cut}");
        }
    }

    /// One byte at a time, as a slowloris client sends it.
    #[test]
    fn head_end_is_found_byte_by_byte_and_not_before() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut tail = [0u8; 3];
        for (i, byte) in head.iter().enumerate() {
            let found = ends_head(&tail, std::slice::from_ref(byte));
            assert_eq!(found, i == head.len() - 1, "byte {i}");
            push_tail(&mut tail, std::slice::from_ref(byte));
        }
        assert!(!ends_head(&[0; 3], b"\r\n\r"));
        assert!(!ends_head(b"\n\r\n", b"x\r\n"));
    }
}
