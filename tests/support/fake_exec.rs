//! A fake DNS hook program for the `exec` provider: a shell script that
//! appends every call (its arguments and the `API_TOKEN` variable it got) to
//! a log file, prints the token (so tests can check it is redacted), and
//! exits with a chosen status, optionally after waiting for a `sleep` it
//! starts (whose process id it records, so tests can see what a timeout
//! killed).
//!
//! Include with `#[path = "support/fake_exec.rs"] mod fake_exec;`.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A written hook and the log it appends to.
pub struct FakeHook {
    /// The program.
    pub path: PathBuf,
    log: PathBuf,
    pids: PathBuf,
}

impl FakeHook {
    /// Writes the hook into `dir`: exit `status` after `sleep` seconds.
    pub fn write(dir: &Path, name: &str, status: u8, sleep: u32) -> FakeHook {
        let path = dir.join(name);
        let log = dir.join(format!("{name}.calls"));
        let pids = dir.join(format!("{name}.pids"));
        let script = format!(
            "#!/bin/sh\necho \"$1 $2 $3 token=$API_TOKEN\" >> '{}'\necho \"using token $API_TOKEN for $2\"\necho 'some diagnostics' >&2\nsleep {sleep} &\necho $! >> '{}'\nwait $!\nexit {status}\n",
            log.display(),
            pids.display()
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeHook { path, log, pids }
    }

    /// The process id of each `sleep` the hook started.
    pub fn sleeps(&self) -> Vec<i32> {
        std::fs::read_to_string(&self.pids)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Every call so far, one line each: `<action> <fqdn.> <value> token=<API_TOKEN>`.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}
