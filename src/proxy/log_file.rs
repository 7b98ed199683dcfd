//! An append-only log file that follows logrotate: the file is reopened
//! when the inode at its path changes (logrotate's rename) or a write
//! fails, so rotation needs no signal. Shared by the access log and the
//! error log; errors are logged once per reopen attempt, never per line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the path is checked for having been rotated away.
const REOPEN_CHECK: Duration = Duration::from_secs(5);

/// One log file, opened on demand.
pub(super) struct LogFile {
    path: PathBuf,
    owner: Option<(u32, u32)>,
    /// Which log, for moat's own warnings.
    what: &'static str,
    file: Option<(File, u64)>,
    last_check: Instant,
}

impl LogFile {
    /// Opens (creating, with `owner` for a new file) `path` for appending.
    pub(super) fn open(path: PathBuf, owner: Option<(u32, u32)>, what: &'static str) -> Self {
        let mut f = LogFile {
            path,
            owner,
            what,
            file: None,
            last_check: Instant::now(),
        };
        f.reopen();
        f
    }

    /// Appends `batch`, reopening first if the file was rotated.
    pub(super) fn write(&mut self, batch: &[u8]) {
        if self.last_check.elapsed() >= REOPEN_CHECK {
            self.last_check = Instant::now();
            if self.rotated() {
                self.reopen();
            }
        }
        if let Some((file, _)) = &mut self.file {
            if let Err(e) = file.write_all(batch) {
                tracing::warn!(log = self.what, error = %e, "log write failed; reopening");
                self.reopen();
            }
        }
    }

    /// The file at the path is not the one we hold (renamed or removed).
    fn rotated(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Some((_, inode)) = &self.file else {
            return true;
        };
        std::fs::metadata(&self.path).map_or(true, |m| m.ino() != *inode)
    }

    fn reopen(&mut self) {
        self.file = match open_append(&self.path, self.owner) {
            Ok(opened) => Some(opened),
            Err(e) => {
                tracing::warn!(log = self.what, path = %self.path.display(), error = %e, "cannot open the log file");
                None
            }
        };
    }
}

fn open_append(path: &Path, owner: Option<(u32, u32)>) -> std::io::Result<(File, u64)> {
    use std::os::unix::fs::MetadataExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let existed = path.exists();
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    if let (false, Some((uid, gid))) = (existed, owner) {
        let _ = std::os::unix::fs::chown(path, Some(uid), Some(gid));
    }
    let inode = file.metadata()?.ino();
    Ok((file, inode))
}
