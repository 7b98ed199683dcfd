//! Zombie reaping: as PID 1, moat inherits every orphan in the container and
//! must collect its exit status, or `<defunct>` entries pile up.
//!
//! Invariant for the rest of moat: no module waits for a child process by
//! pid (`std::process::Child::wait`), because the reaper may collect that
//! status first. moat spawns no child processes.

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Collects every child that has exited (any pid, without blocking) and
/// returns how many it reaped.
pub fn reap_zombies() -> usize {
    let mut reaped = 0;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => break,
            Ok(status) => {
                reaped += 1;
                tracing::debug!(?status, "reaped child process");
            }
            // ECHILD: no children left; EINTR: the next SIGCHLD retries.
            Err(_) => break,
        }
    }
    reaped
}
