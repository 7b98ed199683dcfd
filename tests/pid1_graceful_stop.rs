//! SIGTERM while a request is in flight: moat stops accepting connections,
//! lets the request finish (within SHUTDOWN_GRACE), then exits 0.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use foundation::{
    free_port, moat_bin, moat_command, send_signal, temp_config, wait_until, Running,
};
use nix::sys::signal::Signal;

#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits_zero() {
    let Some(curl) = env::require_program(
        "sigterm_lets_an_in_flight_request_finish_then_exits_zero",
        "curl",
    ) else {
        return;
    };
    // An upstream that answers only when the test says so.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_port = upstream.local_addr().unwrap().port();
    let (arrived_tx, arrived_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut conn, _) = upstream.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                return;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        arrived_tx.send(()).unwrap();
        let _ = go_rx.recv();
        let body = "slow-done";
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });

    let tmp = temp_config();
    let confs = tmp.path().join("nginx/proxy-confs");
    std::fs::create_dir_all(&confs).unwrap();
    std::fs::write(
        confs.join("slow.subdomain.conf"),
        format!(
            "server {{\n    listen 443 ssl;\n    server_name slow.*;\n    include /config/nginx/ssl.conf;\n    \
             location / {{\n        include /config/nginx/proxy.conf;\n        proxy_pass http://127.0.0.1:{upstream_port};\n    }}\n}}\n"
        ),
    )
    .unwrap();
    let https = free_port();
    let mut moat = Running::spawn(moat_command(
        moat_bin(),
        tmp.path(),
        &[("HTTPS_PORT", &https.to_string()), ("SHUTDOWN_GRACE", "5")],
    ));
    moat.wait_for(&["proxy listening", "tls=true"], Duration::from_secs(20));

    let client = std::thread::spawn(move || {
        Command::new(curl)
            .args([
                "-sk",
                "--max-time",
                "20",
                "--resolve",
                &format!("slow.test:{https}:127.0.0.1"),
            ])
            .arg(format!("https://slow.test:{https}/"))
            .output()
            .unwrap()
    });
    arrived_rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("the request reached the upstream; log:\n{}", moat.log()));

    send_signal(moat.child.id(), Signal::SIGTERM);
    moat.wait_for(&["stopping", "SIGTERM"], Duration::from_secs(5));
    let refused = wait_until(Duration::from_secs(3), || {
        TcpStream::connect(("127.0.0.1", https)).is_err()
    });
    assert!(refused, "no new connections once stopping");
    assert!(
        moat.wait_exit(Duration::from_millis(1)).is_none(),
        "moat waits for the request"
    );

    go_tx.send(()).unwrap();
    let out = client.join().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "slow-done",
        "the in-flight request finished"
    );
    let status = moat
        .wait_exit(Duration::from_secs(6))
        .unwrap_or_else(|| panic!("moat did not exit; log:\n{}", moat.log()));
    assert_eq!(status.code(), Some(0));
}
