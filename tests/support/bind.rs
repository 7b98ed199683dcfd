//! A real BIND 9 (`named`) serving `example.com` on a free loopback port from
//! a temporary directory, with TSIG keys allowed to update
//! `_acme-challenge.example.com` TXT. Killed on drop.
//!
//! Include with `#[path = "support/bind.rs"] mod bind;` (needs `env.rs` too).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The hmac-sha256 key of the reference vector (bytes 0x00..0x1f).
pub const SHA256_KEY: (&str, &str) = ("acme-key.", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
/// An hmac-md5 key (SWAG's default algorithm).
pub const MD5_KEY: (&str, &str) = ("md5-key.", "bW9hdC1tZDUta2V5LTE2Yg==");

/// A running named.
pub struct Bind {
    child: Child,
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    /// Its directory (zone, journal, log).
    pub dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    stable_tcp_port()
}

include!("ports.rs");

impl Bind {
    /// Starts `named` (at `program`) and waits until it answers SOA.
    pub async fn start(program: &std::path::Path) -> Bind {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path().display().to_string();
            let port = free_port();
            let conf = format!(
                r#"options {{ directory "{d}"; listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
  pid-file "{d}/named.pid"; recursion no; dnssec-validation no; notify no; }};
controls {{ }};
key "{k1}" {{ algorithm hmac-sha256; secret "{s1}"; }};
key "{k2}" {{ algorithm hmac-md5; secret "{s2}"; }};
zone "example.com" {{ type primary; file "{d}/example.com.zone";
  update-policy {{ grant {k1} name _acme-challenge.example.com. TXT; grant {k2} name _acme-challenge.example.com. TXT; }}; }};
"#,
                k1 = SHA256_KEY.0,
                s1 = SHA256_KEY.1,
                k2 = MD5_KEY.0,
                s2 = MD5_KEY.1
            );
            std::fs::write(dir.path().join("named.conf"), conf).unwrap();
            std::fs::write(
                dir.path().join("example.com.zone"),
                "$TTL 300\n@ IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 60\n@ IN NS ns.example.com.\nns IN A 127.0.0.1\nwww IN A 127.0.0.1\n",
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("named.log")).unwrap();
            let mut cmd = Command::new(program);
            cmd.arg("-c").arg(dir.path().join("named.conf")).arg("-g");
            if is_root() {
                cmd.args(["-u", "root"]);
            }
            let mut child = cmd
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .spawn()
                .expect("start named");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited (port clash or config error): retry
                }
                if soa_answers(addr).await {
                    return Bind { child, addr, dir };
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "named did not start:\n{}",
                std::fs::read_to_string(dir.path().join("named.log")).unwrap_or_default()
            );
        }
        panic!("named did not start");
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

async fn soa_answers(addr: SocketAddr) -> bool {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RecordType};
    let mut m = Message::query();
    m.metadata.id = 4242;
    m.add_query(Query::query(
        Name::from_ascii("example.com.").unwrap(),
        RecordType::SOA,
    ));
    let Ok(sock) = tokio::net::UdpSocket::bind("127.0.0.1:0").await else {
        return false;
    };
    if sock.send_to(&m.to_vec().unwrap(), addr).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 1500];
    matches!(
        tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await,
        Ok(Ok(_))
    )
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
