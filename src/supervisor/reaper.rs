//! Zombie reaping, and waiting for the few processes moat starts itself.
//!
//! As PID 1, moat inherits every orphan in the container and must collect
//! its exit status, or `<defunct>` entries pile up. It reaps with
//! `waitpid(-1)`, which would also steal the status of a child some other
//! part of moat is waiting for. So moat's own children (deploy hooks) are
//! started and waited for only through [`run_command`]: the reaper records
//! their status instead of dropping it. Nothing else in moat may wait for a
//! child by pid (`std::process::Child::wait`, `tokio::process`).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Children started by [`run_command`] and the statuses reaped for them.
#[derive(Default)]
struct Children {
    watched: HashSet<i32>,
    exited: HashMap<i32, ExitStatus>,
}

static CHILDREN: Mutex<Option<Children>> = Mutex::new(None);
static EXITED: Condvar = Condvar::new();

fn children() -> MutexGuard<'static, Option<Children>> {
    // A panic while holding the lock leaves plain data behind: keep going.
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner())
}

fn exit_status(status: WaitStatus) -> Option<(i32, ExitStatus)> {
    match status {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), ExitStatus::from_raw(code << 8))),
        WaitStatus::Signaled(pid, signal, _) => {
            Some((pid.as_raw(), ExitStatus::from_raw(signal as i32)))
        }
        _ => None,
    }
}

/// Collects every child that has exited (any pid, without blocking) and
/// returns how many it reaped. Statuses of [`run_command`] children are kept
/// for their waiter; the others (orphans) are dropped.
pub fn reap_zombies() -> usize {
    let mut guard = children();
    let registry = guard.get_or_insert_with(Children::default);
    let mut reaped = 0;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => break,
            Ok(status) => {
                reaped += 1;
                tracing::debug!(?status, "reaped child process");
                if let Some((pid, exit)) = exit_status(status) {
                    if registry.watched.contains(&pid) {
                        registry.exited.insert(pid, exit);
                    }
                }
            }
            // ECHILD: no children left; EINTR: the next SIGCHLD retries.
            Err(_) => break,
        }
    }
    drop(guard);
    EXITED.notify_all();
    reaped
}

/// Runs `cmd` to completion with stdin closed and stdout/stderr captured,
/// killing it after `timeout`: the command and everything it started, as
/// it leads a process group of its own (a hook script's `curl` or `sleep`
/// must not outlive the timeout and keep its pipes open). Blocking: call it
/// from `spawn_blocking`. Safe alongside the reaper, with or without a
/// signal listener installed.
pub fn run_command(cmd: &mut Command, timeout: Duration) -> std::io::Result<Output> {
    use std::os::unix::process::CommandExt as _;
    cmd.process_group(0);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Spawn and register under the lock, so the reaper cannot collect the
    // child before it is known.
    let mut child = {
        let mut guard = children();
        let child = cmd.spawn()?;
        let registry = guard.get_or_insert_with(Children::default);
        registry.watched.insert(child.id() as i32);
        child
    };
    let pid = child.id() as i32;
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .map(|stream| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut s) = stream {
                let _ = s.read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    })
    .collect();

    let deadline = Instant::now() + timeout;
    let mut killed = false;
    let status = {
        let mut guard = children();
        loop {
            let registry = guard.get_or_insert_with(Children::default);
            if let Some(status) = registry.exited.remove(&pid) {
                registry.watched.remove(&pid);
                break status;
            }
            // No signal listener (e.g. a one-shot command): reap it ourselves.
            match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(status) => {
                    if let Some((_, exit)) = exit_status(status) {
                        registry.watched.remove(&pid);
                        break exit;
                    }
                }
                Err(e) => {
                    registry.watched.remove(&pid);
                    return Err(std::io::Error::from(e));
                }
            }
            if !killed && Instant::now() >= deadline {
                // The whole group: the leader is not reaped yet, so its
                // id still names this group alone.
                let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
                killed = true;
            }
            guard = EXITED
                .wait_timeout(guard, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    };
    // A background process the command left behind may hold the pipes open:
    // take what arrived within a second of the exit.
    let mut out = readers
        .into_iter()
        .map(|r| r.recv_timeout(Duration::from_secs(1)).unwrap_or_default());
    let stdout = out.next().unwrap_or_default();
    let stderr = out.next().unwrap_or_default();
    if killed {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("killed after {timeout:?}"),
        ));
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}
