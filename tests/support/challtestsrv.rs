//! pebble-challtestsrv as a fake authoritative DNS server: started on free
//! loopback ports, killed on drop.
//!
//! Its `/set-txt` appends a value to a name (several values coexist), but
//! `/clear-txt` removes *every* value at the name: there is no per-value
//! delete. Fakes that must remove one value keep the authoritative list
//! themselves and re-publish the remaining values after a clear (see
//! [`ChallTestSrv::publish`]).
//!
//! Include with `#[path = "support/challtestsrv.rs"] mod challtestsrv;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running pebble-challtestsrv.
pub struct ChallTestSrv {
    /// `None` when attached to one started elsewhere (e.g. pebble's).
    child: Option<Child>,
    /// DNS (UDP and TCP) address.
    pub dns: SocketAddr,
    /// Management API address (`/set-txt`, `/clear-txt`).
    pub management: SocketAddr,
    http: reqwest::Client,
}

fn free_port() -> u16 {
    // A port free for TCP is almost always free for UDP too; the start-up
    // check below catches the rare clash.
    stable_tcp_port()
}

include!("ports.rs");

impl ChallTestSrv {
    /// Starts one at `program` (`/usr/bin/pebble-challtestsrv`) and waits
    /// until its management API answers.
    pub async fn start(program: &std::path::Path) -> ChallTestSrv {
        // reqwest is built without a default crypto provider (moat installs ring).
        let _ = rustls::crypto::ring::default_provider().install_default();
        for _ in 0..5 {
            let dns: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let management: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let mut child = Command::new(program)
                .args([
                    "-dns01",
                    &dns.to_string(),
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                ])
                .args(["-management", &management.to_string(), "-defaultIPv6", ""])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start pebble-challtestsrv");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: a port clash; try other ports
                }
                if tokio::net::TcpStream::connect(management).await.is_ok()
                    && tokio::net::TcpStream::connect(dns).await.is_ok()
                {
                    return ChallTestSrv {
                        child: Some(child),
                        dns,
                        management,
                        http: reqwest::Client::new(),
                    };
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("pebble-challtestsrv did not start");
    }

    /// Uses a challtestsrv started elsewhere (e.g. by `support/pebble.rs`,
    /// so pebble's `-dnsserver` sees what a fake publishes). Not killed on
    /// drop: its owner stops it.
    pub fn attach(dns: SocketAddr, management: SocketAddr) -> ChallTestSrv {
        let _ = rustls::crypto::ring::default_provider().install_default();
        ChallTestSrv {
            child: None,
            dns,
            management,
            http: reqwest::Client::new(),
        }
    }

    /// Adds `value` at `host` (absolute, with the trailing dot).
    pub async fn set_txt(&self, host: &str, value: &str) {
        self.post("set-txt", serde_json::json!({"host": host, "value": value}))
            .await;
    }

    /// Removes every value at `host`.
    pub async fn clear_txt(&self, host: &str) {
        self.post("clear-txt", serde_json::json!({"host": host}))
            .await;
    }

    /// Makes `host` serve exactly `values`.
    pub async fn publish(&self, host: &str, values: &[String]) {
        self.clear_txt(host).await;
        for v in values {
            self.set_txt(host, v).await;
        }
    }

    async fn post(&self, path: &str, body: serde_json::Value) {
        let resp = self
            .http
            .post(format!("http://{}/{path}", self.management))
            .json(&body)
            .send()
            .await
            .expect("challtestsrv management answers");
        assert!(
            resp.status().is_success(),
            "challtestsrv /{path}: {}",
            resp.status()
        );
    }
}

impl Drop for ChallTestSrv {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
