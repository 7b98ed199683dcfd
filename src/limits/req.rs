//! A `limit_req_zone`: nginx's leaky bucket per key
//! (ngx_http_limit_req_module). Each key keeps `excess`, in
//! milli-requests, and the time it was last updated; every request adds
//! 1000 and the bucket drains at the zone's rate. A request whose excess
//! would exceed `burst` is rejected (and not counted); one within the
//! burst is delayed until its excess above `delay` has drained.

use std::sync::Mutex;

use super::table::Table;
use crate::conf::LimitZone;

/// nginx's `ngx_http_limit_req_node_t` header, as on 32-bit platforms (see
/// [`super::table::entry_cost`]).
const NODE_HEADER: u64 = 48;

/// One key's state.
struct Node {
    /// Milli-requests above the rate.
    excess: i64,
    /// Milliseconds (moat's monotonic clock) of the last update.
    last: u64,
    /// Requests between lookup and accounting (nginx's `count`): such a
    /// node is never expired.
    count: u32,
    /// Made by a lookup that did not account it yet: the first account
    /// leaves its excess at 0 (nginx: `last = 0`, so the drain clears it).
    fresh: bool,
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Within the burst; accounted (the last limit of the request).
    Ok(u64),
    /// Within the burst; held for accounting once every limit passed.
    Again,
    /// Over the burst, with this excess: reject.
    Busy(u64),
    /// The zone is full and nothing could be evicted: reject.
    Full,
}

/// The zone's state, shared by every worker thread.
pub(crate) struct ReqZone {
    /// The declaration this state belongs to.
    pub def: LimitZone,
    /// Milli-requests per second.
    pub rate: u64,
    nodes: Mutex<Table<Node>>,
}

/// nginx: elapsed time, with a clock that went backwards treated as no time.
fn elapsed(now: u64, last: u64) -> i64 {
    let ms = now as i64 - last as i64;
    if ms < -60000 {
        1
    } else {
        ms.max(0)
    }
}

impl ReqZone {
    /// A new empty zone.
    pub(crate) fn new(def: LimitZone, rate: u64) -> Self {
        ReqZone {
            nodes: Mutex::new(Table::new(def.size, NODE_HEADER)),
            def,
            rate,
        }
    }

    fn drained(&self, node: &Node, now: u64) -> (i64, i64) {
        let ms = elapsed(now, node.last);
        let excess = node.excess - (self.rate as i64) * ms / 1000 + 1000;
        (excess.max(0), ms)
    }

    /// nginx's `ngx_http_limit_req_lookup`.
    pub(crate) fn lookup(&self, key: &[u8], burst: u64, account: bool, now: u64) -> Lookup {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(node) = nodes.get_bump(key) {
            let (excess, ms) = self.drained(node, now);
            if excess as u64 > burst {
                return Lookup::Busy(excess as u64);
            }
            if account {
                node.excess = excess;
                if ms != 0 {
                    node.last = now;
                }
                return Lookup::Ok(excess as u64);
            }
            node.count += 1;
            return Lookup::Again;
        }
        self.expire(&mut nodes, 1, now);
        if !nodes.fits(key.len()) {
            self.expire(&mut nodes, 0, now);
        }
        let node = Node {
            excess: 0,
            last: now,
            count: u32::from(!account),
            fresh: !account,
        };
        if !nodes.insert(key, node) {
            return Lookup::Full;
        }
        if account {
            Lookup::Ok(0)
        } else {
            Lookup::Again
        }
    }

    /// Accounts a request held by [`Lookup::Again`] (nginx's
    /// `ngx_http_limit_req_account` for one limit): its excess now.
    pub(crate) fn account(&self, key: &[u8], now: u64) -> u64 {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        let Some(node) = nodes.get(key) else {
            return 0;
        };
        let (excess, ms) = self.drained(node, now);
        let excess = if node.fresh { 0 } else { excess };
        node.fresh = false;
        if ms != 0 {
            node.last = now;
        }
        node.excess = excess;
        node.count = node.count.saturating_sub(1);
        excess as u64
    }

    /// Releases a request held by [`Lookup::Again`] that was then rejected
    /// by a later limit (nginx's `ngx_http_limit_req_unlock`).
    pub(crate) fn unlock(&self, key: &[u8]) {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(node) = nodes.get(key) {
            node.count = node.count.saturating_sub(1);
        }
    }

    /// nginx's `ngx_http_limit_req_expire`: `n == 1` drops up to two of the
    /// oldest states idle for a minute and fully drained; `n == 0` first
    /// drops the oldest state whatever it holds.
    fn expire(&self, nodes: &mut Table<Node>, mut n: u32, now: u64) {
        while n < 3 {
            let Some((key, node)) = nodes.oldest() else {
                return;
            };
            if node.count > 0 {
                return;
            }
            if n != 0 {
                let ms = (now as i64 - node.last as i64).abs();
                if ms < 60000 || node.excess - (self.rate as i64) * ms / 1000 > 0 {
                    return;
                }
            }
            n += 1;
            let key = key.to_vec();
            nodes.remove(&key);
        }
    }

    /// Keys currently held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.nodes.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::ZoneKind;

    fn zone(rate: u64, size: u64) -> ReqZone {
        ReqZone::new(
            LimitZone {
                name: "z".into(),
                size,
                key: "$binary_remote_addr".into(),
                kind: ZoneKind::Requests { rate },
            },
            rate,
        )
    }

    #[test]
    fn burst_then_reject_then_drain() {
        // 1r/s, burst=2: three at once pass (excess 0, 1000, 2000), the
        // fourth is over the burst; a second later one has drained.
        let z = zone(1000, 1 << 20);
        let k = b"\x7f\0\0\x01";
        assert_eq!(z.lookup(k, 2000, true, 10), Lookup::Ok(0));
        assert_eq!(z.lookup(k, 2000, true, 10), Lookup::Ok(1000));
        assert_eq!(z.lookup(k, 2000, true, 10), Lookup::Ok(2000));
        assert_eq!(z.lookup(k, 2000, true, 10), Lookup::Busy(3000));
        assert_eq!(z.lookup(k, 2000, true, 1010), Lookup::Ok(2000));
        assert_eq!(z.lookup(b"other", 0, true, 1010), Lookup::Ok(0));
        assert_eq!(z.lookup(b"other", 0, true, 1010), Lookup::Busy(1000));
    }

    #[test]
    fn held_lookups_account_later() {
        let z = zone(1000, 1 << 20);
        assert_eq!(z.lookup(b"k", 5000, false, 5), Lookup::Again);
        assert_eq!(z.account(b"k", 5), 0);
        assert_eq!(z.lookup(b"k", 5000, false, 5), Lookup::Again);
        assert_eq!(z.account(b"k", 5), 1000);
        assert_eq!(z.lookup(b"k", 5000, false, 5), Lookup::Again);
        z.unlock(b"k");
        assert_eq!(z.lookup(b"k", 5000, true, 5), Lookup::Ok(2000));
    }

    #[test]
    fn a_full_zone_evicts_the_least_recently_used() {
        // 32k: 512 states of 64 bytes.
        let z = zone(1000, 32 * 1024);
        for i in 0..600u32 {
            assert_eq!(z.lookup(&i.to_be_bytes(), 0, true, 1), Lookup::Ok(0));
        }
        assert_eq!(z.len(), 512);
        // The newest are still limited; the oldest were forgotten.
        assert_eq!(
            z.lookup(&599u32.to_be_bytes(), 0, true, 1),
            Lookup::Busy(1000)
        );
        assert_eq!(z.lookup(&0u32.to_be_bytes(), 0, true, 1), Lookup::Ok(0));
    }
}
