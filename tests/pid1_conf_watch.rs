//! The supervisor reloads the confs when files under /config/nginx change,
//! without a signal, and ignores `*.sample` files.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;

use std::time::Duration;

use foundation::{moat_bin, moat_command, stop_gracefully, temp_config, Running};

#[test]
fn editing_a_proxy_conf_triggers_a_reload() {
    let tmp = temp_config();
    let moat = Running::spawn(moat_command(moat_bin(), tmp.path(), &[]));
    moat.wait_for(&["supervisor running"], Duration::from_secs(60));
    let reloads = |m: &Running| m.count_lines(&["configuration reloaded", "change under"]);
    assert_eq!(reloads(&moat), 0);

    let confs = tmp.path().join("nginx/proxy-confs");
    std::fs::copy(
        confs.join("gitea.subdomain.conf.sample"),
        confs.join("gitea.subdomain.conf"),
    )
    .unwrap();
    moat.wait_for_lines(
        &["configuration reloaded", "change under"],
        1,
        Duration::from_secs(60),
    );

    std::fs::remove_file(confs.join("gitea.subdomain.conf")).unwrap();
    moat.wait_for_lines(
        &["configuration reloaded", "change under"],
        2,
        Duration::from_secs(60),
    );

    // A sample changing is not a conf change; a later real edit still is.
    std::fs::write(
        confs.join("gitea.subdomain.conf.sample"),
        "# edited sample\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("nginx/proxy.conf"),
        "proxy_read_timeout 60;\n",
    )
    .unwrap();
    moat.wait_for_lines(
        &["configuration reloaded", "change under"],
        3,
        Duration::from_secs(60),
    );
    assert_eq!(
        reloads(&moat),
        3,
        "exactly one reload per change:\n{}",
        moat.log()
    );

    let mut moat = moat;
    stop_gracefully(&mut moat);
}

#[test]
fn a_broken_conf_is_reported_with_file_and_line_and_the_old_one_keeps_serving() {
    let Some(curl) = env::require_program(
        "a_broken_conf_is_reported_with_file_and_line_and_the_old_one_keeps_serving",
        "curl",
    ) else {
        return;
    };
    let tmp = temp_config();
    let https = foundation::free_port();
    let mut moat = Running::spawn(moat_command(
        moat_bin(),
        tmp.path(),
        &[("HTTPS_PORT", &https.to_string())],
    ));
    moat.wait_for(&["proxy listening", "tls=true"], Duration::from_secs(60));
    let get = || {
        let out = std::process::Command::new(&curl)
            .args(["-sk", "--max-time", "10"])
            .arg(format!("https://127.0.0.1:{https}/"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(get().contains("moat is running"));

    let broken = tmp.path().join("nginx/proxy-confs/broken.subdomain.conf");
    std::fs::write(
        &broken,
        "server {\n    listen 443 ssl;\n    server_name broken.*;\n    location / {\n",
    )
    .unwrap();
    moat.wait_for(&["configuration reload failed"], Duration::from_secs(60));
    let log = moat.log();
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("broken.subdomain.conf:")),
        "the error names the file and line:\n{log}"
    );
    assert!(
        get().contains("moat is running"),
        "the previous configuration keeps serving"
    );

    std::fs::remove_file(&broken).unwrap();
    moat.wait_for(
        &["configuration reloaded", "change under"],
        Duration::from_secs(60),
    );
    stop_gracefully(&mut moat);
}

#[test]
fn a_dropped_in_proxy_conf_serves_without_a_restart() {
    let Some(curl) =
        env::require_program("a_dropped_in_proxy_conf_serves_without_a_restart", "curl")
    else {
        return;
    };
    // A tiny upstream answering every request with "from-app".
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = upstream.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in upstream.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nfrom-app",
            );
        }
    });
    let tmp = temp_config();
    let https = foundation::free_port();
    let mut moat = Running::spawn(moat_command(
        moat_bin(),
        tmp.path(),
        &[("HTTPS_PORT", &https.to_string())],
    ));
    moat.wait_for(&["proxy listening", "tls=true"], Duration::from_secs(60));
    let get = || {
        let out = std::process::Command::new(&curl)
            .args([
                "-sk",
                "--max-time",
                "10",
                "--resolve",
                &format!("app.test:{https}:127.0.0.1"),
            ])
            .arg(format!("https://app.test:{https}/"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        get().contains("moat is running"),
        "unknown names land on the default server"
    );

    std::fs::write(
        tmp.path().join("nginx/proxy-confs/app.subdomain.conf"),
        format!(
            "server {{\n    listen 443 ssl;\n    server_name app.*;\n    include /config/nginx/ssl.conf;\n    \
             location / {{\n        include /config/nginx/proxy.conf;\n        proxy_pass http://127.0.0.1:{port};\n    }}\n}}\n"
        ),
    )
    .unwrap();
    moat.wait_for(
        &["configuration reloaded", "change under"],
        Duration::from_secs(60),
    );
    assert_eq!(get(), "from-app", "the new conf routes without a restart");

    stop_gracefully(&mut moat);
}

/// One plain HTTP/1.1 request to 127.0.0.1:`port`; the whole answer, or
/// `None` when nothing listens.
fn get(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: extra.test\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// A conf that listens on a new port is served there after the reload it
/// triggers, as nginx's reload opens it; removing the conf closes it again.
#[test]
fn a_listen_port_added_by_a_reload_is_opened_and_closed_again() {
    let tmp = temp_config();
    let mut moat = Running::spawn(moat_command(moat_bin(), tmp.path(), &[]));
    moat.wait_for(&["supervisor running"], Duration::from_secs(60));
    let port = foundation::free_port();
    assert!(get(port).is_none(), "port {port} is free before the conf");

    let conf = tmp.path().join("nginx/proxy-confs/extra.subdomain.conf");
    std::fs::write(
        &conf,
        format!(
            "server {{\n    listen {port};\n    server_name extra.test;\n    location / {{\n        return 200 \"served on the new port\\n\";\n    }}\n}}\n"
        ),
    )
    .unwrap();
    assert!(
        foundation::wait_until(Duration::from_secs(60), || get(port).is_some_and(|a| a
            .starts_with("HTTP/1.1 200")
            && a.contains("served on the new port"))),
        "port {port} not served after the reload; log:\n{}",
        moat.log()
    );
    moat.wait_for(&["opened it"], Duration::from_secs(30));

    std::fs::remove_file(&conf).unwrap();
    assert!(
        foundation::wait_until(Duration::from_secs(60), || get(port).is_none()),
        "port {port} still open after its conf went; log:\n{}",
        moat.log()
    );
    // The socket goes before the line saying so is written: wait for it.
    moat.wait_for(&["closed it"], Duration::from_secs(30));
    stop_gracefully(&mut moat);
}

/// A tiny upstream answering every request with `body`; returns its port.
fn upstream_answering(body: &'static str) -> u16 {
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = upstream.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in upstream.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A reload whose conf has a typo'd directive (`dney`) is refused as nginx
/// refuses it: the error names file and line, and the previous snapshot
/// keeps serving (the request reaches the old upstream, which the edited
/// conf no longer names). moat's own defaults report their no-effect
/// directives at info level; a user's conf with one is reported at warn.
#[test]
fn a_typo_in_a_reload_keeps_the_old_snapshot_and_no_effect_is_one_line() {
    let test = "a_typo_in_a_reload_keeps_the_old_snapshot_and_no_effect_is_one_line";
    let Some(curl) = env::require_program(test, "curl") else {
        return;
    };
    let old = upstream_answering("from-old");
    let new = upstream_answering("from-new");
    let tmp = temp_config();
    let https = foundation::free_port();
    let mut moat = Running::spawn(moat_command(
        moat_bin(),
        tmp.path(),
        &[("HTTPS_PORT", &https.to_string())],
    ));
    moat.wait_for(&["proxy listening", "tls=true"], Duration::from_secs(60));
    let log = moat.log();
    let summary: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("have no effect in moat"))
        .collect();
    assert_eq!(summary.len(), 1, "one summary line per load:\n{log}");
    assert!(
        summary[0].contains("INFO") && summary[0].contains("ssl_ciphers (nginx/ssl.conf:10)"),
        "moat's own defaults are reported at info: {}",
        summary[0]
    );
    assert!(summary[0].contains("see README#unsupported"));
    assert!(!log.contains("is accepted but has no effect"), "{log}");

    let app = tmp.path().join("nginx/proxy-confs/app.subdomain.conf");
    let conf = |port: u16, extra: &str| {
        format!(
            "server {{\n    listen 443 ssl;\n    server_name app.*;\n    include /config/nginx/ssl.conf;\n    \
             location / {{\n        proxy_buffering off;\n{extra}        proxy_pass http://127.0.0.1:{port};\n    }}\n}}\n"
        )
    };
    std::fs::write(&app, conf(old, "")).unwrap();
    moat.wait_for(
        &["configuration reloaded", "change under"],
        Duration::from_secs(60),
    );
    let get = || {
        let out = std::process::Command::new(&curl)
            .args([
                "-sk",
                "--max-time",
                "10",
                "--resolve",
                &format!("app.test:{https}:127.0.0.1"),
            ])
            .arg(format!("https://app.test:{https}/"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(get(), "from-old");
    let log = moat.log();
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("have no effect in moat")
            && l.contains("proxy_buffering (nginx/proxy-confs/app.subdomain.conf:6")),
        "a user's no-effect directive is a warning:\n{log}"
    );

    std::fs::write(&app, conf(new, "        dney all;\n")).unwrap();
    moat.wait_for(&["configuration reload failed"], Duration::from_secs(60));
    let log = moat.log();
    assert!(
        log.lines().any(|l| l.contains("ERROR")
            && l.contains("app.subdomain.conf:7:")
            && l.contains("unknown directive \"dney\"")),
        "the error names the file and line:\n{log}"
    );
    assert_eq!(get(), "from-old", "the previous snapshot keeps serving");
    stop_gracefully(&mut moat);
}
