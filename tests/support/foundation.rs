//! Runs the built `moat` binary for the foundation tests: a temp /config,
//! free loopback ports, a clean environment, and its log collected so tests
//! can wait for a line (with a deadline) instead of sleeping.
//!
//! Include it with `#[path = "support/foundation.rs"] mod foundation;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The moat binary under test.
pub fn moat_bin() -> &'static str {
    env!("CARGO_BIN_EXE_moat")
}

/// A loopback port that was free a moment ago (below the ephemeral range).
pub fn free_port() -> u16 {
    stable_tcp_port()
}

include!("ports.rs");

/// A `moat` command with only PATH inherited, CONFIG_DIR set and free ports
/// (the metrics endpoint's too, so parallel tests never share one), and
/// the fail2ban jails off: tests send failures from 127.0.0.x clients on
/// purpose and must not be banned for it. Tests of the jails pass
/// `("DISABLE_F2B", "false")`. Docker discovery is off (`DOCKER_HOST=off`):
/// a moat that is PID 1 of a namespace would otherwise read this
/// machine's Docker and publish other tests' labelled containers.
pub fn moat_command(program: &str, config_dir: &Path, envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CONFIG_DIR", config_dir)
        .env("HTTP_PORT", free_port().to_string())
        .env("HTTPS_PORT", free_port().to_string())
        .env("METRICS_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("DISABLE_F2B", "true")
        .env("DOCKER_HOST", "off");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// The value `cmd` sets for `name` (the ports [`moat_command`] picked).
pub fn command_env(cmd: &Command, name: &str) -> String {
    cmd.get_envs()
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v)
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_else(|| panic!("{name} is not set for the command"))
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running process whose stdout and stderr are collected.
pub struct Running {
    /// The child (for `unshare`, the unshare process).
    pub child: Child,
    log: Arc<Mutex<String>>,
    started: Instant,
}

impl Running {
    /// Spawns `cmd` with piped output.
    pub fn spawn(mut cmd: Command) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn moat");
        let log = Arc::new(Mutex::new(String::new()));
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("piped"));
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("piped"));
        for stream in [out, err] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        Running {
            child,
            log,
            started: Instant::now(),
        }
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// How many log lines contain every one of `needles`.
    pub fn count_lines(&self, needles: &[&str]) -> usize {
        self.log()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    /// Waits until at least `n` log lines contain all `needles`; panics with
    /// the log after `timeout`.
    pub fn wait_for_lines(&self, needles: &[&str], n: usize, timeout: Duration) {
        if !wait_until(timeout, || self.count_lines(needles) >= n) {
            panic!(
                "no {n} log line(s) with {needles:?} within {timeout:?}; log:\n{}",
                self.log()
            );
        }
    }

    /// Waits until a log line contains all `needles`.
    pub fn wait_for(&self, needles: &[&str], timeout: Duration) {
        self.wait_for_lines(needles, 1, timeout)
    }

    /// Waits for the process to exit; `None` after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Time since spawn.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// SIGTERM, then moat must exit 0 within 10 s (the graceful stop).
pub fn stop_gracefully(moat: &mut Running) {
    send_signal(moat.child.id(), nix::sys::signal::Signal::SIGTERM);
    assert_eq!(
        moat.wait_exit(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0),
        "graceful stop; log:\n{}",
        moat.log()
    );
}

/// The first certificate in PEM `text`, whitespace removed, for comparing
/// what was served with what is on disk.
pub fn first_pem(text: &str) -> Option<String> {
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let end = text[start..].find("-----END CERTIFICATE-----")? + start;
    Some(text[start..end].split_whitespace().collect())
}

/// The leaf certificate (as [`first_pem`] gives it) curl is served for
/// `host` on 127.0.0.1:`https_port`, unverified; `None` when the handshake
/// fails. curl is a real TLS client that moat's code never shares.
pub fn served_leaf(https_port: u16, host: &str) -> Option<String> {
    let out = Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "--max-time",
            "10",
            "-w",
            "%{certs}",
        ])
        .arg("--resolve")
        .arg(format!("{host}:{https_port}:127.0.0.1"))
        .arg(format!("https://{host}:{https_port}/"))
        .output()
        .ok()?;
    first_pem(&String::from_utf8_lossy(&out.stdout))
}

/// Sends `signal` to `pid`.
pub fn send_signal(pid: u32, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal)
        .unwrap_or_else(|e| panic!("kill -{signal} {pid}: {e}"));
}

/// `(pid, ppid, state, comm)` of every process visible in /proc.
pub fn processes() -> Vec<(u32, u32, char, String)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ..."; comm may contain spaces and ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = rest.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        out.push((pid, ppid, state, comm));
    }
    out
}

/// Children of `parent` as `(pid, state, comm)`.
pub fn children_of(parent: u32) -> Vec<(u32, char, String)> {
    processes()
        .into_iter()
        .filter(|(_, ppid, _, _)| *ppid == parent)
        .map(|(pid, _, state, comm)| (pid, state, comm))
        .collect()
}

/// A fresh temp directory for a /config volume (removed on drop).
pub fn temp_config() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("moat-foundation-")
        .tempdir()
        .expect("temp dir")
}

/// The path of a file under a config dir.
pub fn at(dir: &Path, rel: &str) -> PathBuf {
    dir.join(rel)
}
