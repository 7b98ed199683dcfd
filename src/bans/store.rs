//! Bans survive restarts: the active bans and the ban counts are kept in
//! one JSON file under /config (`fail2ban/moat-bans.json`), replaced
//! atomically (written beside it, synced, renamed) so a crash mid-write
//! leaves the previous file whole.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::table::{Ban, BanTable};

/// The state file's name inside `/config/fail2ban`.
pub const STATE_FILE: &str = "moat-bans.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    bans: Vec<Ban>,
    #[serde(default)]
    counts: Vec<(String, IpAddr, u32)>,
}

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading, writing or renaming failed.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not moat's JSON.
    #[error("{}: not a moat ban list ({source}); it was moved to {}", file.display(), moved.display())]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// Where it was moved, so the next save does not destroy it.
        moved: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// Reads the table saved at `path`, without bans that expired by `now`.
/// A missing file is an empty table; an unreadable one is moved aside and
/// reported (the caller starts empty and says so).
pub fn load(path: &Path, now: u64) -> Result<BanTable, StoreError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BanTable::default()),
        Err(source) => {
            return Err(StoreError::Io {
                file: path.to_path_buf(),
                source,
            })
        }
    };
    match serde_json::from_slice::<State>(&text) {
        Ok(state) => Ok(BanTable::with(
            state.bans.into_iter().filter(|b| b.active(now)).collect(),
            state.counts,
        )),
        Err(source) => {
            let moved = path.with_extension("json.corrupt");
            let _ = std::fs::rename(path, &moved);
            Err(StoreError::Corrupt {
                file: path.to_path_buf(),
                moved,
                source,
            })
        }
    }
}

/// Writes `table`'s active bans and counts to `path`, atomically.
pub fn save(path: &Path, table: &mut BanTable, now: u64) -> Result<(), StoreError> {
    write(path, &encode(table, now))
}

/// The state file's content for `table` at `now`: taken while the table
/// is locked, written by [`write`] after the lock is released.
pub fn encode(table: &mut BanTable, now: u64) -> Vec<u8> {
    let state = State {
        bans: table.active(now),
        counts: table.counts(),
    };
    serde_json::to_vec_pretty(&state).expect("the ban state is plain data")
}

/// Replaces the state file at `path` with `body`: written beside it,
/// synced, renamed.
pub fn write(path: &Path, body: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        file: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("json.tmp");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(body).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bans_and_counts_come_back_without_the_expired_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fail2ban").join(STATE_FILE);
        let mut t = BanTable::default();
        t.ban(ip("192.0.2.1"), "nginx-deny", Some(100), 1000);
        t.ban(ip("192.0.2.2"), "nginx-badbots", None, 1000);
        t.ban(ip("192.0.2.3"), "nginx-deny", Some(10), 1000);
        save(&path, &mut t, 1005).unwrap();
        assert!(!path.with_extension("json.tmp").exists());
        let mut back = load(&path, 1050).unwrap();
        assert!(back.banned(ip("192.0.2.1"), 1050));
        assert!(back.banned(ip("192.0.2.2"), 1050));
        assert!(!back.banned(ip("192.0.2.3"), 1050));
        assert_eq!(back.active(1050).len(), 2);
        assert_eq!(back.counts().len(), 3);
        assert!(!back.banned(ip("192.0.2.1"), 1100));
    }

    #[test]
    fn missing_is_empty_and_corrupt_is_named_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        assert!(load(&path, 0).unwrap().active(0).is_empty());
        std::fs::write(&path, "{ not json").unwrap();
        let err = load(&path, 0).unwrap_err().to_string();
        assert!(err.contains("moat-bans.json: not a moat ban list"), "{err}");
        assert!(path.with_extension("json.corrupt").exists());
        assert!(!path.exists());
    }
}
