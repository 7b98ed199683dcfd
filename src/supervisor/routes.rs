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
