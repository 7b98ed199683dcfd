//! moat's own children (deploy hooks) keep their exit status even while the
//! PID 1 reaper collects every zombie with `waitpid(-1)`.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moat::supervisor::{reap_zombies, run_command};

#[test]
fn run_command_keeps_status_and_output_while_the_reaper_runs() {
    let stop = Arc::new(AtomicBool::new(false));
    let reaper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut reaped = 0;
            while !stop.load(Ordering::Relaxed) {
                reaped += reap_zombies();
                std::thread::yield_now();
            }
            reaped
        })
    };
    for i in 0..30 {
        let out = run_command(
            Command::new("sh").args([
                "-c",
                &format!("echo out{i}; echo err{i} >&2; exit {}", i % 4),
            ]),
            Duration::from_secs(10),
        )
        .expect("the command's status is not stolen by the reaper");
        assert_eq!(out.status.code(), Some(i % 4), "run {i}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("out{i}\n"));
        assert_eq!(String::from_utf8_lossy(&out.stderr), format!("err{i}\n"));
    }
    // Orphans (children nobody waits for) are still reaped.
    let orphan = Command::new("true").spawn().unwrap();
    let orphan_pid = orphan.id();
    drop(orphan);
    let gone = {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let state = std::fs::read_to_string(format!("/proc/{orphan_pid}/stat")).ok();
            if state.is_none() {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    stop.store(true, Ordering::Relaxed);
    let reaped = reaper.join().unwrap();
    assert!(reaped >= 1, "the reaper ran alongside ({reaped} reaped)");
    assert!(gone, "the orphan was reaped");
}

#[test]
fn run_command_kills_a_command_past_its_timeout() {
    let started = Instant::now();
    let err = run_command(Command::new("sleep").arg("30"), Duration::from_millis(200))
        .expect_err("timed out");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
