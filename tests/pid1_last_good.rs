//! A conf broken while moat was stopped: moat serves the last tree that
//! loaded (kept under /config/nginx/.moat-last-good), says so in its log,
//! in `/health` (`degraded`, still 200) and in `moat_config_state`; with no
//! good copy at all every request answers 503 naming the broken file and
//! line, and `/health` is unhealthy.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use foundation::{free_port, moat_bin, moat_command, stop_gracefully, temp_config, Running};

/// A tiny upstream answering every request with `from-app`; returns its port.
fn upstream() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nfrom-app",
            );
        }
    });
    port
}

fn app_conf(port: u16, extra: &str) -> String {
    format!(
        "server {{\n    listen 443 ssl;\n    server_name app.*;\n    include /config/nginx/ssl.conf;\n    \
         location / {{\n{extra}        proxy_pass http://127.0.0.1:{port};\n    }}\n}}\n"
    )
}

/// Status line and body of one plain HTTP GET.
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.lines().next().unwrap_or_default().to_string();
    let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or_default();
    (status, body.to_string())
}

/// `(status code, body)` of `https://app.test/` through moat.
fn app_get(curl: &Path, https: u16) -> (String, String) {
    let out = std::process::Command::new(curl)
        .args([
            "-sk",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "--resolve",
            &format!("app.test:{https}:127.0.0.1"),
        ])
        .arg(format!("https://app.test:{https}/"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (code.to_string(), body.to_string())
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn start(dir: &Path, https: u16, metrics: u16) -> Running {
    let moat = Running::spawn(moat_command(
        moat_bin(),
        dir,
        &[
            ("HTTPS_PORT", &https.to_string()),
            ("METRICS_ADDR", &format!("127.0.0.1:{metrics}")),
            ("PUID", "4321"),
            ("PGID", "4322"),
        ],
    ));
    moat.wait_for(&["proxy listening", "tls=true"], Duration::from_secs(20));
    moat
}

#[test]
fn a_tree_broken_while_stopped_serves_the_last_good_copy_degraded() {
    let test = "a_tree_broken_while_stopped_serves_the_last_good_copy_degraded";
    let Some(curl) = env::require_program(test, "curl") else {
        return;
    };
    let app_port = upstream();
    let tmp = temp_config();
    let (https, metrics) = (free_port(), free_port());
    let conf = tmp.path().join("nginx/proxy-confs/app.subdomain.conf");
    let mut moat = start(tmp.path(), https, metrics);
    std::fs::write(&conf, app_conf(app_port, "")).unwrap();
    moat.wait_for(
        &["configuration reloaded", "change under"],
        Duration::from_secs(10),
    );
    assert_eq!(app_get(&curl, https), ("200".into(), "from-app".into()));
    let copy = tmp
        .path()
        .join("nginx/.moat-last-good/nginx/proxy-confs/app.subdomain.conf");
    assert!(
        foundation::wait_until(Duration::from_secs(5), || std::fs::read_to_string(&copy)
            .is_ok_and(|t| t == app_conf(app_port, ""))),
        "the copy holds the conf that loaded"
    );
    // The copy belongs to PUID:PGID like the rest of /config (when moat
    // runs as root and can give it away).
    if is_root() {
        use std::os::unix::fs::MetadataExt;
        for p in [copy.clone(), tmp.path().join("nginx/.moat-last-good")] {
            let m = std::fs::metadata(&p).unwrap();
            assert_eq!((m.uid(), m.gid()), (4321, 4322), "{}", p.display());
        }
    }
    assert_eq!(
        moat.count_lines(&["configuration reloaded"]),
        2,
        "writing the copy is not a conf change:\n{}",
        moat.log()
    );
    stop_gracefully(&mut moat);

    // Broken while stopped: a typo on line 6.
    std::fs::write(&conf, app_conf(app_port, "        dney all;\n")).unwrap();
    let mut moat = start(tmp.path(), https, metrics);
    moat.wait_for(
        &["serving the last good copy from"],
        Duration::from_secs(10),
    );
    let log = moat.log();
    assert!(
        log.lines()
            .any(|l| l.contains("serving the last good copy from 20")
                && l.contains("app.subdomain.conf:6:")),
        "the log names file:line and the copy's time:\n{log}"
    );
    assert_eq!(
        app_get(&curl, https),
        ("200".into(), "from-app".into()),
        "the last good copy serves"
    );
    let (status, body) = http_get(metrics, "/health");
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        body.starts_with("degraded:") && body.contains("app.subdomain.conf:6:"),
        "{body}"
    );
    let (_, m) = http_get(metrics, "/metrics");
    assert!(
        m.contains("moat_config_state{state=\"last_good\"} 1"),
        "{m}"
    );
    assert!(
        std::fs::read_to_string(&copy).is_ok_and(|t| t == app_conf(app_port, "")),
        "the broken tree did not replace the copy"
    );

    // Fixed: the live tree serves again and health is back to ok.
    std::fs::write(&conf, app_conf(app_port, "")).unwrap();
    moat.wait_for(
        &["configuration reloaded", "change under"],
        Duration::from_secs(10),
    );
    let (_, body) = http_get(metrics, "/health");
    assert!(body.starts_with("ok"), "{body}");
    let (_, m) = http_get(metrics, "/metrics");
    assert!(m.contains("moat_config_state{state=\"current\"} 1"), "{m}");
    stop_gracefully(&mut moat);
}

#[test]
fn with_no_good_copy_every_request_gets_a_503_naming_the_broken_line() {
    let test = "with_no_good_copy_every_request_gets_a_503_naming_the_broken_line";
    let Some(curl) = env::require_program(test, "curl") else {
        return;
    };
    let app_port = upstream();
    let tmp = temp_config();
    let conf = tmp.path().join("nginx/proxy-confs/app.subdomain.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, app_conf(app_port, "        retrun 200;\n")).unwrap();
    let (https, metrics) = (free_port(), free_port());
    let mut moat = start(tmp.path(), https, metrics);
    moat.wait_for(&["there is no good copy"], Duration::from_secs(10));
    let (code, body) = app_get(&curl, https);
    assert_eq!(code, "503", "{body}");
    assert!(
        body.contains("app.subdomain.conf:6:") && body.contains("unknown directive \"retrun\""),
        "the page names the broken file and line: {body}"
    );
    let (status, body) = http_get(metrics, "/health");
    assert!(status.contains(" 503 "), "{status} {body}");
    assert!(body.starts_with("unhealthy:"), "{body}");
    let (_, m) = http_get(metrics, "/metrics");
    assert!(m.contains("moat_config_state{state=\"broken\"} 1"), "{m}");
    assert!(
        !tmp.path().join("nginx/.moat-last-good").exists(),
        "a broken tree is never kept as the good copy"
    );
    stop_gracefully(&mut moat);
}
