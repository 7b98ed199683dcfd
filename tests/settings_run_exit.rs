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
