//! Idle upstream connections of moat's own HTTP/1 loop.
//!
//! Per upstream (Pingora's peer reuse hash: address, TLS, SNI, verification),
//! the most recently released connection is reused first, at most
//! [`PER_PEER`] are kept, and one sweep task (started with the first
//! release) closes those idle longer than the peer's idle timeout. Nothing
//! is spawned per release and nothing is asked of the socket on reuse
//! (Pingora's pool starts an idle-watch task per release and asks
//! `getpeername` per reuse); a connection the upstream closed while it sat
//! here fails on first use, and the loop then retries once on a new one.

use std::collections::VecDeque;

use crate::conf::fx_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use pingora::connectors::TransportConnector;
use pingora::protocols::http::v1::client::HttpSession as UpstreamSession;
use pingora::protocols::Stream;
use pingora::upstreams::peer::{HttpPeer, Peer};
use pingora::Result;

/// Idle connections kept per upstream.
pub const PER_PEER: usize = 64;

/// How often the sweep looks for connections past their idle timeout.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Idle time allowed when the peer names none.
const DEFAULT_IDLE: Duration = Duration::from_secs(60);

struct Idle {
    stream: Stream,
    /// When it may no longer be reused.
    expires: Instant,
}

/// The idle upstream connections, shared by every worker thread.
#[derive(Default)]
pub struct Pool {
    idle: parking_lot::Mutex<FxHashMap<u64, VecDeque<Idle>>>,
    sweeping: AtomicBool,
}

impl Pool {
    /// A connection to `peer`: the newest idle one, or a new one. The flag
    /// says it was reused (and so may be stale).
    pub async fn stream(
        &self,
        connector: &TransportConnector,
        peer: &HttpPeer,
    ) -> Result<(Stream, bool)> {
        match self.take(peer.reuse_hash()) {
            Some(stream) => Ok((stream, true)),
            None => Ok((connector.new_stream(peer).await?, false)),
        }
    }

    fn take(&self, key: u64) -> Option<Stream> {
        let now = Instant::now();
        let mut expired = Vec::new();
        let found = {
            let mut idle = self.idle.lock();
            let queue = idle.get_mut(&key)?;
            let mut found = None;
            while let Some(entry) = queue.pop_back() {
                if entry.expires > now {
                    found = Some(entry.stream);
                    break;
                }
                // The newest has expired: so have all older ones.
                expired.push(entry.stream);
                expired.extend(queue.drain(..).map(|e| e.stream));
            }
            found
        };
        drop(expired);
        found
    }

    /// Keep a finished session's connection for the next request to
    /// `peer`, when the session allows it.
    pub async fn release(self: &Arc<Self>, mut session: UpstreamSession, peer: &HttpPeer) {
        session.respect_keepalive();
        let Some(stream) = session.reuse().await else {
            return;
        };
        let idle_for = peer.options.idle_timeout.unwrap_or(DEFAULT_IDLE);
        let dropped = {
            let mut idle = self.idle.lock();
            let queue = idle.entry(peer.reuse_hash()).or_default();
            let dropped = (queue.len() >= PER_PEER).then(|| queue.pop_front());
            queue.push_back(Idle {
                stream,
                expires: Instant::now() + idle_for,
            });
            dropped
        };
        drop(dropped);
        if !self.sweeping.swap(true, Ordering::AcqRel) {
            tokio::spawn(sweep(Arc::downgrade(self)));
        }
    }

    /// Close what has been idle too long; forget upstreams with nothing idle.
    fn sweep(&self) {
        let now = Instant::now();
        let mut expired = Vec::new();
        {
            let mut idle = self.idle.lock();
            idle.retain(|_, queue| {
                while queue.front().is_some_and(|e| e.expires <= now) {
                    expired.extend(queue.pop_front().map(|e| e.stream));
                }
                !queue.is_empty()
            });
        }
        drop(expired);
    }

    /// Idle connections held now, for tests.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.lock().values().map(VecDeque::len).sum()
    }
}

/// An HTTP/1 client session on `stream` with `peer`'s options and timeouts.
pub fn session(stream: Stream, peer: &HttpPeer) -> UpstreamSession {
    let mut session = UpstreamSession::new_with_options(stream, peer);
    session.read_timeout = peer.options.read_timeout;
    session.write_timeout = peer.options.write_timeout;
    session
}

/// The one timer of the pool; ends with it.
async fn sweep(pool: Weak<Pool>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        pool.sweep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn connected() -> (Stream, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let stream: Stream = Box::new(pingora::protocols::l4::stream::Stream::from(client));
        (stream, server)
    }

    fn put(pool: &Pool, key: u64, stream: Stream, expires: Instant) {
        pool.idle
            .lock()
            .entry(key)
            .or_default()
            .push_back(Idle { stream, expires });
    }

    /// The newest connection is reused first; an expired newest one means
    /// all are expired and every one is closed.
    #[tokio::test]
    async fn newest_first_and_expired_ones_closed() {
        let pool = Pool::default();
        let later = Instant::now() + Duration::from_secs(60);
        let (a, _a) = connected().await;
        let (b, _b) = connected().await;
        let a_id = pingora::protocols::UniqueID::id(&*a);
        let b_id = pingora::protocols::UniqueID::id(&*b);
        put(&pool, 1, a, later);
        put(&pool, 1, b, later);
        let first = pool.take(1).unwrap();
        assert_eq!(pingora::protocols::UniqueID::id(&*first), b_id);
        let second = pool.take(1).unwrap();
        assert_eq!(pingora::protocols::UniqueID::id(&*second), a_id);
        assert!(pool.take(1).is_none());
        assert!(pool.take(2).is_none());

        let past = Instant::now() - Duration::from_secs(1);
        put(&pool, 1, first, past);
        put(&pool, 1, second, past);
        assert!(pool.take(1).is_none());
        assert_eq!(pool.idle_count(), 0);
    }

    /// The sweep closes only what is past its time, and the upstream sees
    /// the close.
    #[tokio::test]
    async fn sweep_closes_expired_connections() {
        use tokio::io::AsyncReadExt;
        let pool = Pool::default();
        let (old, mut old_peer) = connected().await;
        let (new, _new_peer) = connected().await;
        put(&pool, 7, old, Instant::now() - Duration::from_millis(1));
        put(&pool, 7, new, Instant::now() + Duration::from_secs(60));
        pool.sweep();
        assert_eq!(pool.idle_count(), 1);
        let mut buf = [0u8; 1];
        assert_eq!(old_peer.read(&mut buf).await.unwrap(), 0, "closed");
    }
}
