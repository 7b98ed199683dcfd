//! [`Bans`]: the jails at work, the one object the proxy asks. Each
//! finished request's log lines go through [`Bans::observe`]; every new
//! connection and request asks [`Bans::banned`], which reads an
//! `arc-swap` snapshot of the banned addresses (no lock on that path).
//! The table behind it is locked only when a line matched a filter or an
//! operator bans or unbans; the state file is rewritten after, with the
//! table unlocked (a later change is never overwritten by an earlier one).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, MutexGuard};

use super::error::BansError;
use super::filter::{self, Filter};
use super::jails::{self, Jail, LogSource};
use super::store;
use super::table::{Ban, BanTable};

/// Address → until when (`None`: forever), the longest ban of each.
type Snapshot = HashMap<IpAddr, Option<u64>>;

/// The running jails.
pub struct Bans {
    jails: Vec<(Jail, Filter)>,
    table: Mutex<BanTable>,
    snapshot: ArcSwap<Snapshot>,
    state: PathBuf,
    /// Order of the table's changes, and the last one written to `state`.
    changes: AtomicU64,
    written: Mutex<u64>,
    /// Connections closed and requests refused because of a ban.
    refused: AtomicU64,
    /// Enabled jails that cannot run, with why (reported once at start).
    pub skipped: Vec<(String, String)>,
}

impl Bans {
    /// The jails of `dir` (`/config/fail2ban`) with their filters from
    /// `dir/filter.d`, and the bans saved there. A jail whose filter moat
    /// cannot run is skipped with the reason; a bad jail setting is an error.
    pub fn start(dir: &Path) -> Result<Bans, BansError> {
        let set = jails::load(dir)?;
        let mut skipped = set.skipped;
        let mut running = Vec::new();
        for jail in set.jails {
            match filter::load(&dir.join("filter.d"), &jail.filter.0, &jail.filter.1) {
                Ok(f) => running.push((jail, f)),
                Err(e) => skipped.push((jail.name.clone(), e.to_string())),
            }
        }
        let state = dir.join(store::STATE_FILE);
        let table = match store::load(&state, now()) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "fail2ban: the saved bans cannot be read; starting with none");
                BanTable::default()
            }
        };
        let bans = Bans {
            jails: running,
            table: Mutex::new(table),
            snapshot: ArcSwap::default(),
            state,
            changes: AtomicU64::new(0),
            written: Mutex::new(0),
            refused: AtomicU64::new(0),
            skipped,
        };
        bans.publish(bans.table.lock());
        Ok(bans)
    }

    /// The names of the jails that run.
    pub fn jail_names(&self) -> Vec<&str> {
        self.jails.iter().map(|(j, _)| j.name.as_str()).collect()
    }

    /// Whether `addr` is banned now.
    pub fn banned(&self, addr: IpAddr) -> bool {
        let snapshot = self.snapshot.load();
        if snapshot.is_empty() {
            return false;
        }
        match snapshot.get(&addr.to_canonical()) {
            Some(None) => true,
            Some(Some(until)) => now() < *until,
            None => false,
        }
    }

    /// One finished request: its access.log line and its error.log lines,
    /// each without its date as fail2ban sees them. New bans are logged
    /// and saved.
    pub fn observe(&self, access: Option<&str>, errors: &[String]) {
        for (jail, filter) in &self.jails {
            let lines = match jail.source {
                LogSource::Access => access.into_iter().collect::<Vec<_>>(),
                LogSource::Error => errors.iter().map(String::as_str).collect(),
                LogSource::Both => access
                    .into_iter()
                    .chain(errors.iter().map(String::as_str))
                    .collect(),
            };
            for line in lines {
                let Some(addr) = filter.failure(line) else {
                    continue;
                };
                let mut table = self.table.lock();
                if let Some(ban) = table.failure(jail, addr, now()) {
                    tracing::warn!(addr = %ban.addr, jail = %ban.jail, until = %until_text(ban.until), "fail2ban: banned");
                    self.publish(table);
                }
            }
        }
    }

    /// An operator's ban (`moat bans ban`); `length` `None` is forever.
    pub fn ban(&self, addr: IpAddr, jail: &str, length: Option<u64>) -> Ban {
        let mut table = self.table.lock();
        let ban = table.ban(addr, jail, length, now());
        self.publish(table);
        tracing::warn!(addr = %ban.addr, jail = %ban.jail, until = %until_text(ban.until), "fail2ban: banned by the operator");
        ban
    }

    /// Lifts every ban of `addr`; how many there were.
    pub fn unban(&self, addr: IpAddr) -> usize {
        let mut table = self.table.lock();
        let lifted = table.unban(addr);
        self.publish(table);
        tracing::info!(%addr, lifted, "fail2ban: unbanned by the operator");
        lifted
    }

    /// The bans in force, oldest first.
    pub fn list(&self) -> Vec<Ban> {
        self.table.lock().active(now())
    }

    /// Bans issued so far per jail (kept in the state file, so they count
    /// across restarts), for `/metrics`.
    pub fn issued(&self) -> Vec<(String, u64)> {
        let mut per_jail = std::collections::BTreeMap::<String, u64>::new();
        for (jail, _, n) in self.table.lock().counts() {
            *per_jail.entry(jail).or_default() += u64::from(n);
        }
        per_jail.into_iter().collect()
    }

    /// Counts one connection or request turned away because of a ban.
    pub fn count_refusal(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections closed and requests refused because of a ban.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// New snapshot for the readers; then, with the table unlocked, the
    /// state file rewritten (unless a later change was written already).
    fn publish(&self, mut table: MutexGuard<'_, BanTable>) {
        let at = now();
        let mut snapshot = Snapshot::new();
        for ban in table.active(at) {
            let entry = snapshot.entry(ban.addr).or_insert(ban.until);
            *entry = match (*entry, ban.until) {
                (None, _) | (_, None) => None,
                (Some(a), Some(b)) => Some(a.max(b)),
            };
        }
        self.snapshot.store(Arc::new(snapshot));
        let body = store::encode(&mut table, at);
        let change = self.changes.fetch_add(1, Ordering::AcqRel) + 1;
        drop(table);
        let mut written = self.written.lock();
        if *written > change {
            return;
        }
        *written = change;
        if let Err(e) = store::write(&self.state, &body) {
            tracing::error!(error = %e, "fail2ban: cannot save the bans; they will not survive a restart");
        }
    }
}

/// A ban's end for the log: RFC 3339, or `forever`.
fn until_text(until: Option<u64>) -> String {
    until
        .and_then(|u| time::OffsetDateTime::from_unix_timestamp(u as i64).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "forever".to_owned())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn access(addr: &str, status: u16) -> String {
        format!("{addr} - - [] \"GET /admin HTTP/1.1\" {status} 9 \"-\" \"curl\"")
    }

    #[test]
    fn lines_ban_the_client_and_the_ban_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("jail.local"),
            "[DEFAULT]\nignoreself = false\nignoreip = 10.0.0.0/8\n[nginx-unauthorized]\nenabled = true\nmaxretry = 2\nlogpath = /config/log/nginx/access.log\n[nginx-deny]\nenabled = true\nmaxretry = 1\nlogpath = /config/log/nginx/error.log\n[nginx-mystery]\nenabled = true\nlogpath = /config/log/nginx/access.log\n",
        )
        .unwrap();
        let bans = Bans::start(dir.path()).unwrap();
        assert_eq!(bans.jail_names(), ["nginx-unauthorized", "nginx-deny"]);
        assert_eq!(bans.skipped.len(), 1);
        assert!(
            bans.skipped[0].1.contains("nginx-mystery"),
            "{:?}",
            bans.skipped
        );

        let a = "127.0.0.5";
        bans.observe(Some(&access(a, 401)), &[]);
        assert!(!bans.banned(ip(a)));
        bans.observe(Some(&access(a, 200)), &[]);
        bans.observe(Some(&access("10.1.1.1", 401)), &[]);
        bans.observe(Some(&access("10.1.1.1", 401)), &[]);
        assert!(!bans.banned(ip("10.1.1.1")), "ignoreip");
        bans.observe(Some(&access(a, 401)), &[]);
        assert!(bans.banned(ip(a)));
        assert!(!bans.banned(ip("127.0.0.6")));

        let denied = " [error] 1#1: *1 access forbidden by rule, client: 127.0.0.7, server: _, request: \"GET / HTTP/1.1\", host: \"h\"".to_owned();
        bans.observe(None, &[denied]);
        assert!(bans.banned(ip("127.0.0.7")));
        drop(bans);

        let again = Bans::start(dir.path()).unwrap();
        assert!(again.banned(ip(a)) && again.banned(ip("127.0.0.7")));
        assert_eq!(again.unban(ip(a)), 1);
        assert!(!again.banned(ip(a)));
        again.ban(ip("2001:db8::1"), "manual", None);
        let listed: Vec<(IpAddr, String)> =
            again.list().into_iter().map(|b| (b.addr, b.jail)).collect();
        assert_eq!(
            listed,
            [
                (ip("127.0.0.7"), "nginx-deny".to_owned()),
                (ip("2001:db8::1"), "manual".to_owned())
            ]
        );
        drop(again);
        assert!(
            !Bans::start(dir.path()).unwrap().banned(ip(a)),
            "the unban was saved"
        );
    }
}
