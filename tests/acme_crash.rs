//! Crash safety: `moat renew --force` is killed with SIGKILL at random
//! moments during issuance, 20 times. After each kill, `moat run` restarted
//! on that /config serves one complete pair (checked with curl), the store
//! then yields a matching certificate and key, everything that points into
//! `live/` agrees, and a final run succeeds.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/pebble.rs"]
mod pebble;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use foundation::{first_pem, free_port, served_leaf};
use moat::acme::{key_matches, parse_leaf, CertStore, LetsencryptPaths};
use pebble::{Pebble, PebbleOpts};

const LINEAGE: &str = "crash.moat.test";

fn renew_cmd(config: &Path, p: &Pebble) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moat"));
    cmd.args(["renew", "--force", "--config"])
        .arg(config)
        .env_clear()
        .env("URL", LINEAGE)
        .env("SUBDOMAINS", "www")
        .env("ACME_SERVER", &p.directory_url)
        .env("ACME_CA_ROOT", &p.listener_ca)
        .env("HTTP_PORT", p.http_port.to_string())
        .env("HTTP_BIND_ADDR", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Restarts `moat run` on `config` (with an ACME server that does not
/// exist, so it orders nothing) and returns the leaf curl is served for
/// `www.LINEAGE`: what users get right after the crash.
fn served_after_restart(config: &Path, round: usize) -> String {
    let https = free_port();
    let mut moat = Command::new(env!("CARGO_BIN_EXE_moat"))
        .arg("run")
        .env_clear()
        .env("CONFIG_DIR", config)
        .env("URL", LINEAGE)
        .env("SUBDOMAINS", "www")
        .env("ACME_SERVER", "https://127.0.0.1:9/dir")
        .env("HTTP_PORT", free_port().to_string())
        .env("HTTPS_PORT", https.to_string())
        .env("METRICS_ADDR", "off")
        .env("ACCESS_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut served = None;
    while served.is_none() && Instant::now() < deadline {
        served = served_leaf(https, &format!("www.{LINEAGE}"));
        if served.is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = moat.kill();
    let _ = moat.wait();
    served
        .unwrap_or_else(|| panic!("round {round}: moat run served no certificate after the crash"))
}

/// What a restart sees must be one complete pair.
fn assert_consistent(config: &Path, round: usize) -> String {
    let paths = LetsencryptPaths::new(config);
    let store = CertStore::new(paths.clone());
    let stored = store
        .load(LINEAGE)
        .unwrap_or_else(|e| panic!("round {round}: store unusable after kill: {e}"))
        .unwrap_or_else(|| panic!("round {round}: the old certificate disappeared"));
    // keys/ links (what SWAG's ssl.conf serves) agree with each other.
    let crt = std::fs::read_to_string(paths.keys_cert()).unwrap();
    let key = std::fs::read_to_string(paths.keys_key()).unwrap();
    let info = parse_leaf(&crt).unwrap();
    assert!(
        key_matches(&key, &info.spki),
        "round {round}: keys/cert.crt and cert.key differ"
    );
    assert_eq!(info.spki, stored.info.spki, "round {round}");
    // The bundle carries the live key and chain.
    let bundle = std::fs::read_to_string(paths.bundle(LINEAGE)).unwrap();
    assert!(
        bundle.starts_with(stored.lineage.key_pem.trim_end()),
        "round {round}: stale bundle"
    );
    assert!(
        bundle.ends_with(&stored.lineage.fullchain_pem),
        "round {round}: stale bundle chain"
    );
    stored.lineage.fullchain_pem
}

#[test]
fn kill_9_during_issuance_never_leaves_a_mismatched_pair() {
    let test = "kill_9_during_issuance_never_leaves_a_mismatched_pair";
    if env::require_program(test, "curl").is_none() {
        return;
    }
    let Some(p) = Pebble::start(test, PebbleOpts::default()) else {
        return;
    };
    let config = tempfile::tempdir().unwrap();

    // Baseline: one full run, timed, gives the old pair.
    let start = Instant::now();
    let out = renew_cmd(config.path(), &p).output().unwrap();
    let full = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut last = assert_consistent(config.path(), 0);

    let mut interrupted = 0;
    let mut replaced = 0;
    for round in 1..=20 {
        let delay =
            Duration::from_micros(rand::random_range(0..=(full.as_micros() as u64 * 6 / 5)));
        let mut child = renew_cmd(config.path(), &p).spawn().unwrap();
        std::thread::sleep(delay);
        let finished_before_kill = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if !finished_before_kill {
            interrupted += 1;
        }
        // The restart comes first: it must cope with the state the kill left.
        let served = served_after_restart(config.path(), round);
        let now = assert_consistent(config.path(), round);
        assert_eq!(
            Some(served),
            first_pem(&now),
            "round {round}: moat run served another certificate than the stored pair"
        );
        if now != last {
            replaced += 1;
        }
        last = now;
    }
    eprintln!(
        "crash test: {interrupted} of 20 runs killed mid-way, {replaced} completed a replacement"
    );
    assert!(
        interrupted >= 5,
        "most kills should land during issuance ({interrupted})"
    );

    // A final uninterrupted run succeeds (stale lock taken over) and stores
    // a new version.
    let out = renew_cmd(config.path(), &p).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fin = assert_consistent(config.path(), 21);
    assert_ne!(fin, last, "the final run installed a new certificate");
    pebble::verify_chain(
        &fin,
        &p.issuing_root(),
        &[LINEAGE.into(), format!("www.{LINEAGE}")],
    );
}
