//! A keyed table bounded by a byte budget, in least-recently-used order:
//! the part of nginx's shared-memory zone (slab pool + rbtree + LRU queue)
//! that limits need.

use std::collections::{BTreeMap, HashMap};

/// What one entry costs against the zone's size: nginx's node header plus
/// the key, rounded up to the slab allocator's power of two (64 bytes at
/// least). With the 48-byte header used for `limit_req`, a
/// `$binary_remote_addr` state is 64 bytes: 16k states per megabyte, as
/// nginx documents.
pub(crate) fn entry_cost(header: u64, key_len: usize) -> u64 {
    (header + key_len as u64).next_power_of_two().max(64)
}

struct Slot<V> {
    value: V,
    /// Position in the LRU order (higher is more recent).
    tick: u64,
    cost: u64,
}

/// The table.
pub(crate) struct Table<V> {
    map: HashMap<Box<[u8]>, Slot<V>>,
    order: BTreeMap<u64, Box<[u8]>>,
    tick: u64,
    used: u64,
    size: u64,
    header: u64,
}

impl<V> Table<V> {
    /// An empty table holding at most `size` bytes of entries whose node
    /// header is `header` bytes.
    pub(crate) fn new(size: u64, header: u64) -> Self {
        Table {
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            used: 0,
            size,
            header,
        }
    }

    /// The entry for `key`, made the most recently used.
    pub(crate) fn get_bump(&mut self, key: &[u8]) -> Option<&mut V> {
        self.tick += 1;
        let tick = self.tick;
        let slot = self.map.get_mut(key)?;
        let k = self
            .order
            .remove(&slot.tick)
            .expect("order holds every key");
        slot.tick = tick;
        self.order.insert(tick, k);
        Some(&mut slot.value)
    }

    /// The entry for `key`, order unchanged.
    pub(crate) fn get(&mut self, key: &[u8]) -> Option<&mut V> {
        self.map.get_mut(key).map(|s| &mut s.value)
    }

    /// The least recently used entry.
    pub(crate) fn oldest(&self) -> Option<(&[u8], &V)> {
        let (_, k) = self.order.first_key_value()?;
        self.map.get(k).map(|s| (&k[..], &s.value))
    }

    /// Drops `key`.
    pub(crate) fn remove(&mut self, key: &[u8]) {
        if let Some(slot) = self.map.remove(key) {
            self.order.remove(&slot.tick);
            self.used -= slot.cost;
        }
    }

    /// Whether a new entry for a key this long fits in the budget.
    pub(crate) fn fits(&self, key_len: usize) -> bool {
        self.used + entry_cost(self.header, key_len) <= self.size
    }

    /// Adds a new entry as the most recently used; `false` (and nothing
    /// added) when it does not fit.
    pub(crate) fn insert(&mut self, key: &[u8], value: V) -> bool {
        if !self.fits(key.len()) {
            return false;
        }
        self.remove(key);
        self.tick += 1;
        let cost = entry_cost(self.header, key.len());
        self.used += cost;
        self.order.insert(self.tick, key.into());
        self.map.insert(
            key.into(),
            Slot {
                value,
                tick: self.tick,
                cost,
            },
        );
        true
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_megabyte_holds_16k_address_states() {
        assert_eq!(1024 * 1024 / entry_cost(48, 4), 16384);
        assert_eq!(entry_cost(48, 16), 64);
        assert_eq!(entry_cost(48, 40), 128);
    }

    #[test]
    fn least_recently_used_first_and_bounded() {
        let mut t = Table::new(3 * 64, 48);
        assert!(t.insert(b"a", 1));
        assert!(t.insert(b"b", 2));
        assert!(t.insert(b"c", 3));
        assert!(!t.insert(b"d", 4));
        assert_eq!(t.oldest().map(|(k, _)| k.to_vec()), Some(b"a".to_vec()));
        t.get_bump(b"a");
        assert_eq!(t.oldest().map(|(k, _)| k.to_vec()), Some(b"b".to_vec()));
        t.remove(b"b");
        assert!(t.insert(b"d", 4));
        assert_eq!(t.len(), 3);
        assert_eq!(t.get(b"d").copied(), Some(4));
    }
}
