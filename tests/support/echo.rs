//! Starts `moat-echo` (the JSON echo test backend) as a child process and
//! waits for its `listening on ...` lines. The child is killed on drop.
//!
//! Include it with `#[path = "support/echo.rs"] mod echo;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `moat-echo`.
pub struct Echo {
    child: Child,
    /// Plain HTTP listeners, in the order given.
    pub plain: Vec<SocketAddr>,
    /// TLS listeners, in the order given.
    pub tls: Vec<SocketAddr>,
}

impl Echo {
    /// Runs `moat-echo` with `args` (e.g. `["--listen", "127.0.0.1:0"]`) and
    /// waits up to 10 s until every listener is bound.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Echo {
        let expected = args
            .iter()
            .filter(|a| **a == "--listen" || **a == "--tls-listen")
            .count()
            + envs
                .iter()
                .filter(|(k, _)| *k == "ECHO_LISTEN")
                .map(|(_, v)| v.split([',', ' ']).filter(|s| !s.is_empty()).count())
                .sum::<usize>();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_moat-echo"));
        cmd.args(args)
            .arg("--stdin-lifeline")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env_remove("ECHO_LISTEN");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("moat-echo starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut echo = Echo {
            child,
            plain: vec![],
            tls: vec![],
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while echo.plain.len() + echo.tls.len() < expected {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!("moat-echo did not report {expected} listeners in 10 s")
            });
            let mut words = line.split_whitespace();
            if let (Some("listening"), Some("on"), Some(addr)) =
                (words.next(), words.next(), words.next())
            {
                let addr: SocketAddr = addr.parse().expect("moat-echo prints ADDR:PORT");
                if words.next() == Some("tls") {
                    echo.tls.push(addr);
                } else {
                    echo.plain.push(addr);
                }
            }
        }
        echo
    }

    /// The first plain listener.
    pub fn addr(&self) -> SocketAddr {
        self.plain[0]
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
