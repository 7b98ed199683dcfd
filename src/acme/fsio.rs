//! Crash-safe file primitives: write-to-temp, fsync, rename; and symlink
//! replacement by renaming a fresh link over the old one.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::AcmeError;

/// Write `bytes` to `path` atomically with `mode`: a reader (or a restart
/// after `kill -9`) sees either the old content or the new, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AcmeError> {
    let dir = parent(path)?;
    fs::create_dir_all(dir).map_err(|e| AcmeError::io(dir, e))?;
    let tmp = tmp_name(path);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| AcmeError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| AcmeError::io(&tmp, e))?;
    // The umask may have narrowed `mode`; set it exactly.
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| AcmeError::io(&tmp, e))?;
    f.sync_all().map_err(|e| AcmeError::io(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| AcmeError::io(path, e))?;
    sync_dir(dir)
}

/// Make `link` a symlink to `target`, replacing whatever link or file was
/// there in one rename. A real directory in the way is moved aside to
/// `<link>.moat-old`.
pub fn symlink_atomic(target: &Path, link: &Path) -> Result<(), AcmeError> {
    let dir = parent(link)?;
    fs::create_dir_all(dir).map_err(|e| AcmeError::io(dir, e))?;
    if let Ok(md) = fs::symlink_metadata(link) {
        if md.is_dir() {
            let aside = link.with_extension("moat-old");
            let _ = fs::remove_dir_all(&aside);
            fs::rename(link, &aside).map_err(|e| AcmeError::io(link, e))?;
        } else if md.file_type().is_symlink() && fs::read_link(link).ok().as_deref() == Some(target)
        {
            return Ok(());
        }
    }
    let tmp = tmp_name(link);
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| AcmeError::io(&tmp, e))?;
    fs::rename(&tmp, link).map_err(|e| AcmeError::io(link, e))?;
    sync_dir(dir)
}

/// fsync a directory so renames inside it survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), AcmeError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AcmeError::io(dir, e))
}

/// Create `dir` (and parents) with `mode` when missing.
pub fn ensure_dir(dir: &Path, mode: u32) -> Result<(), AcmeError> {
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(|e| AcmeError::io(dir, e))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .map_err(|e| AcmeError::io(dir, e))?;
    }
    Ok(())
}

fn parent(path: &Path) -> Result<&Path, AcmeError> {
    path.parent()
        .ok_or_else(|| AcmeError::Internal(format!("{} has no parent", path.display())))
}

fn tmp_name(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.moat-tmp-{}", std::process::id()))
}
