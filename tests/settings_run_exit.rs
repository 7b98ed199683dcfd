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
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("DOCKER_MODS is ignored")
            && l.contains("swag-auto-reload: built in")),
        "one warning for DOCKER_MODS:\n{log}"
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
