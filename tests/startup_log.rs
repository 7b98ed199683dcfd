//! The start-up log of a default configuration, as a snapshot: what a new
//! user reads first must stay short, free of warnings, and change only on
//! purpose. Variable parts (times, the temp directory, ports, the pid,
//! dates) are masked; lines are compared as a sorted list because the
//! services start concurrently. `MOAT_BLESS=1` rewrites the snapshot.

#[path = "support/foundation.rs"]
mod foundation;

use std::time::Duration;

use foundation::{command_env, moat_bin, moat_command, stop_gracefully, temp_config, Running};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/startup.log");

#[test]
fn default_start_up_log_matches_the_snapshot_and_has_no_warnings() {
    let tmp = temp_config();
    let dir = tmp.path().join("config");
    // fail2ban and Docker discovery as a user gets them (the test support
    // turns both off; not being PID 1, this moat does not read Docker).
    let mut cmd = moat_command(moat_bin(), &dir, &[("DISABLE_F2B", "false")]);
    cmd.env_remove("DOCKER_HOST");
    let env = |name: &str| command_env(&cmd, name);
    let (http, https, metrics) = (env("HTTP_PORT"), env("HTTPS_PORT"), env("METRICS_ADDR"));
    let mut moat = Running::spawn(cmd);
    moat.wait_for_lines(&["proxy listening"], 4, Duration::from_secs(20));
    moat.wait_for(&["metrics endpoint listening"], Duration::from_secs(20));
    let log = moat.log();
    stop_gracefully(&mut moat);

    let time =
        regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+(Z|[+-]\d{2}:\d{2})").unwrap();
    let date = regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z").unwrap();
    let pid = regex::Regex::new(r"pid=\d+").unwrap();
    let mut lines: Vec<String> = log
        .lines()
        .map(|l| {
            let l = time.replace(l, "<time>");
            let l = date.replace_all(&l, "<date>");
            let l = pid.replace_all(&l, "pid=<pid>");
            l.replace(dir.to_str().unwrap(), "<config>")
                .replace(&metrics, "<metrics>")
                .replace(&http, "<http>")
                .replace(&https, "<https>")
        })
        .collect();
    let warnings: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(
        warnings.is_empty(),
        "a default start warns:\n{warnings:#?}\n{log}"
    );
    lines.sort();
    let text = lines.join("\n") + "\n";
    if std::env::var_os("MOAT_BLESS").is_some() {
        std::fs::write(GOLDEN, &text).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    if golden != text {
        let old: Vec<&str> = golden.lines().collect();
        let new: Vec<&str> = text.lines().collect();
        let gone: Vec<&&str> = old.iter().filter(|l| !new.contains(l)).collect();
        let added: Vec<&&str> = new.iter().filter(|l| !old.contains(l)).collect();
        panic!(
            "the start-up log changed ({} lines, snapshot {}); if on purpose, rerun with MOAT_BLESS=1\nnew lines: {added:#?}\ngone lines: {gone:#?}",
            new.len(),
            old.len()
        );
    }
}
