//! Renewal state kept for `moat certs`: per lineage the last attempt, last
//! error with its likely cause, failure count and next attempt. Stored as
//! JSON in `etc/letsencrypt/moat-renewal-state.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::fsio::write_atomic;
use super::AcmeError;

/// What the scheduler last did for one lineage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineageState {
    /// The names last ordered.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Last attempt, seconds since the epoch.
    pub last_attempt: Option<i64>,
    /// Last successful issuance, seconds since the epoch.
    pub last_success: Option<i64>,
    /// Last error message, cleared on success.
    pub last_error: Option<String>,
    /// The likely cause of the last error.
    pub likely_cause: Option<String>,
    /// Consecutive failures.
    #[serde(default)]
    pub failures: u32,
    /// When the scheduler will look again, seconds since the epoch.
    pub next_attempt: Option<i64>,
}

/// `path`'s owner uid and gid, if it exists.
fn owner_of(path: &Path) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.uid(), m.gid()))
}

/// All lineages' state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RenewalState {
    /// By lineage name.
    #[serde(default)]
    pub lineages: BTreeMap<String, LineageState>,
}

impl RenewalState {
    /// Read the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<Self, AcmeError> {
        match std::fs::read_to_string(path) {
            Ok(s) => serde_json::from_str(&s).map_err(|e| {
                AcmeError::bad_file(path, format!("not moat renewal state JSON: {e}"))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(AcmeError::io(path, e)),
        }
    }

    /// Write the state file atomically. The new file keeps the owner of
    /// the one it replaces, or takes its directory's when there was none:
    /// moat runs as root, and the file belongs to PUID:PGID like the rest
    /// of /config (the directory is theirs since start-up).
    pub fn save(&self, path: &Path) -> Result<(), AcmeError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| AcmeError::Internal(format!("state JSON: {e}")))?;
        let owner = owner_of(path).or_else(|| path.parent().and_then(owner_of));
        write_atomic(path, &json, 0o644)?;
        if let Some((uid, gid)) = owner {
            if owner_of(path) != Some((uid, gid)) {
                // Only root can give a file away; anyone else keeps it.
                let _ = std::os::unix::fs::chown(path, Some(uid), Some(gid));
            }
        }
        Ok(())
    }

    /// Update one lineage's entry in the file at `path` (read, change, write).
    pub fn update(
        path: &Path,
        lineage: &str,
        f: impl FnOnce(&mut LineageState),
    ) -> Result<(), AcmeError> {
        let mut state = Self::load(path).unwrap_or_default();
        f(state.lineages.entry(lineage.to_owned()).or_default());
        state.save(path)
    }
}

#[cfg(test)]
mod tests {
    use super::{owner_of, RenewalState};

    /// Written as root, the file belongs to the directory's owner at first
    /// and keeps whatever owner it was given afterwards.
    #[test]
    fn the_state_file_keeps_its_owner_across_rewrites() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP the_state_file_keeps_its_owner_across_rewrites: needs root to give files away");
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the tests as root"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("moat-renewal-state.json");
        std::os::unix::fs::chown(dir.path(), Some(911), Some(912)).unwrap();
        RenewalState::update(&path, "example.com", |s| s.failures = 1).unwrap();
        assert_eq!(owner_of(&path), Some((911, 912)));
        std::os::unix::fs::chown(&path, Some(1000), Some(1001)).unwrap();
        RenewalState::update(&path, "example.com", |s| s.failures = 2).unwrap();
        assert_eq!(owner_of(&path), Some((1000, 1001)));
        assert_eq!(
            RenewalState::load(&path).unwrap().lineages["example.com"].failures,
            2
        );
    }
}
