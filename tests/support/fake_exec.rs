//! A fake DNS hook program for the `exec` provider: a shell script that
//! appends every call (its arguments and the `API_TOKEN` variable it got) to
//! a log file, prints the token (so tests can check it is redacted), and
//! exits with a chosen status, optionally after sleeping.
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
}

impl FakeHook {
    /// Writes the hook into `dir`: exit `status` after `sleep` seconds.
    pub fn write(dir: &Path, name: &str, status: u8, sleep: u32) -> FakeHook {
        let path = dir.join(name);
        let log = dir.join(format!("{name}.calls"));
        let script = format!(
            "#!/bin/sh\necho \"$1 $2 $3 token=$API_TOKEN\" >> '{}'\necho \"using token $API_TOKEN for $2\"\necho 'some diagnostics' >&2\nsleep {sleep}\nexit {status}\n",
            log.display()
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeHook { path, log }
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
