//! `moat run` refuses invalid settings with exit 78 (EX_CONFIG) and one line
//! per problem; LOG_FORMAT=json gives one JSON object per line.

#[path = "support/foundation.rs"]
mod foundation;

use std::time::Duration;

use foundation::{moat_bin, moat_command, stop_gracefully, temp_config, Running};

#[test]
fn run_exits_78_listing_every_invalid_setting() {
    let tmp = temp_config();
    let dir = tmp.path().join("config");
    let mut cmd = moat_command(
        moat_bin(),
        &dir,
        &[
            ("URL", "bad domain"),
            ("VALIDATION", "dns"),
            ("DNSPLUGIN", "nosuch"),
            ("PROPAGATION", "soon"),
        ],
    );
    cmd.arg("run");
    let out = cmd.output().expect("moat runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    for var in ["URL=", "DNSPLUGIN=", "PROPAGATION="] {
        let n = stderr.lines().filter(|l| l.contains(var)).count();
        assert_eq!(n, 1, "one line naming {var}:\n{stderr}");
    }
    let providers = moat::dns::PROVIDER_NAMES.join(", ");
    assert!(
        stderr.contains(&providers),
        "the allowed DNS providers are listed:\n{stderr}"
    );
    assert!(
        !dir.exists(),
        "nothing is written before the settings are valid"
    );
}

#[test]
fn json_log_format_writes_one_object_per_line() {
    let tmp = temp_config();
    let mut moat = Running::spawn(moat_command(
        moat_bin(),
        tmp.path(),
        &[("LOG_FORMAT", "json")],
    ));
    moat.wait_for(&["supervisor running"], Duration::from_secs(20));
    stop_gracefully(&mut moat);
    let log = moat.log();
    let mut count = 0;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v.is_object() && v.get("level").is_some() && v.get("message").is_some(),
            "{line}"
        );
        count += 1;
    }
    assert!(count >= 5, "several log lines:\n{log}");
}

#[test]
fn run_exits_78_when_acme_ca_root_cannot_be_read() {
    let tmp = temp_config();
    let mut cmd = moat_command(
        moat_bin(),
        tmp.path(),
        &[("ACME_CA_ROOT", "/nonexistent/pebble-root.pem")],
    );
    cmd.arg("run");
    let out = cmd.output().expect("moat runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("ACME_CA_ROOT=\"/nonexistent/pebble-root.pem\""),
        "{stderr}"
    );
}

#[test]
fn file_prefixed_variables_are_read_from_their_files() {
    // linuxserver's FILE__ convention, end to end through the binary: URL
    // from a secret file is the certificate name moat logs, and DOCKER_MODS
    // gets its one warning.
    let tmp = temp_config();
    let secret = tmp.path().join("url-secret");
    std::fs::write(&secret, "secret-url.example\n").unwrap();
    let mut moat = Running::spawn(moat_command(
        moat_bin(),
        &tmp.path().join("config"),
        &[
            ("FILE__URL", secret.to_str().unwrap()),
            ("URL", "plain.example"),
            // No CA is reachable: the ACME attempt fails later, the
            // settings are what this test reads.
            ("ACME_SERVER", "https://127.0.0.1:9/dir"),
            ("DOCKER_MODS", "linuxserver/mods:swag-auto-reload"),
        ],
    ));
    moat.wait_for(&["supervisor running"], Duration::from_secs(20));
    stop_gracefully(&mut moat);
    let log = moat.log();
    assert!(
        log.contains("secret-url.example"),
        "URL came from the file:\n{log}"
    );
    assert!(
        !log.contains("plain.example"),
        "the file wins over URL:\n{log}"
    );
    let mods: Vec<&str> = log.lines().filter(|l| l.contains("DOCKER_MODS")).collect();
    assert_eq!(mods.len(), 1, "DOCKER_MODS is said exactly once:\n{log}");
    assert!(
        mods[0].contains("WARN")
            && mods[0].contains("DOCKER_MODS is ignored")
            && mods[0].contains("swag-auto-reload: built in"),
        "one warning for DOCKER_MODS: {}",
        mods[0]
    );
}

#[test]
fn a_secret_token_from_its_file_reaches_the_dns_ini_and_never_the_log() {
    // FILE__ for a setting that is not URL: the DuckDNS token goes where
    // SWAG puts DUCKDNSTOKEN (dns-conf/duckdns.ini, 0600) and the DuckDNS
    // provider starts with it; the secret itself is never logged.
    use std::os::unix::fs::PermissionsExt;
    let tmp = temp_config();
    let secret = tmp.path().join("duckdns-secret");
    let token = "0a1b2c3d-from-the-secret-file";
    std::fs::write(&secret, format!("{token}\n")).unwrap();
    let dir = tmp.path().join("config");
    let mut moat = Running::spawn(moat_command(
        moat_bin(),
        &dir,
        &[
            ("URL", "me.duckdns.org"),
            ("VALIDATION", "duckdns"),
            ("FILE__DUCKDNSTOKEN", secret.to_str().unwrap()),
            ("DUCKDNSTOKEN", "plain-token"),
            // No CA is reachable: the order fails at the account, after the
            // provider's preflight (which calls nothing at DuckDNS).
            ("ACME_SERVER", "https://127.0.0.1:9/dir"),
        ],
    ));
    moat.wait_for(&["supervisor running"], Duration::from_secs(20));
    moat.wait_for(&["duckdns: token present"], Duration::from_secs(20));
    stop_gracefully(&mut moat);
    let ini = dir.join("dns-conf/duckdns.ini");
    let text = std::fs::read_to_string(&ini).unwrap();
    assert!(
        text.contains(&format!("dns_duckdns_token = {token}\n")),
        "the token came from the file (trailing newline dropped):\n{text}"
    );
    assert!(!text.contains("plain-token"), "the file wins:\n{text}");
    assert_eq!(
        std::fs::metadata(&ini).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let log = moat.log();
    assert!(!log.contains(token), "the secret is never logged:\n{log}");
}

/// Runs `moat ARGS` to completion; (exit code, stdout + stderr).
fn moat_cli(config: &std::path::Path, envs: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let out = moat_command(moat_bin(), config, envs)
        .args(args)
        .output()
        .expect("moat runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn cli_knobs_and_config_dir_are_read_from_secret_files_too() {
    // The subcommands that read a variable of their own (CONFIG_DIR before
    // the settings, moat renew's RENEW_BEFORE) take FILE__ like `moat run`.
    let tmp = temp_config();
    let dir = tmp.path().join("config");
    std::fs::create_dir_all(&dir).unwrap();
    let secret = tmp.path().join("config-dir-secret");
    std::fs::write(&secret, "/nonexistent/dir-from-secret\n").unwrap();
    let (code, text) = moat_cli(
        &dir,
        &[("FILE__CONFIG_DIR", secret.to_str().unwrap())],
        &["routes"],
    );
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("config directory `/nonexistent/dir-from-secret` does not exist"),
        "FILE__CONFIG_DIR wins over CONFIG_DIR:\n{text}"
    );

    let (code, text) = moat_cli(
        &dir,
        &[("FILE__CONFIG_DIR", "/nonexistent/secret/config-dir")],
        &["certs"],
    );
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("FILE__CONFIG_DIR=\"/nonexistent/secret/config-dir\": cannot be read"),
        "an unreadable secret is an error naming it:\n{text}"
    );

    let secret = tmp.path().join("renew-before-secret");
    std::fs::write(&secret, "soon\n").unwrap();
    let (code, text) = moat_cli(
        &dir,
        &[
            ("URL", "renew.example.test"),
            ("ACME_SERVER", "https://127.0.0.1:9/dir"),
            ("FILE__RENEW_BEFORE", secret.to_str().unwrap()),
        ],
        &["renew"],
    );
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("RENEW_BEFORE: `soon` is not a number of seconds"),
        "RENEW_BEFORE came from its file:\n{text}"
    );
}

#[test]
fn a_missing_secret_file_refuses_start_naming_variable_and_path() {
    let tmp = temp_config();
    let dir = tmp.path().join("config");
    let mut cmd = moat_command(
        moat_bin(),
        &dir,
        &[("FILE__DUCKDNSTOKEN", "/nonexistent/secret/token")],
    );
    cmd.arg("run");
    let out = cmd.output().expect("moat runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("FILE__DUCKDNSTOKEN=\"/nonexistent/secret/token\": cannot be read")),
        "{stderr}"
    );
    assert!(
        !dir.exists(),
        "nothing is written before the settings are valid"
    );
}
