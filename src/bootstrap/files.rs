//! Writing under /config: atomic (temp file, fsync, rename, fsync of the
//! directory), with an explicit mode, owned by PUID:PGID when moat is root.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::error::BootstrapError;

/// Mode of private keys and credential files.
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of every other file moat writes.
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of the directories moat creates.
pub const DIR_MODE: u32 = 0o755;

/// Who should own what moat writes: `Some((uid, gid))` when running as root
/// (PUID/PGID), `None` to leave ownership as the process creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ownership(pub Option<(u32, u32)>);

impl Ownership {
    /// PUID:PGID when the process is root, otherwise no change of owner.
    pub fn for_ids(puid: u32, pgid: u32) -> Self {
        if nix::unistd::geteuid().is_root() {
            Ownership(Some((puid, pgid)))
        } else {
            Ownership(None)
        }
    }

    /// Applies the ownership to `path` (not following a symlink there).
    pub fn apply(&self, path: &Path) -> Result<(), BootstrapError> {
        if let Some((uid, gid)) = self.0 {
            std::os::unix::fs::lchown(path, Some(uid), Some(gid))
                .map_err(BootstrapError::io("chown", path))?;
        }
        Ok(())
    }

    /// Applies the ownership to `root` and everything below it, as SWAG's
    /// init does for /config (`lsiown -R`): links themselves, never what
    /// they point to, and never across into another tree through one. An
    /// entry that cannot be changed is skipped; the count is returned.
    pub fn apply_tree(&self, root: &Path) -> usize {
        if self.0.is_none() {
            return 0;
        }
        let mut failed = 0;
        let mut stack = vec![root.to_path_buf()];
        while let Some(path) = stack.pop() {
            if self.apply(&path).is_err() {
                failed += 1;
            }
            let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
            if is_dir {
                if let Ok(entries) = std::fs::read_dir(&path) {
                    stack.extend(entries.flatten().map(|e| e.path()));
                }
            }
        }
        failed
    }
}

/// Replaces `path` with `contents` all at once: readers see the old file or
/// the new one, never a mix, and a crash leaves no half-written file.
pub fn write_atomic(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Ownership,
) -> Result<(), BootstrapError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.moat-tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(BootstrapError::io("create", &tmp))?;
    let result = (|| {
        // The umask may have narrowed the mode; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(BootstrapError::io("chmod", &tmp))?;
        file.write_all(contents)
            .map_err(BootstrapError::io("write", &tmp))?;
        file.sync_all().map_err(BootstrapError::io("fsync", &tmp))?;
        owner.apply(&tmp)?;
        fs::rename(&tmp, path).map_err(BootstrapError::io("rename into place", path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(BootstrapError::io("fsync directory", dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `true` when something (even a dangling symlink) is at `path`.
pub fn exists_or_is_link(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Writes `path` only when nothing is there. Returns whether it wrote.
pub fn write_if_missing(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Ownership,
) -> Result<bool, BootstrapError> {
    if exists_or_is_link(path) {
        return Ok(false);
    }
    write_atomic(path, contents, mode, owner)?;
    Ok(true)
}

/// Writes `path` unless it already holds exactly `contents` (so unchanged
/// samples keep their mtime). Returns whether it wrote.
pub fn write_if_changed(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Ownership,
) -> Result<bool, BootstrapError> {
    if fs::read(path).map(|old| old == contents).unwrap_or(false) {
        return Ok(false);
    }
    write_atomic(path, contents, mode, owner)?;
    Ok(true)
}

/// Creates `path` (one level) when missing. Returns whether it created it.
pub fn create_dir(path: &Path, owner: Ownership) -> Result<bool, BootstrapError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(false),
        Err(_) => {
            fs::create_dir(path).map_err(BootstrapError::io("create directory", path))?;
            fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE))
                .map_err(BootstrapError::io("chmod", path))?;
            owner.apply(path)?;
            Ok(true)
        }
    }
}
