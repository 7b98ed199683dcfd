//! Decides whether a test that needs an outside program, root or Docker can
//! run here. Locally a missing peer skips the test loudly; under CI
//! (`CI=true`) it fails the test, because CI installs every peer.
//!
//! Include it with `#[path = "support/env.rs"] mod env;`.
#![allow(dead_code)]

use std::path::PathBuf;

/// `true` when running under CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Finds `name` on PATH (or in /usr/sbin, /sbin for daemons like `named`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"])
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file());
    found
}

/// Returns the program's path, or `None` after printing a loud SKIP line.
/// Panics under CI, where a missing peer is a broken CI script.
pub fn require_program(test: &str, name: &str) -> Option<PathBuf> {
    match find_program(name) {
        Some(p) => Some(p),
        None => skip(test, &format!("`{name}` is not installed")),
    }
}

/// `true` when running as root; otherwise a loud SKIP (a panic under CI).
pub fn require_root(test: &str) -> bool {
    // SAFETY-free: geteuid via the id command keeps tests free of unsafe code.
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim() == "0")
        .unwrap_or(false);
    uid || skip::<()>(test, "not running as root").is_some()
}

/// `true` when a Docker engine answers; otherwise a loud SKIP (a panic under CI).
pub fn require_docker(test: &str) -> bool {
    let ok = std::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok || skip::<()>(test, "no Docker engine answers").is_some()
}

/// `true` when `available`; otherwise a loud SKIP saying `why` (a panic
/// under CI). For peers that are not a program: an IPv6 loopback, an nginx
/// module, root for a part of a test.
pub fn require(test: &str, available: bool, why: &str) -> bool {
    available || skip::<()>(test, why).is_some()
}

fn skip<T>(test: &str, why: &str) -> Option<T> {
    if in_ci() {
        panic!("{test}: {why}, and CI=true forbids skipping: fix .ci/run");
    }
    eprintln!("\n*** SKIP {test}: {why} ***\n");
    None
}
