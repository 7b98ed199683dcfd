//! The supervisor starts the proxy after the bootstrap: HTTPS is served with
//! the self-signed certificate at first start, and a port that cannot be
//! bound stops moat with exit 1 and the reason.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;

use std::process::Command;
use std::time::Duration;

use foundation::{free_port, moat_bin, moat_command, stop_gracefully, temp_config, Running};

#[test]
fn first_start_serves_https_with_the_self_signed_certificate() {
    let Some(curl) = env::require_program(
        "first_start_serves_https_with_the_self_signed_certificate",
        "curl",
    ) else {
        return;
    };
    let tmp = temp_config();
    let (http, https) = (free_port(), free_port());
    let mut moat = Running::spawn(moat_command(
        moat_bin(),
        tmp.path(),
        &[
            ("HTTP_PORT", &http.to_string()),
            ("HTTPS_PORT", &https.to_string()),
        ],
    ));
    moat.wait_for(
        &["proxy listening", &format!(":{https}"), "tls=true"],
        Duration::from_secs(20),
    );

    // The self-signed certificate is the one served: curl trusts it as CA.
    let out = Command::new(&curl)
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(tmp.path().join("keys/cert.crt"))
        .args(["--resolve", &format!("localhost:{https}:127.0.0.1")])
        .arg(format!("https://localhost:{https}/"))
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        body.contains("moat is running"),
        "the default page from /config/www: {body}"
    );

    let out = Command::new(&curl)
        .args([
            "-sS",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ])
        .arg(format!("http://127.0.0.1:{http}/some/path?q=1"))
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with("301 https://127.0.0.1"),
        "port 80 redirects: {line}"
    );
    assert!(line.ends_with("/some/path?q=1"), "{line}");

    stop_gracefully(&mut moat);
}

#[test]
fn a_port_that_cannot_be_bound_stops_moat_with_the_reason() {
    let tmp = temp_config();
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut moat = Running::spawn(moat_command(
        moat_bin(),
        tmp.path(),
        &[("HTTPS_PORT", &port.to_string())],
    ));
    let status = moat
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("moat keeps running; log:\n{}", moat.log()));
    assert_eq!(status.code(), Some(1), "log:\n{}", moat.log());
    let log = moat.log();
    assert!(
        log.lines()
            .any(|l| l.contains("fatal") && l.contains(&port.to_string())),
        "the reason names the port:\n{log}"
    );
}

/// `moat run` executes itself again, in the same process, with glibc's
/// per-thread cache enlarged (src/supervisor/allocator.rs); a
/// GLIBC_TUNABLES the user set for the cache is left as it is, and other
/// tunables they set are kept beside moat's. glibc parses the variable in
/// place, so `/proc/<pid>/environ` shows its first entry only; moat logs
/// the whole value it runs with.
#[test]
fn moat_runs_with_the_larger_allocator_cache_in_the_same_process() {
    let cases = [
        (None, "glibc.malloc.tcache_count=128"),
        (
            Some("glibc.malloc.tcache_count=9"),
            "glibc.malloc.tcache_count=9",
        ),
        (
            Some("glibc.malloc.arena_max=2"),
            "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=128",
        ),
    ];
    for (set, expected) in cases {
        let tmp = temp_config();
        let mut cmd = moat_command(moat_bin(), tmp.path(), &[]);
        if let Some(value) = set {
            cmd.env("GLIBC_TUNABLES", value);
        }
        let mut moat = Running::spawn(cmd);
        moat.wait_for(&["proxy listening", "tls=true"], Duration::from_secs(20));
        let line = format!("glibc_tunables={expected}");
        assert_eq!(
            moat.count_lines(&["allocator: glibc malloc", &line]),
            1,
            "set {set:?}; log:\n{}",
            moat.log()
        );
        // The PID the test spawned is the one serving: the exec kept it,
        // and it is still moat's binary.
        let pid = moat.child.id();
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert_eq!(
            exe.canonicalize().unwrap(),
            std::path::Path::new(moat_bin()).canonicalize().unwrap()
        );
        assert!(
            !moat.log().contains("could not execute itself again"),
            "{}",
            moat.log()
        );
        stop_gracefully(&mut moat);
    }
}
