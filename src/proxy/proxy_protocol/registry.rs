//! The PROXY protocol addresses of live connections, by TCP 4-tuple.
//!
//! On a TLS listener the header is read before the handshake, by a
//! callback that sees only the raw TCP stream; the request phases see the
//! decrypted session. The 4-tuple (peer and local address) names one live
//! connection, so the callback files the addresses under it and the
//! connection's task claims them after the handshake and removes them when
//! the connection ends. An entry whose handshake never completed (never
//! claimed) is dropped once it is older than any handshake may take.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::conf::ProxyProtocolAddrs;

/// A connection: (peer, local).
pub type ConnKey = (SocketAddr, SocketAddr);

/// Pingora's downstream handshake timeout (60 s) plus the header's own
/// allowance: an unclaimed entry older than this belongs to no connection.
const STALE_AFTER: Duration = Duration::from_secs(180);

/// Sweep unclaimed entries every this many inserts.
const SWEEP_EVERY: u64 = 256;

struct Entry {
    addrs: Option<ProxyProtocolAddrs>,
    since: Instant,
    claimed: bool,
}

/// Live connections' PROXY protocol addresses.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<ConnKey, Entry>,
    inserts: u64,
}

impl Registry {
    /// File a header read before the TLS handshake, to be claimed after it.
    pub fn insert_pending(&self, key: ConnKey, addrs: Option<ProxyProtocolAddrs>) {
        self.insert(key, addrs, false);
    }

    /// File a header read by the connection's own task.
    pub fn insert_claimed(&self, key: ConnKey, addrs: Option<ProxyProtocolAddrs>) {
        self.insert(key, addrs, true);
    }

    fn insert(&self, key: ConnKey, addrs: Option<ProxyProtocolAddrs>, claimed: bool) {
        let mut inner = self.inner.lock();
        inner.inserts += 1;
        if inner.inserts.is_multiple_of(SWEEP_EVERY) {
            inner
                .map
                .retain(|_, e| e.claimed || e.since.elapsed() < STALE_AFTER);
        }
        inner.map.insert(
            key,
            Entry {
                addrs,
                since: Instant::now(),
                claimed,
            },
        );
    }

    /// Mark the connection's entry as owned by its task; `false` when there
    /// is none (no header was read for it).
    pub fn claim(&self, key: &ConnKey) -> bool {
        match self.inner.lock().map.get_mut(key) {
            Some(e) => {
                e.claimed = true;
                true
            }
            None => false,
        }
    }

    /// The addresses announced on this connection.
    pub fn get(&self, key: &ConnKey) -> Option<ProxyProtocolAddrs> {
        self.inner.lock().map.get(key).and_then(|e| e.addrs)
    }

    /// Forget a connection that ended.
    pub fn remove(&self, key: &ConnKey) {
        self.inner.lock().map.remove(key);
    }

    /// Entries held (tests: nothing leaks).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimed_entries_live_until_removed() {
        let r = Registry::default();
        let key: ConnKey = (
            "127.0.0.1:5000".parse().unwrap(),
            "127.0.0.1:443".parse().unwrap(),
        );
        let addrs = ProxyProtocolAddrs {
            source: "198.51.100.1:1".parse().unwrap(),
            destination: "10.0.0.1:443".parse().unwrap(),
        };
        assert!(!r.claim(&key));
        r.insert_pending(key, Some(addrs));
        assert!(r.claim(&key));
        assert_eq!(r.get(&key), Some(addrs));
        r.remove(&key);
        assert_eq!(r.get(&key), None);
        assert_eq!(r.len(), 0);
    }
}
