//! `limit_req` and `limit_conn` state: the zones, shared by every worker
//! thread, and the checks the proxy runs on a request's
//! [`RequestLimits`] right after the route decision (nginx's pre-access
//! phase: `limit_req` first, then `limit_conn`).
//!
//! The conf side (pure) declares the zones and evaluates each rule's key;
//! this side counts. Zones are found by name in an [`ArcSwap`] map; a
//! reload that declares a zone with the same name, size, key and rate keeps
//! its state (nginx keeps a shared zone across reloads), any change starts
//! it afresh. Memory per zone is bounded by its size (see `table.rs`).

mod conn;
mod req;
mod table;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::conf::{LimitZone, RequestLimits, ZoneKind};
use conn::ConnZone;
use req::{Lookup, ReqZone};

/// A request refused by a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} by zone \"{zone}\"")]
pub struct Refused {
    /// `limit_req_status` or `limit_conn_status`.
    pub status: u16,
    /// The zone that refused it.
    pub zone: String,
    /// nginx's error-log wording (`limiting requests, excess: 1.000`).
    pub what: String,
}

/// What `limit_req` says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on now.
    Pass,
    /// Go on after this delay (within the burst, beyond `delay=`).
    Delay(Duration),
    /// Refused.
    Reject(Refused),
    /// Would be refused, but `limit_req_dry_run` is on: go on now, and
    /// say so in error.log as nginx does.
    DryRun(Refused),
}

/// Places taken in `limit_conn` zones, given back when dropped (at the
/// end of the request).
#[derive(Default)]
pub struct ConnHold(Vec<(Arc<ConnZone>, Vec<u8>)>);

impl Drop for ConnHold {
    fn drop(&mut self) {
        for (zone, key) in self.0.drain(..) {
            zone.release(&key);
        }
    }
}

impl std::fmt::Debug for ConnHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(z, _)| &z.def.name))
            .finish()
    }
}

#[derive(Clone)]
enum Zone {
    Req(Arc<ReqZone>),
    Conn(Arc<ConnZone>),
}

impl Zone {
    fn def(&self) -> &LimitZone {
        match self {
            Zone::Req(z) => &z.def,
            Zone::Conn(z) => &z.def,
        }
    }
}

/// Every zone's state.
#[derive(Default)]
pub struct Limiter {
    zones: ArcSwap<HashMap<String, Zone>>,
    write: Mutex<()>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.zones.load().keys()).finish()
    }
}

/// Milliseconds on a monotonic clock (nginx's `ngx_current_msec`).
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl Limiter {
    /// The state for `def`, made (or remade, when the declaration changed)
    /// on first use.
    fn zone(&self, def: &LimitZone) -> Zone {
        if let Some(z) = self.zones.load().get(&def.name).filter(|z| z.def() == def) {
            return z.clone();
        }
        let _write = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.zones.load_full();
        if let Some(z) = current.get(&def.name).filter(|z| z.def() == def) {
            return z.clone();
        }
        let zone = match def.kind {
            ZoneKind::Requests { rate } => Zone::Req(Arc::new(ReqZone::new(def.clone(), rate))),
            ZoneKind::Connections => Zone::Conn(Arc::new(ConnZone::new(def.clone()))),
        };
        let mut next = (*current).clone();
        next.insert(def.name.clone(), zone.clone());
        self.zones.store(Arc::new(next));
        zone
    }

    fn req_zone(&self, def: &LimitZone) -> Option<Arc<ReqZone>> {
        match self.zone(def) {
            Zone::Req(z) => Some(z),
            Zone::Conn(_) => None,
        }
    }

    /// `limit_req`: nginx's `ngx_http_limit_req_handler`. Every rule
    /// applies; each but the last is only looked up until all passed, then
    /// all are accounted, and the longest delay wins.
    pub fn requests(&self, limits: &RequestLimits) -> Verdict {
        let rules = &limits.req;
        let now = now_ms();
        let mut held: Vec<(Arc<ReqZone>, &[u8], u64)> = Vec::new();
        let mut last = None;
        for (i, rule) in rules.iter().enumerate() {
            let Some(zone) = self.req_zone(&rule.zone) else {
                continue;
            };
            match zone.lookup(&rule.key, rule.burst, i + 1 == rules.len(), now) {
                Lookup::Again => held.push((zone, &rule.key, rule.delay)),
                Lookup::Ok(excess) => last = Some((zone, excess, rule.delay)),
                refused @ (Lookup::Busy(_) | Lookup::Full) => {
                    for (z, key, _) in &held {
                        z.unlock(key);
                    }
                    let what = match refused {
                        Lookup::Busy(e) => format!("limiting requests, excess: {}", milli(e)),
                        _ => "could not allocate node".to_string(),
                    };
                    tracing::warn!(
                        zone = %rule.zone.name,
                        dry_run = limits.req_dry_run,
                        "{what}"
                    );
                    let refused = |what| Refused {
                        status: limits.req_status,
                        zone: rule.zone.name.clone(),
                        what,
                    };
                    if limits.req_dry_run {
                        return Verdict::DryRun(refused(what.replacen(
                            "limiting requests",
                            "limiting requests, dry run",
                            1,
                        )));
                    }
                    return Verdict::Reject(refused(what));
                }
            }
        }
        let delay_of = |zone: &ReqZone, excess: u64, delay: u64| {
            (excess > delay).then(|| (excess - delay) * 1000 / zone.rate.max(1))
        };
        let mut max_delay = last
            .as_ref()
            .and_then(|(z, e, d)| delay_of(z, *e, *d))
            .unwrap_or(0);
        for (zone, key, delay) in held.iter().rev() {
            let excess = zone.account(key, now_ms());
            if let Some(d) = delay_of(zone, excess, *delay) {
                max_delay = max_delay.max(d);
            }
        }
        if max_delay == 0 || limits.req_dry_run {
            return Verdict::Pass;
        }
        Verdict::Delay(Duration::from_millis(max_delay))
    }

    /// `limit_conn`: takes a place in every zone for the request's life,
    /// or none when one zone is at its limit (with `limit_conn_dry_run`,
    /// none and the refusal that was not made, for error.log).
    pub fn connections(
        &self,
        limits: &RequestLimits,
    ) -> Result<(ConnHold, Option<Refused>), Refused> {
        let mut hold = ConnHold::default();
        for rule in &limits.conn {
            let Zone::Conn(zone) = self.zone(&rule.zone) else {
                continue;
            };
            if zone.acquire(&rule.key, rule.max) {
                hold.0.push((zone, rule.key.clone()));
                continue;
            }
            drop(hold); // nginx: cleanup_all gives back the places taken
            tracing::warn!(zone = %rule.zone.name, dry_run = limits.conn_dry_run, "limiting connections");
            let refused = |what: &str| Refused {
                status: limits.conn_status,
                zone: rule.zone.name.clone(),
                what: what.to_string(),
            };
            if limits.conn_dry_run {
                return Ok((
                    ConnHold::default(),
                    Some(refused("limiting connections, dry run,")),
                ));
            }
            return Err(refused("limiting connections"));
        }
        Ok((hold, None))
    }

    /// Both, in nginx's order: `limit_req` (waiting out its delay), then
    /// `limit_conn`, whose places are kept in `hold` until the request ends.
    /// Ok holds the refusals a dry run did not make (nginx logs them).
    pub async fn admit(
        &self,
        limits: &RequestLimits,
        hold: &mut ConnHold,
    ) -> Result<Vec<Refused>, Refused> {
        let mut dry = Vec::new();
        if limits.is_empty() {
            return Ok(dry);
        }
        match self.requests(limits) {
            Verdict::Pass => {}
            Verdict::Delay(d) => tokio::time::sleep(d).await,
            Verdict::Reject(r) => return Err(r),
            Verdict::DryRun(r) => dry.push(r),
        }
        let (taken, not_refused) = self.connections(limits)?;
        *hold = taken;
        dry.extend(not_refused);
        Ok(dry)
    }
}

/// nginx's `%ui.%03ui` of milli-requests.
fn milli(m: u64) -> String {
    format!("{}.{:03}", m / 1000, m % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{ConnLimit, ReqLimit};

    fn zone(name: &str, kind: ZoneKind) -> Arc<LimitZone> {
        Arc::new(LimitZone {
            name: name.into(),
            size: 1 << 20,
            key: "$binary_remote_addr".into(),
            kind,
        })
    }

    fn req(zone: &Arc<LimitZone>, key: &[u8], burst: u64, delay: u64) -> ReqLimit {
        ReqLimit {
            zone: zone.clone(),
            key: key.to_vec(),
            burst: burst * 1000,
            delay,
        }
    }

    fn limits(req: Vec<ReqLimit>, conn: Vec<ConnLimit>) -> RequestLimits {
        RequestLimits {
            req,
            req_status: 503,
            conn,
            conn_status: 503,
            ..Default::default()
        }
    }

    #[test]
    fn delay_unless_nodelay_and_reject_over_burst() {
        let l = Limiter::default();
        let z = zone("one", ZoneKind::Requests { rate: 16 }); // 1r/m
        let delayed = limits(vec![req(&z, b"a", 2, 0)], vec![]);
        assert_eq!(l.requests(&delayed), Verdict::Pass);
        // Excess 1000 at 16 milli-requests per second: 62.5 s.
        assert_eq!(
            l.requests(&delayed),
            Verdict::Delay(Duration::from_millis(62500))
        );
        assert!(matches!(l.requests(&delayed), Verdict::Delay(_)));
        assert!(matches!(l.requests(&delayed), Verdict::Reject(r) if r.status == 503));
        let nodelay = limits(vec![req(&z, b"b", 2, u64::MAX)], vec![]);
        for _ in 0..3 {
            assert_eq!(l.requests(&nodelay), Verdict::Pass);
        }
        assert!(matches!(l.requests(&nodelay), Verdict::Reject(_)));
        // delay=1: the first excess request goes at once, the next waits.
        let some = limits(vec![req(&z, b"c", 3, 1000)], vec![]);
        assert_eq!(l.requests(&some), Verdict::Pass);
        assert_eq!(l.requests(&some), Verdict::Pass);
        assert!(matches!(l.requests(&some), Verdict::Delay(_)));
    }

    #[test]
    fn every_rule_applies_and_a_rejection_counts_nothing() {
        let l = Limiter::default();
        let wide = zone("wide", ZoneKind::Requests { rate: 16 });
        let narrow = zone("narrow", ZoneKind::Requests { rate: 16 });
        let both = limits(
            vec![
                req(&wide, b"k", 5, u64::MAX),
                req(&narrow, b"k", 1, u64::MAX),
            ],
            vec![],
        );
        assert_eq!(l.requests(&both), Verdict::Pass);
        assert_eq!(l.requests(&both), Verdict::Pass);
        assert!(matches!(l.requests(&both), Verdict::Reject(r) if r.zone == "narrow"));
        // The wide zone counted two requests, not three.
        let wide_only = limits(vec![req(&wide, b"k", 5, u64::MAX)], vec![]);
        for _ in 0..4 {
            assert_eq!(l.requests(&wide_only), Verdict::Pass);
        }
        assert!(matches!(l.requests(&wide_only), Verdict::Reject(_)));
    }

    #[test]
    fn dry_run_passes_and_conn_places_come_back() {
        let l = Limiter::default();
        let z = zone("one", ZoneKind::Requests { rate: 16 });
        let mut dry = limits(vec![req(&z, b"a", 0, 0)], vec![]);
        dry.req_dry_run = true;
        assert_eq!(l.requests(&dry), Verdict::Pass);
        for _ in 0..4 {
            let Verdict::DryRun(r) = l.requests(&dry) else {
                panic!("a dry run neither passes silently nor refuses");
            };
            let line = r.to_string();
            assert!(
                line.starts_with("limiting requests, dry run, excess: ")
                    && line.ends_with(" by zone \"one\""),
                "{line}"
            );
        }
        let c = zone("conn", ZoneKind::Connections);
        let one = limits(
            vec![],
            vec![ConnLimit {
                zone: c.clone(),
                key: b"a".to_vec(),
                max: 1,
            }],
        );
        let (first, _) = l.connections(&one).unwrap();
        assert_eq!(l.connections(&one).unwrap_err().zone, "conn");
        // limit_conn_dry_run: the place is not taken, and nothing refused.
        let mut dry = one.clone();
        dry.conn_dry_run = true;
        let (none, not_refused) = l.connections(&dry).unwrap();
        assert!(none.0.is_empty());
        assert_eq!(
            not_refused.unwrap().to_string(),
            "limiting connections, dry run, by zone \"conn\""
        );
        drop(first);
        assert!(l.connections(&one).is_ok());
    }

    #[test]
    fn a_changed_zone_starts_afresh_and_an_equal_one_keeps_its_state() {
        let l = Limiter::default();
        let z = zone("one", ZoneKind::Requests { rate: 16 });
        let rule = limits(vec![req(&z, b"a", 0, 0)], vec![]);
        assert_eq!(l.requests(&rule), Verdict::Pass);
        let same = zone("one", ZoneKind::Requests { rate: 16 });
        let reloaded = limits(vec![req(&same, b"a", 0, 0)], vec![]);
        assert!(matches!(l.requests(&reloaded), Verdict::Reject(_)));
        let faster = zone("one", ZoneKind::Requests { rate: 32 });
        let changed = limits(vec![req(&faster, b"a", 0, 0)], vec![]);
        assert_eq!(l.requests(&changed), Verdict::Pass);
    }
}
