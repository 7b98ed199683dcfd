//! What moat reports about the traffic it serves, through the real binary:
//! the access log (stdout and SWAG's `log/nginx/access.log`, combined or
//! JSON), the Prometheus endpoint on METRICS_ADDR (loopback, never the
//! public ports), and `moat health` asking the running instance.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use foundation::{command_env, moat_bin, moat_command, temp_config, wait_until, Running};

/// A running moat and the addresses it was given.
struct Instance {
    moat: Running,
    http_port: u16,
    metrics: String,
}

fn start(dir: &Path, envs: &[(&str, &str)]) -> Instance {
    let cmd = moat_command(moat_bin(), dir, envs);
    let env = |name: &str| command_env(&cmd, name);
    let (http_port, metrics) = (env("HTTP_PORT").parse().unwrap(), env("METRICS_ADDR"));
    let moat = Running::spawn(cmd);
    moat.wait_for(&["metrics endpoint listening"], Duration::from_secs(20));
    moat.wait_for(&["proxy listening"], Duration::from_secs(20));
    Instance {
        moat,
        http_port,
        metrics,
    }
}

/// One HTTP/1.1 request over plain TCP; returns the whole answer.
fn http(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

fn get(addr: &str, path: &str, host: &str) -> String {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: moat-test/1\r\nReferer: https://ref.example/\r\nConnection: close\r\n\r\n"),
    )
}

fn moat_health(metrics: &str) -> (i32, String) {
    let out = Command::new(moat_bin())
        .env_clear()
        .env("METRICS_ADDR", metrics)
        .arg("health")
        .output()
        .expect("run moat health");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn requests_are_logged_counted_and_health_asks_the_instance() {
    let tmp = temp_config();
    let mut i = start(tmp.path(), &[]);
    let http_addr = format!("127.0.0.1:{}", i.http_port);

    // Port 80: SWAG's default.conf redirects to https.
    let answer = get(&http_addr, "/a?b=c", "app.example.test");
    assert!(answer.starts_with("HTTP/1.1 301"), "{answer}");
    let answer = get(&http_addr, "/b", "app.example.test");
    assert!(answer.starts_with("HTTP/1.1 301"), "{answer}");

    // The access log file gets nginx's combined format.
    let access_log = tmp.path().join("log/nginx/access.log");
    let logged = || std::fs::read_to_string(&access_log).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(10), || logged().lines().count() >= 2),
        "access.log never got two lines: {:?}\nmoat log:\n{}",
        logged(),
        i.moat.log()
    );
    let first = logged().lines().next().unwrap().to_owned();
    let combined = regex::Regex::new(
        r#"^127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /a\?b=c HTTP/1\.1" 301 \d+ "https://ref\.example/" "moat-test/1"$"#,
    )
    .unwrap();
    assert!(
        combined.is_match(&first),
        "not nginx's combined format: {first}"
    );
    // ... and the same line reaches stdout (docker logs).
    i.moat
        .wait_for(&["\"GET /a?b=c HTTP/1.1\" 301"], Duration::from_secs(10));

    // The metrics endpoint counts both by server block and status, and
    // reports the served (self-signed default) certificate's expiry.
    let metrics = get(&i.metrics, "/metrics", "localhost");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("Content-Type: text/plain; version=0.0.4"));
    let redirects: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("moat_http_requests_total{") && l.contains("status=\"301\"}"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(redirects, 2, "{metrics}");
    let not_after: i64 = metrics
        .lines()
        .find(|l| l.starts_with("moat_certificate_not_after_timestamp_seconds{name=\"_default\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no expiry for the default certificate:\n{metrics}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        not_after > now,
        "the self-signed certificate is already expired?"
    );

    // The metrics port is not one of the public listeners, and they don't serve /metrics.
    let public = get(&http_addr, "/metrics", "app.example.test");
    assert!(!public.contains("moat_http_requests_total"), "{public}");
    assert!(i.metrics.starts_with("127.0.0.1:"));

    // `moat health` asks the instance: healthy while it serves...
    let (code, out) = moat_health(&i.metrics);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("healthy") && out.contains("proxy serving"),
        "{out}"
    );

    // ... unhealthy once it is gone.
    foundation::send_signal(i.moat.child.id(), nix::sys::signal::Signal::SIGTERM);
    assert!(i.moat.wait_exit(Duration::from_secs(15)).is_some());
    let (code, out) = moat_health(&i.metrics);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("unhealthy"), "{out}");
}

#[test]
fn json_access_log_goes_to_the_file_only_when_asked() {
    let tmp = temp_config();
    let i = start(
        tmp.path(),
        &[("LOG_FORMAT", "json"), ("ACCESS_LOG", "file")],
    );
    let http_addr = format!("127.0.0.1:{}", i.http_port);
    let answer = get(&http_addr, "/json?x=1", "app.example.test");
    assert!(answer.starts_with("HTTP/1.1 301"), "{answer}");

    let access_log = tmp.path().join("log/nginx/access.log");
    let logged = || std::fs::read_to_string(&access_log).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(10), || !logged().is_empty()),
        "no access log line; moat log:\n{}",
        i.moat.log()
    );
    let line: serde_json::Value =
        serde_json::from_str(logged().lines().next().unwrap()).expect("one JSON object per line");
    assert_eq!(line["status"], 301);
    assert_eq!(line["method"], "GET");
    assert_eq!(line["uri"], "/json?x=1");
    assert_eq!(line["host"], "app.example.test");
    assert_eq!(line["user_agent"], "moat-test/1");
    assert_eq!(line["remote_addr"], "127.0.0.1");
    assert!(line["request_time"].as_f64().is_some());
    assert!(line["server"]
        .as_str()
        .unwrap()
        .starts_with("default.conf:"));

    // ACCESS_LOG=file keeps access lines out of stdout: the process log
    // has moat's own JSON events but no request line.
    assert!(
        !i.moat.log().contains("/json?x=1"),
        "access line reached stdout:\n{}",
        i.moat.log()
    );
}

#[test]
fn a_bad_metrics_addr_or_access_log_is_refused_naming_the_variable() {
    let tmp = temp_config();
    for (var, value) in [("METRICS_ADDR", "localhost:x"), ("ACCESS_LOG", "sometimes")] {
        let out = moat_command(moat_bin(), tmp.path(), &[(var, value)])
            .arg("check")
            .output()
            .expect("run moat check");
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains(var) && text.contains(value), "{text}");
    }
}

#[test]
fn client_refusals_are_not_errors_and_an_upstream_failure_is_one_readable_line() {
    let tmp = temp_config();
    let confs = tmp.path().join("nginx/proxy-confs");
    std::fs::create_dir_all(&confs).unwrap();
    // A port nothing listens on: bound, then released.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        confs.join("fail.subdomain.conf"),
        format!(
            "server {{\n    listen 80;\n    server_name fail.example.test;\n    location /dead {{\n        proxy_pass http://127.0.0.1:{dead_port};\n    }}\n    location /gone {{\n        return 404;\n    }}\n}}\n"
        ),
    )
    .unwrap();
    let i = start(tmp.path(), &[]);
    let http_addr = format!("127.0.0.1:{}", i.http_port);

    let answer = get(&http_addr, "/gone", "fail.example.test");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let answer = get(&http_addr, "/dead/x", "fail.example.test");
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    i.moat
        .wait_for(&["request failed"], Duration::from_secs(10));

    let log = i.moat.log();
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request failed"))
        .collect();
    assert_eq!(failures.len(), 1, "one line per failure:\n{log}");
    let line = failures[0];
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("fail.subdomain.conf:4"),
        "names the location's file:line: {line}"
    );
    assert!(
        line.contains(&format!("upstream=http://127.0.0.1:{dead_port}/dead/x")),
        "names the upstream URL: {line}"
    );
    assert!(
        line.contains("refused the connection"),
        "the cause in words: {line}"
    );
    assert!(
        !log.contains("Fail to proxy"),
        "Pingora's own dump is not logged:\n{log}"
    );
    assert!(
        !log.lines().any(|l| l.contains("ERROR")),
        "neither a client's 404 nor an upstream failure is an ERROR:\n{log}"
    );
}

#[test]
fn tz_sets_the_offset_of_log_timestamps_and_of_the_access_log() {
    // Asia/Kolkata has no DST: +05:30 all year, so the assertion holds on
    // any date.
    let tmp = temp_config();
    let i = start(tmp.path(), &[("TZ", "Asia/Kolkata")]);
    let http_addr = format!("127.0.0.1:{}", i.http_port);
    let answer = get(&http_addr, "/tz", "app.example.test");
    assert!(answer.starts_with("HTTP/1.1 301"), "{answer}");
    i.moat
        .wait_for(&["\"GET /tz HTTP/1.1\" 301"], Duration::from_secs(10));
    let log = i.moat.log();
    let stamped =
        regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+05:30 +INFO ").unwrap();
    assert!(
        log.lines().any(|l| stamped.is_match(l)),
        "log lines are stamped in TZ, RFC 3339:\n{log}"
    );
    let access = regex::Regex::new(
        r#"\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0530\] "GET /tz HTTP/1.1" 301"#,
    )
    .unwrap();
    assert!(
        log.lines().any(|l| access.is_match(l)),
        "$time_local is in TZ:\n{log}"
    );

    // An unknown zone is said once, and times stay UTC.
    let tmp = temp_config();
    let i = start(tmp.path(), &[("TZ", "Mars/Olympus")]);
    let log = i.moat.log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("TZ=\"Mars/Olympus\" is neither")),
        "{log}"
    );
    assert!(
        log.lines().next().unwrap_or("").contains("Z "),
        "UTC stamps: {log}"
    );
}

/// A name server on loopback that answers every query with NXDOMAIN, in
/// place of Docker's 127.0.0.11 when a container is not running. Answers
/// until the test process ends.
fn nxdomain_server() -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind DNS");
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            // Header (12 bytes) and the question: labels up to the root's
            // zero byte, then type and class. Anything after it (EDNS) is
            // dropped, and the counts say so.
            let mut end = 12;
            while end < n && buf[end] != 0 {
                end += 1 + buf[end] as usize;
            }
            end += 5;
            if end > n {
                continue;
            }
            let mut reply = buf[..end].to_vec();
            reply[2] = 0x80 | (buf[2] & 0x01); // response, RD copied
            reply[3] = 0x80 | 3; // RA, NXDOMAIN
            reply[6..12].fill(0); // no answer, authority or additional records
            let _ = socket.send_to(&reply, from);
        }
    });
    addr
}

/// A conf whose only location proxies, SWAG-style, to a container name
/// that `dns` says does not exist; the location is at line 4.
fn unresolvable_upstream_conf(dir: &Path, dns: std::net::SocketAddr) {
    let confs = dir.join("nginx/proxy-confs");
    std::fs::create_dir_all(&confs).unwrap();
    std::fs::write(
        confs.join("gone.subdomain.conf"),
        format!(
            "server {{\n    listen 80;\n    server_name gone.example.test;\n    location / {{\n        resolver {dns} valid=30s;\n        set $upstream_app nosuch-app;\n        proxy_pass http://$upstream_app:8080;\n    }}\n}}\n"
        ),
    )
    .unwrap();
}

#[test]
fn an_upstream_name_that_does_not_resolve_is_said_once_in_words() {
    let tmp = temp_config();
    unresolvable_upstream_conf(tmp.path(), nxdomain_server());
    let i = start(tmp.path(), &[]);
    let http_addr = format!("127.0.0.1:{}", i.http_port);
    let answer = get(&http_addr, "/app", "gone.example.test");
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    i.moat
        .wait_for(&["request failed"], Duration::from_secs(10));

    let log = i.moat.log();
    let failures: Vec<&str> = log.lines().filter(|l| l.contains("nosuch-app")).collect();
    assert_eq!(
        failures.len(),
        1,
        "one line names the unresolved upstream:\n{log}"
    );
    let line = failures[0];
    assert!(
        line.contains("WARN") && line.contains("request failed"),
        "{line}"
    );
    assert!(
        line.contains("gone.subdomain.conf:4"),
        "names the location's file:line: {line}"
    );
    assert!(
        line.contains("upstream=http://nosuch-app:8080/app"),
        "names the upstream URL: {line}"
    );
    assert!(
        line.contains("cannot resolve nosuch-app: no such name"),
        "says the name does not resolve: {line}"
    );
    for dump in ["Query {", "query_type", "AAAA", "NetError", "ProtoError"] {
        assert!(
            !log.contains(dump),
            "no resolver debug dump ({dump}) anywhere in the log:\n{log}"
        );
    }
    assert!(
        !log.lines().any(|l| l.contains("ERROR")),
        "an unresolved upstream is not an ERROR:\n{log}"
    );
}

#[test]
fn json_upstream_failure_line_keeps_conf_upstream_and_cause_as_fields() {
    let tmp = temp_config();
    unresolvable_upstream_conf(tmp.path(), nxdomain_server());
    let i = start(tmp.path(), &[("LOG_FORMAT", "json")]);
    let http_addr = format!("127.0.0.1:{}", i.http_port);
    let answer = get(&http_addr, "/app", "gone.example.test");
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    i.moat
        .wait_for(&["request failed"], Duration::from_secs(10));

    let log = i.moat.log();
    let failures: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.contains("request failed"))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(failures.len(), 1, "one object per failure:\n{log}");
    let v = &failures[0];
    assert_eq!(v["level"], "WARN", "{v}");
    assert_eq!(v["message"], "request failed", "{v}");
    assert_eq!(v["status"], 502, "{v}");
    assert!(
        v["conf"]
            .as_str()
            .is_some_and(|c| c.ends_with("gone.subdomain.conf:4")),
        "conf field: {v}"
    );
    assert_eq!(v["upstream"], "http://nosuch-app:8080/app", "{v}");
    assert!(
        v["cause"]
            .as_str()
            .is_some_and(|c| c.starts_with("cannot resolve nosuch-app: no such name")),
        "cause field: {v}"
    );
}
