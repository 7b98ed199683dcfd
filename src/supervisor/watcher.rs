//! Notices edits under `/config/nginx` without inotify: every second it
//! compares a fingerprint (path, size, mtime, inode of every file, `*.sample`
//! files and moat's temp files left out) and asks for a reload on change.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::events::{Event, EventSender};
use super::service::Shutdown;

/// How often the tree is compared.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
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
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".sample") || name.contains(".moat-tmp-") {
            continue;
        }
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

/// Polls `dir` until shutdown, sending [`Event::Reload`] after each change
/// once the tree has been still for one short check (editors write in steps).
pub async fn watch_confs(dir: PathBuf, events: EventSender, shutdown: Shutdown) {
    let fingerprint = |dir: PathBuf| async move {
        tokio::task::spawn_blocking(move || Fingerprint::of(&dir))
            .await
            .unwrap_or_default()
    };
    let mut last = fingerprint(dir.clone()).await;
    loop {
        tokio::select! {
            _ = shutdown.requested() => return,
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
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
