//! The route table in service and the one way it changes: a complete load
//! that succeeded. A failed load logs every error (`file:line: message`) and
//! leaves the previous table serving. When nothing has loaded yet (a tree
//! broken while moat was stopped), the last copy that loaded serves instead
//! ([`LastGood`]), and without one every request answers 503 naming the
//! broken file and line.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::last_good::LastGood;
use crate::conf::{ConfError, LoadReport, RouteTable};
use crate::proxy::{ConfigHealth, Health};

/// The route table shared with the proxy: readers `load()` a snapshot per
/// request; only [`RouteReloader`] stores a new one.
pub type SharedRoutes = Arc<ArcSwap<RouteTable>>;

/// Loads confs and swaps them into service.
pub struct RouteReloader {
    config_dir: PathBuf,
    routes: SharedRoutes,
    updates: watch::Sender<u64>,
    health: Health,
    last_good: Option<LastGood>,
    /// Set once the live confs have loaded; until then a failed load falls
    /// back to the last good copy.
    loaded: std::sync::atomic::AtomicBool,
    /// The conf tree as it was just before `load_now` read it, so the
    /// watcher compares later states with what the table was built from
    /// (an edit made before the watcher's first look is still a change).
    loaded_tree: std::sync::Mutex<Option<super::watcher::Fingerprint>>,
}

impl RouteReloader {
    /// A reloader for `config_dir`, starting with an empty table.
    pub fn new(config_dir: PathBuf) -> Self {
        RouteReloader {
            config_dir,
            routes: Arc::new(ArcSwap::from_pointee(RouteTable::empty())),
            updates: watch::channel(0).0,
            health: Health::new(),
            last_good: None,
            loaded: std::sync::atomic::AtomicBool::new(false),
            loaded_tree: std::sync::Mutex::new(None),
        }
    }

    /// Reports which configuration serves through `health`.
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// Keeps a copy of every tree that loads in `last_good`, and serves it
    /// when the tree is broken before anything has loaded.
    pub fn with_last_good(mut self, last_good: LastGood) -> Self {
        self.last_good = Some(last_good);
        self
    }

    /// The shared table, for services.
    pub fn routes(&self) -> SharedRoutes {
        self.routes.clone()
    }

    /// Subscribes to successful reloads.
    pub fn updates(&self) -> watch::Receiver<u64> {
        self.updates.subscribe()
    }

    /// The conf tree as `load_now` last read it (`None` before any), for
    /// the watcher's first comparison.
    pub fn loaded_tree(&self) -> Option<super::watcher::Fingerprint> {
        self.loaded_tree
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Loads now, on this thread. `true` when the new table is in service.
    pub fn load_now(&self, reason: &str) -> bool {
        let tree = super::watcher::Fingerprint::of(&self.config_dir.join("nginx"));
        *self.loaded_tree.lock().unwrap_or_else(|p| p.into_inner()) = Some(tree);
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
        use std::sync::atomic::Ordering;
        match result {
            Ok((table, report)) => {
                for warning in &report.warnings {
                    tracing::warn!(target: "moat::conf", "{warning}");
                }
                log_no_effect(&self.config_dir, &report);
                self.store(table);
                self.loaded.store(true, Ordering::Release);
                self.health.set_config(ConfigHealth::Current);
                if let Some(last) = &self.last_good {
                    if let Err(e) = last.save(&report.files) {
                        tracing::warn!(dir = %last.dir().display(), error = %e, "cannot keep a copy of the configuration");
                    }
                }
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
                if self.loaded.load(Ordering::Acquire) {
                    tracing::error!(
                        reason,
                        errors = errors.len(),
                        "configuration reload failed; keeping the previous configuration"
                    );
                } else {
                    self.fall_back(&errors);
                }
                false
            }
        }
    }

    /// Nothing has loaded and the live confs are broken: serve the last
    /// good copy, or else a table that answers 503 naming the problem.
    fn fall_back(&self, errors: &[ConfError]) {
        let problem = errors.first().map(|e| e.to_string()).unwrap_or_default();
        let copy = self.last_good.as_ref().and_then(|l| Some((l, l.load()?)));
        match copy {
            Some((last, Ok((table, _)))) => {
                let saved_at = last.saved_at().unwrap_or_else(|| "an unknown time".into());
                tracing::error!(
                    target: "moat::conf",
                    broken = %problem,
                    copy = %last.dir().display(),
                    "the configuration does not load; serving the last good copy from {saved_at}"
                );
                self.store(table);
                self.health
                    .set_config(ConfigHealth::LastGood { saved_at, problem });
            }
            other => {
                if let Some((last, Err(copy_errors))) = other {
                    tracing::error!(
                        target: "moat::conf",
                        copy = %last.dir().display(),
                        error = %copy_errors.first().map(|e| e.to_string()).unwrap_or_default(),
                        "the last good copy does not load either"
                    );
                }
                tracing::error!(
                    target: "moat::conf",
                    broken = %problem,
                    "the configuration does not load and there is no good copy; every request answers 503"
                );
                let mut page = String::from(
                    "moat cannot serve: its configuration does not load and there is no earlier copy to serve.\n",
                );
                for e in errors.iter().take(5) {
                    page.push_str(&format!("{e}\n"));
                }
                self.store(RouteTable::broken(page));
                self.health.set_config(ConfigHealth::Broken { problem });
            }
        }
    }

    fn store(&self, table: RouteTable) {
        self.routes.store(Arc::new(table));
        self.updates.send_modify(|n| *n += 1);
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
