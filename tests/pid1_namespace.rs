//! moat as PID 1 of a fresh PID namespace (`unshare --pid --fork
//! --mount-proc`), the way it runs in a container: orphans are reaped,
//! SIGTERM stops it with exit 0 within the grace period, SIGHUP reloads.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;

use std::process::Command;
use std::time::{Duration, Instant};

use foundation::{
    children_of, moat_bin, moat_command, send_signal, temp_config, wait_until, Running,
};
use nix::sys::signal::Signal;

/// moat running as PID 1 inside its own PID namespace.
struct Pid1 {
    run: Running,
    /// moat's pid as seen from the test (outside the namespace).
    pid: u32,
    _config: tempfile::TempDir,
}

fn start_pid1(test: &str, envs: &[(&str, &str)]) -> Option<Pid1> {
    if !env::require_root(test) {
        return None;
    }
    let unshare = env::require_program(test, "unshare")?;
    env::require_program(test, "nsenter")?;
    // Root is not enough inside a container: Docker's default seccomp
    // profile and dropped CAP_SYS_ADMIN refuse new namespaces (the
    // fresh-machine replay runs the suite in one).
    let probe = std::process::Command::new(&unshare)
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .output();
    let (ok, why) = match probe {
        Ok(out) => (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ),
        Err(e) => (false, e.to_string()),
    };
    let why = format!("cannot create a PID namespace here ({why})");
    if !env::require(test, ok, &why) {
        return None;
    }
    let config = temp_config();
    let mut cmd = moat_command(unshare.to_str().unwrap(), config.path(), envs);
    cmd.args(["--pid", "--fork", "--mount-proc", moat_bin(), "run"]);
    let run = Running::spawn(cmd);
    let unshare_pid = run.child.id();
    let mut pid = None;
    let found = wait_until(Duration::from_secs(10), || {
        pid = children_of(unshare_pid).first().map(|c| c.0);
        pid.is_some()
    });
    assert!(found, "unshare forked moat; log:\n{}", run.log());
    run.wait_for(&["supervisor running"], Duration::from_secs(20));
    // The log names moat's own pid: 1 inside the namespace.
    assert!(
        run.log()
            .lines()
            .any(|l| l.contains("signal handlers installed") && l.ends_with("pid=1")),
        "moat is PID 1:\n{}",
        run.log()
    );
    Some(Pid1 {
        run,
        pid: pid.unwrap(),
        _config: config,
    })
}

#[test]
fn orphans_left_in_the_namespace_are_reaped() {
    let Some(mut moat) = start_pid1("orphans_left_in_the_namespace_are_reaped", &[]) else {
        return;
    };
    // The shell starts three sleepers and exits at once: they are orphaned
    // and re-parented to the namespace's PID 1, moat.
    let status = Command::new("nsenter")
        .args(["--target", &moat.pid.to_string(), "--pid", "--"])
        .args(["sh", "-c", "for i in 1 2 3; do sleep 0.5 & done; exit 0"])
        .status()
        .expect("nsenter runs");
    assert!(status.success());

    let adopted = wait_until(Duration::from_secs(5), || {
        children_of(moat.pid)
            .iter()
            .filter(|c| c.2 == "sleep")
            .count()
            == 3
    });
    // Either we saw them adopted, or they already exited and were reaped;
    // what must never happen is a zombie child of moat.
    let clean = wait_until(Duration::from_secs(10), || children_of(moat.pid).is_empty());
    let left = children_of(moat.pid);
    assert!(
        clean,
        "children of moat (PID 1) remain, zombies are state Z: {left:?}; adopted seen: {adopted}"
    );
    assert!(
        adopted,
        "the orphans were re-parented to moat (test precondition)"
    );

    send_signal(moat.pid, Signal::SIGTERM);
    let status = moat
        .run
        .wait_exit(Duration::from_secs(10))
        .expect("moat stops");
    assert_eq!(status.code(), Some(0), "log:\n{}", moat.run.log());
}

#[test]
fn sigterm_stops_pid1_with_exit_zero_within_the_grace_period() {
    let grace = Duration::from_secs(3);
    let Some(mut moat) = start_pid1(
        "sigterm_stops_pid1_with_exit_zero_within_the_grace_period",
        &[("SHUTDOWN_GRACE", "3")],
    ) else {
        return;
    };
    let sent = Instant::now();
    send_signal(moat.pid, Signal::SIGTERM);
    let status = moat
        .run
        .wait_exit(grace + Duration::from_secs(3))
        .unwrap_or_else(|| panic!("moat did not stop; log:\n{}", moat.run.log()));
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(0), "exit 0; log:\n{}", moat.run.log());
    assert!(took < grace, "stopped in {took:?}, within the grace period");
    let log = moat.run.log();
    assert!(
        log.contains("signal=\"SIGTERM\""),
        "the stop is logged:\n{log}"
    );
}

#[test]
fn sighup_reloads_the_configuration() {
    let Some(mut moat) = start_pid1("sighup_reloads_the_configuration", &[]) else {
        return;
    };
    send_signal(moat.pid, Signal::SIGHUP);
    moat.run.wait_for(
        &["configuration reloaded", "reason=\"SIGHUP\""],
        Duration::from_secs(10),
    );
    send_signal(moat.pid, Signal::SIGHUP);
    moat.run.wait_for_lines(
        &["configuration reloaded", "reason=\"SIGHUP\""],
        2,
        Duration::from_secs(10),
    );
    assert!(
        moat.run.wait_exit(Duration::from_millis(1)).is_none(),
        "SIGHUP does not stop moat"
    );
    send_signal(moat.pid, Signal::SIGTERM);
    let status = moat
        .run
        .wait_exit(Duration::from_secs(10))
        .expect("moat stops");
    assert_eq!(status.code(), Some(0));
}
