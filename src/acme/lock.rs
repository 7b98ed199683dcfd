//! `OrderLock`: one order at a time per `/config`, so a standalone
//! `moat renew` and the running instance never race on the same lineage.
//! A lock left by a killed process is detected by its pid and taken over.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::AcmeError;

/// Held while an order runs; removed on drop.
#[derive(Debug)]
pub struct OrderLock {
    path: PathBuf,
}

impl OrderLock {
    /// Take the lock at `path`, or fail naming the pid that holds it.
    pub fn acquire(path: &Path) -> Result<Self, AcmeError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| AcmeError::io(dir, e))?;
        }
        for _ in 0..3 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(Self {
                        path: path.to_owned(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(path)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid)
                            if pid != std::process::id()
                                && Path::new(&format!("/proc/{pid}")).exists() =>
                        {
                            return Err(AcmeError::Busy(format!(
                                "another moat process (pid {pid}) is ordering a certificate for this /config ({})",
                                path.display()
                            )));
                        }
                        _ => {
                            tracing::debug!(lock = %path.display(), "removing stale order lock");
                            let _ = fs::remove_file(path);
                        }
                    }
                }
                Err(e) => return Err(AcmeError::io(path, e)),
            }
        }
        Err(AcmeError::io(
            path,
            std::io::Error::other("could not take the order lock"),
        ))
    }
}

impl Drop for OrderLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
