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

    /// Write the state file atomically.
    pub fn save(&self, path: &Path) -> Result<(), AcmeError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| AcmeError::Internal(format!("state JSON: {e}")))?;
        write_atomic(path, &json, 0o644)
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
