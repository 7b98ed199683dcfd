//! A `limit_conn_zone`: requests in flight per key
//! (ngx_http_limit_conn_module). A key's count is taken when the request
//! passes the pre-access phase and given back when the request ends; a
//! key at zero is forgotten. A full zone refuses new keys, as nginx does
//! when its slab pool has no room.

use std::sync::Mutex;

use super::table::Table;
use crate::conf::LimitZone;

/// nginx's `ngx_http_limit_conn_node_t` with the rbtree node before it.
const NODE_HEADER: u64 = 36;

/// The zone's state, shared by every worker thread.
pub(crate) struct ConnZone {
    /// The declaration this state belongs to.
    pub def: LimitZone,
    counts: Mutex<Table<u32>>,
}

impl ConnZone {
    /// A new empty zone.
    pub(crate) fn new(def: LimitZone) -> Self {
        ConnZone {
            counts: Mutex::new(Table::new(def.size, NODE_HEADER)),
            def,
        }
    }

    /// Takes one of `max` places for `key`; `false` when they are all
    /// taken or the zone is full.
    pub(crate) fn acquire(&self, key: &[u8], max: u32) -> bool {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        match counts.get(key) {
            Some(n) if *n >= max => false,
            Some(n) => {
                *n += 1;
                true
            }
            None => counts.insert(key, 1),
        }
    }

    /// Gives back a place taken by [`ConnZone::acquire`].
    pub(crate) fn release(&self, key: &[u8]) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let Some(n) = counts.get(key) else {
            return;
        };
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }

    /// Requests in flight for `key`.
    #[cfg(test)]
    pub(crate) fn count(&self, key: &[u8]) -> u32 {
        let mut counts = self.counts.lock().unwrap();
        counts.get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::ZoneKind;

    #[test]
    fn counts_per_key_and_forgets_at_zero() {
        let z = ConnZone::new(LimitZone {
            name: "c".into(),
            size: 32 * 1024,
            key: "$binary_remote_addr".into(),
            kind: ZoneKind::Connections,
        });
        assert!(z.acquire(b"a", 2));
        assert!(z.acquire(b"a", 2));
        assert!(!z.acquire(b"a", 2));
        assert!(z.acquire(b"b", 2));
        z.release(b"a");
        assert!(z.acquire(b"a", 2));
        z.release(b"a");
        z.release(b"a");
        assert_eq!(z.count(b"a"), 0);
        // 32k holds 512 keys; the 513th is refused.
        for i in 0..511u32 {
            assert!(z.acquire(&i.to_be_bytes(), 1));
        }
        assert!(!z.acquire(b"one too many", 1));
    }
}
