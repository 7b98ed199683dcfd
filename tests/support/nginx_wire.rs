//! Debian's nginx as a wire oracle: an unprivileged foreground nginx on a
//! temp tree, and plain HTTP/1.1 probes sent from a chosen loopback address
//! (so nginx and moat see different clients). Used by the tests that run
//! the same server blocks in nginx and in the moat binary and compare what
//! comes back (`realip_nginx.rs`, `error_log_nginx.rs`).
//!
//! Include with `#[path = "support/nginx_wire.rs"] mod nginx_wire;` next to
//! `foundation.rs`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use crate::foundation;

/// The `HTTP_PORT` a `foundation::moat_command` gives the moat it starts.
pub fn moat_http_port(cmd: &std::process::Command) -> u16 {
    cmd.get_envs()
        .find(|(k, _)| *k == "HTTP_PORT")
        .and_then(|(_, v)| v)
        .and_then(|v| v.to_str())
        .and_then(|v| v.parse().ok())
        .expect("moat_command sets HTTP_PORT")
}

/// An `nginx.conf` for `root` (temp paths under `root/tmp`) with
/// `error_log <error_log>;` and `servers` inside `http {}`.
pub fn nginx_conf(root: &Path, error_log: &str, servers: &str) -> String {
    let tmp = root.join("tmp").display().to_string();
    format!(
        "daemon off;\nmaster_process off;\npid {tmp}/nginx.pid;\nerror_log {error_log};\nevents {{}}\nhttp {{\n access_log off;\n client_body_temp_path {tmp}/body;\n proxy_temp_path {tmp}/proxy;\n fastcgi_temp_path {tmp}/fcgi;\n uwsgi_temp_path {tmp}/uwsgi;\n scgi_temp_path {tmp}/scgi;\n{servers}\n}}\n"
    )
}

/// One plain HTTP/1.1 request from `from`; returns (status, echoed JSON).
pub fn ask(
    from: Ipv4Addr,
    to: SocketAddr,
    host: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> (u16, Option<serde_json::Value>) {
    let text = ask_raw(from, to, host, path, extra);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status from {to}: {text:?}"));
    let json = text.split_once("\r\n\r\n").and_then(|(_, body)| {
        // moat-echo answers with Content-Length; nginx may re-chunk.
        let start = body.find('{')?;
        let end = body.rfind('}')?;
        serde_json::from_str(&body[start..=end]).ok()
    });
    (status, json)
}

/// The same request; returns the whole response as text (lossy UTF-8).
pub fn ask_raw(
    from: Ipv4Addr,
    to: SocketAddr,
    host: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> String {
    ask_method_raw(from, to, "GET", host, path, extra)
}

/// [`ask_raw`] with another method, without a body.
pub fn ask_method_raw(
    from: Ipv4Addr,
    to: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> String {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    sock.connect_timeout(&to.into(), Duration::from_secs(5))
        .unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub fn header(json: &Option<serde_json::Value>, name: &str) -> String {
    json.as_ref()
        .and_then(|j| j["headers"].as_array())
        .and_then(|hs| {
            hs.iter()
                .find(|p| p[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        })
        .and_then(|p| p[1].as_str().map(str::to_owned))
        .unwrap_or_else(|| "<none>".into())
}

pub fn start_nginx(bin: &Path, root: &Path, port: u16) -> NginxChild {
    let conf = root.join("nginx/nginx.conf");
    let check = std::process::Command::new(bin)
        .args(["-t", "-p"])
        .arg(format!("{}/", root.display()))
        .arg("-c")
        .arg(&conf)
        .args(["-e", "stderr"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = std::process::Command::new(bin)
        .arg("-p")
        .arg(format!("{}/", root.display()))
        .arg("-c")
        .arg(&conf)
        .args(["-e", "stderr"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let n = NginxChild(child);
    assert!(
        foundation::wait_until(Duration::from_secs(15), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "nginx did not listen on {port}"
    );
    n
}

/// nginx, killed (by its PID) on drop.
pub struct NginxChild(std::process::Child);

impl Drop for NginxChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
