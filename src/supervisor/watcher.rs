//! Notices edits under `/config/nginx` and asks for a reload.
//!
//! inotify (through the `notify` crate) wakes the watcher as soon as a file
//! changes; a periodic walk backs it up for trees where events never arrive
//! (NFS and some VM-shared bind mounts) or where inotify watches run out.
//! Either way the decision is made by comparing a fingerprint (path, size,
//! mtime, inode of every file; `*.sample` files, moat's temp files and the
//! last-good copy moat keeps left out), taken again until the tree has been
//! still for a moment, so an editor's several writes give one reload and a
//! sample refresh gives none.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::events::{Event, EventSender};
use super::service::Shutdown;

/// How often the tree is compared when inotify is unavailable.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How often the tree is compared anyway while inotify is watching it.
const BACKUP_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// How deep the walk goes (guards against symlink loops).
const MAX_DEPTH: usize = 8;

/// One file's identity at one moment.
type Entry = (PathBuf, u64, i128, u64);

/// A comparable snapshot of the tree under `dir`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<Entry>);

impl Fingerprint {
    /// Walks `dir` (following symlinks, as the loader does).
    pub fn of(dir: &Path) -> Self {
        let mut entries = Vec::new();
        walk(dir, 0, &mut entries);
        entries.sort();
        Fingerprint(entries)
    }
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<Entry>) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in read.flatten() {
        // The name is tested before the path is built: most of a SWAG
        // tree's files are samples, left out.
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".sample")
            || name.contains(".moat-tmp-")
            || super::last_good::is_copy(&name)
        {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            // A dangling link: its presence still matters to `include`.
            out.push((path, 0, 0, 0));
            continue;
        };
        if meta.is_dir() {
            if depth < MAX_DEPTH {
                walk(&path, depth + 1, out);
            }
            continue;
        }
        use std::os::unix::fs::MetadataExt;
        let mtime = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        out.push((path, meta.len(), mtime, meta.ino()));
    }
}

/// inotify events for `dir` and below that may change the tree, as
/// wake-ups carrying the paths they name (the watcher must be kept alive as
/// long as events are wanted). `None` when inotify cannot watch it (no
/// instances or watches left, unsupported filesystem).
pub(super) fn inotify_wakeups(
    dir: &Path,
) -> Option<(
    notify::RecommendedWatcher,
    tokio::sync::mpsc::UnboundedReceiver<Vec<PathBuf>>,
)> {
    use notify::Watcher as _;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if may_change(&event.kind) {
                let _ = tx.send(event.paths);
            }
        }
    })
    .map_err(|e| tracing::warn!(error = %e, "inotify unavailable; polling the confs every second"))
    .ok()?;
    watcher
        .watch(dir, notify::RecursiveMode::Recursive)
        .map_err(|e| tracing::warn!(dir = %dir.display(), error = %e, "inotify cannot watch the confs; polling every second"))
        .ok()?;
    Some((watcher, rx))
}

/// Whether an event can mean the tree changed. notify also reports opens
/// and reads (inotify's IN_OPEN, IN_CLOSE_NOWRITE): the watcher's own walk
/// opens every directory, so waking on those made it walk again at once,
/// about twenty times a second for as long as moat ran. A write is still
/// seen by its modify and its close-after-write.
fn may_change(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Watches `dir` until shutdown, sending [`Event::Reload`] after each change
/// once the tree has been still for one short check (editors write in steps).
pub async fn watch_confs(
    dir: PathBuf,
    events: EventSender,
    shutdown: Shutdown,
    initial: Option<Fingerprint>,
) {
    let fingerprint = |dir: PathBuf| async move {
        tokio::task::spawn_blocking(move || Fingerprint::of(&dir))
            .await
            .unwrap_or_default()
    };
    // What the table was built from when known: a change made between
    // that load and this task's start is still a change.
    let mut last = match initial {
        Some(tree) => tree,
        None => fingerprint(dir.clone()).await,
    };
    let (_watcher, mut wakeups) = match inotify_wakeups(&dir) {
        Some((watcher, rx)) => (Some(watcher), Some(rx)),
        None => (None, None),
    };
    let poll = if wakeups.is_some() {
        BACKUP_POLL_INTERVAL
    } else {
        POLL_INTERVAL
    };
    loop {
        tokio::select! {
            _ = shutdown.requested() => return,
            woke = async { wakeups.as_mut()?.recv().await }, if wakeups.is_some() => {
                if woke.is_none() {
                    wakeups = None;
                }
                // Let the writer finish its burst; collapse the events.
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Some(rx) = wakeups.as_mut() {
                    while rx.try_recv().is_ok() {}
                }
            }
            _ = tokio::time::sleep(poll) => {}
        }
        let mut now = fingerprint(dir.clone()).await;
        if now == last {
            continue;
        }
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let again = fingerprint(dir.clone()).await;
            if again == now {
                break;
            }
            now = again;
        }
        last = now;
        if events
            .send(Event::Reload(format!("change under {}", dir.display())))
            .is_err()
        {
            return;
        }
    }
}
