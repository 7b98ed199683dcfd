//! The ban table: failures per jail and address within `findtime`, bans
//! with their expiry, and how often each address was banned (for
//! `bantime.increment`). Pure: the caller passes the time (Unix seconds),
//! so expiry is tested without waiting.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::jails::Jail;

/// Most (jail, address) pairs with failures tracked at once; beyond it the
/// stalest are forgotten first, so a flood of addresses cannot grow memory
/// without bound.
pub const MAX_TRACKED: usize = 65_536;

/// One ban of one address by one jail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// The address.
    pub addr: IpAddr,
    /// The jail that banned it (or `manual`).
    pub jail: String,
    /// When (Unix seconds).
    pub since: u64,
    /// Until when; `None` is forever (`bantime = -1`).
    pub until: Option<u64>,
}

impl Ban {
    /// Whether the ban holds at `now`.
    pub fn active(&self, now: u64) -> bool {
        self.until.is_none_or(|u| now < u)
    }
}

/// Failures, bans and ban counts.
#[derive(Debug, Default)]
pub struct BanTable {
    failures: HashMap<(String, IpAddr), VecDeque<u64>>,
    bans: Vec<Ban>,
    /// Earlier bans per (jail, address), for increments.
    counts: HashMap<(String, IpAddr), u32>,
}

impl BanTable {
    /// A table holding `bans` (read back from the state file) and their counts.
    pub fn with(bans: Vec<Ban>, counts: Vec<(String, IpAddr, u32)>) -> Self {
        BanTable {
            failures: HashMap::new(),
            bans,
            counts: counts.into_iter().map(|(j, a, n)| ((j, a), n)).collect(),
        }
    }

    /// One failure of `addr` in `jail` at `now`; the new ban when it
    /// reaches `maxretry` within `findtime`.
    pub fn failure(&mut self, jail: &Jail, addr: IpAddr, now: u64) -> Option<Ban> {
        let addr = addr.to_canonical();
        if jail.ignore.iter().any(|c| c.contains(addr)) || self.banned_by(addr, &jail.name, now) {
            return None;
        }
        if self.failures.len() >= MAX_TRACKED {
            self.forget_stalest(now, jail.findtime);
        }
        let key = (jail.name.clone(), addr);
        let times = self.failures.entry(key.clone()).or_default();
        times.push_back(now);
        while times
            .front()
            .is_some_and(|t| now.saturating_sub(*t) > jail.findtime)
        {
            times.pop_front();
        }
        if times.len() < jail.maxretry as usize {
            return None;
        }
        self.failures.remove(&key);
        let previous = self.previous_bans(jail, addr);
        let length = jail.ban.for_count(previous);
        Some(self.ban(addr, &jail.name, length, now))
    }

    fn previous_bans(&self, jail: &Jail, addr: IpAddr) -> u32 {
        let overall = jail.ban.increment.as_ref().is_some_and(|i| i.overall);
        self.counts
            .iter()
            .filter(|((j, a), _)| *a == addr && (overall || *j == jail.name))
            .map(|(_, n)| *n)
            .sum()
    }

    /// Bans `addr` for `length` seconds (`None`: forever) from `now`,
    /// replacing an earlier ban by the same jail.
    pub fn ban(&mut self, addr: IpAddr, jail: &str, length: Option<u64>, now: u64) -> Ban {
        let addr = addr.to_canonical();
        self.bans.retain(|b| !(b.addr == addr && b.jail == jail));
        let ban = Ban {
            addr,
            jail: jail.to_owned(),
            since: now,
            until: length.map(|l| now.saturating_add(l)),
        };
        self.bans.push(ban.clone());
        *self.counts.entry((jail.to_owned(), addr)).or_default() += 1;
        ban
    }

    /// Lifts every ban of `addr` and forgets its failures; how many bans
    /// were lifted.
    pub fn unban(&mut self, addr: IpAddr) -> usize {
        let addr = addr.to_canonical();
        let before = self.bans.len();
        self.bans.retain(|b| b.addr != addr);
        self.failures.retain(|(_, a), _| *a != addr);
        before - self.bans.len()
    }

    /// Whether any jail bans `addr` at `now`.
    pub fn banned(&self, addr: IpAddr, now: u64) -> bool {
        let addr = addr.to_canonical();
        self.bans.iter().any(|b| b.addr == addr && b.active(now))
    }

    fn banned_by(&self, addr: IpAddr, jail: &str, now: u64) -> bool {
        self.bans
            .iter()
            .any(|b| b.addr == addr && b.jail == jail && b.active(now))
    }

    /// Drops expired bans; the bans still active, oldest first.
    pub fn active(&mut self, now: u64) -> Vec<Ban> {
        self.bans.retain(|b| b.active(now));
        self.bans.clone()
    }

    /// The ban counts, for the state file.
    pub fn counts(&self) -> Vec<(String, IpAddr, u32)> {
        let mut v: Vec<_> = self
            .counts
            .iter()
            .map(|((j, a), n)| (j.clone(), *a, *n))
            .collect();
        v.sort();
        v
    }

    fn forget_stalest(&mut self, now: u64, findtime: u64) {
        self.failures.retain(|_, t| {
            t.back()
                .is_some_and(|last| now.saturating_sub(*last) <= findtime)
        });
        while self.failures.len() >= MAX_TRACKED {
            let Some(oldest) = self
                .failures
                .iter()
                .min_by_key(|(_, t)| t.back().copied().unwrap_or(0))
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.failures.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bans::{BanLength, Increment, LogSource};
    use crate::cidr::Cidr;
    use std::collections::BTreeMap;

    fn jail(maxretry: u32, findtime: u64, bantime: Option<u64>) -> Jail {
        Jail {
            name: "nginx-deny".into(),
            filter: ("nginx-deny".into(), BTreeMap::new()),
            source: LogSource::Error,
            maxretry,
            findtime,
            ban: BanLength {
                base: bantime,
                increment: None,
            },
            ignore: vec![Cidr::parse("10.0.0.0/8").unwrap()],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn maxretry_within_findtime_bans_until_bantime() {
        let j = jail(3, 60, Some(600));
        let mut t = BanTable::default();
        let a = ip("192.0.2.7");
        assert_eq!(t.failure(&j, a, 1000), None);
        assert_eq!(t.failure(&j, a, 1030), None);
        // Another address's failures do not count for this one.
        assert_eq!(t.failure(&j, ip("192.0.2.8"), 1031), None);
        let ban = t.failure(&j, a, 1059).expect("third failure within 60 s");
        assert_eq!((ban.since, ban.until), (1059, Some(1659)));
        assert!(t.banned(a, 1658));
        assert!(!t.banned(a, 1659));
        assert!(!t.banned(ip("192.0.2.8"), 1100));
        // IPv4-mapped IPv6 is the same client.
        assert!(t.banned(ip("::ffff:192.0.2.7"), 1100));
        assert!(t.active(1659).is_empty());
    }

    #[test]
    fn failures_older_than_findtime_do_not_count() {
        let j = jail(2, 60, Some(600));
        let mut t = BanTable::default();
        let a = ip("192.0.2.7");
        assert_eq!(t.failure(&j, a, 1000), None);
        assert_eq!(t.failure(&j, a, 1061), None);
        assert!(t.failure(&j, a, 1100).is_some());
    }

    #[test]
    fn ignoreip_is_never_banned_and_forever_is_forever() {
        let j = jail(1, 60, None);
        let mut t = BanTable::default();
        assert_eq!(t.failure(&j, ip("10.1.2.3"), 5), None);
        let ban = t.failure(&j, ip("198.51.100.1"), 5).unwrap();
        assert_eq!(ban.until, None);
        assert!(t.banned(ip("198.51.100.1"), u64::MAX - 1));
        assert_eq!(t.unban(ip("198.51.100.1")), 1);
        assert!(!t.banned(ip("198.51.100.1"), 6));
    }

    #[test]
    fn repeat_offenders_get_longer_bans_across_a_reload_of_the_table() {
        let mut j = jail(1, 60, Some(100));
        j.ban.increment = Some(Increment {
            factor: 1.0,
            multipliers: vec![],
            maxtime: None,
            overall: false,
        });
        let a = ip("203.0.113.5");
        let mut t = BanTable::default();
        assert_eq!(t.failure(&j, a, 0).unwrap().until, Some(100));
        assert_eq!(t.failure(&j, a, 200).unwrap().until, Some(400));
        let mut again = BanTable::with(t.active(500), t.counts());
        assert_eq!(again.failure(&j, a, 500).unwrap().until, Some(900));
    }

    #[test]
    fn tracking_is_bounded() {
        let j = jail(5, 600, Some(600));
        let mut t = BanTable::default();
        for n in 0..(MAX_TRACKED as u32 + 10) {
            t.failure(&j, IpAddr::from(n.to_be_bytes()), u64::from(n / 1000));
        }
        assert!(t.failures.len() <= MAX_TRACKED);
    }
}
