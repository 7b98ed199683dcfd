//! The route table in service and the one way it changes: a complete load
//! that succeeded. A failed load logs every error (`file:line: message`) and
//! leaves the previous table serving.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::conf::{ConfError, LoadReport, RouteTable};

/// The route table shared with the proxy: readers `load()` a snapshot per
/// request; only [`RouteReloader`] stores a new one.
pub type SharedRoutes = Arc<ArcSwap<RouteTable>>;

/// Loads confs and swaps them into service.
pub struct RouteReloader {
    config_dir: PathBuf,
    routes: SharedRoutes,
    updates: watch::Sender<u64>,
}

impl RouteReloader {
    /// A reloader for `config_dir`, starting with an empty table.
    pub fn new(config_dir: PathBuf) -> Self {
        RouteReloader {
            config_dir,
            routes: Arc::new(ArcSwap::from_pointee(RouteTable::empty())),
            updates: watch::channel(0).0,
        }
    }

    /// The shared table, for services.
    pub fn routes(&self) -> SharedRoutes {
        self.routes.clone()
    }

    /// Subscribes to successful reloads.
    pub fn updates(&self) -> watch::Receiver<u64> {
        self.updates.subscribe()
    }

    /// Loads now, on this thread. `true` when the new table is in service.
    pub fn load_now(&self, reason: &str) -> bool {
        let result = crate::conf::load(&self.config_dir);
        self.install(reason, result)
    }

    /// Loads on a blocking thread (file I/O), then swaps.
    pub async fn reload(&self, reason: &str) -> bool {
        let dir = self.config_dir.clone();
        match tokio::task::spawn_blocking(move || crate::conf::load(&dir)).await {
            Ok(result) => self.install(reason, result),
            Err(e) => {
                tracing::error!(reason, error = %e, "conf loader panicked; keeping the previous configuration");
                false
            }
        }
    }

    fn install(
        &self,
        reason: &str,
        result: Result<(RouteTable, LoadReport), Vec<ConfError>>,
    ) -> bool {
        match result {
            Ok((table, report)) => {
                for warning in &report.warnings {
                    tracing::warn!(target: "moat::conf", "{warning}");
                }
                log_no_effect(&self.config_dir, &report);
                self.routes.store(Arc::new(table));
                self.updates.send_modify(|n| *n += 1);
                tracing::info!(
                    reason,
                    warnings = report.warnings.len(),
                    generation = *self.updates.borrow(),
                    "configuration reloaded"
                );
                true
            }
            Err(errors) => {
                for error in &errors {
                    tracing::error!(target: "moat::conf", "{error}");
                }
                tracing::error!(
                    reason,
                    errors = errors.len(),
                    "configuration reload failed; keeping the previous configuration"
                );
                false
            }
        }
    }
}

/// Logs the one no-effect summary line of a load: info when every such
/// directive is in a file moat wrote and the user has not edited, warn
/// when the user wrote any of them (they can act on it).
fn log_no_effect(config_dir: &std::path::Path, report: &LoadReport) {
    let Some(line) = crate::conf::no_effect_summary(&report.no_effect, config_dir) else {
        return;
    };
    if crate::bootstrap::any_written_by_user(
        config_dir,
        report.no_effect.iter().map(|n| n.file.as_path()),
    ) {
        tracing::warn!(target: "moat::conf", "{line}");
    } else {
        tracing::info!(target: "moat::conf", "{line}");
    }
}
