//! End to end through the supervisor: `moat run` with URL set starts the
//! proxy on the self-signed certificate, obtains a certificate from pebble
//! by HTTP-01 answered on its own port 80 listener, and serves it without a
//! restart.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/pebble.rs"]
mod pebble;

use std::process::Command;
use std::time::Duration;

use foundation::{
    first_pem, free_port, moat_bin, moat_command, served_leaf, stop_gracefully, temp_config,
    Running,
};

#[test]
fn moat_run_obtains_and_serves_an_acme_certificate() {
    let test = "moat_run_obtains_and_serves_an_acme_certificate";
    let Some(curl) = env::require_program(test, "curl") else {
        return;
    };
    let Some(pebble) = pebble::Pebble::start(test, pebble::PebbleOpts::default()) else {
        return;
    };
    let tmp = temp_config();
    let https = free_port();
    let mut moat = Running::spawn(moat_command(
        moat_bin(),
        tmp.path(),
        &[
            ("URL", "moat.test"),
            ("SUBDOMAINS", "www"),
            ("EMAIL", "admin@moat.test"),
            ("HTTP_PORT", &pebble.http_port.to_string()),
            ("HTTPS_PORT", &https.to_string()),
            ("ACME_SERVER", &pebble.directory_url),
            ("ACME_CA_ROOT", pebble.listener_ca.to_str().unwrap()),
            ("PUID", "4321"),
            ("PGID", "4322"),
        ],
    ));
    moat.wait_for(&["certificate installed"], Duration::from_secs(90));
    // As root, what ACME wrote belongs to PUID:PGID like the rest of /config.
    if nix::unistd::geteuid().is_root() {
        use std::os::unix::fs::MetadataExt;
        for rel in [
            "etc/letsencrypt/live/moat.test/fullchain.pem",
            "etc/letsencrypt/live/moat.test/privkey.pem",
            "etc/letsencrypt/accounts",
            "keys/cert.crt",
        ] {
            let path = tmp.path().join(rel);
            for meta in [
                std::fs::metadata(&path).unwrap(),
                std::fs::symlink_metadata(&path).unwrap(),
            ] {
                assert_eq!((meta.uid(), meta.gid()), (4321, 4322), "owner of {rel}");
            }
        }
    }
    // Start order: the proxy serves (port 80 answers HTTP-01) before ACME orders.
    let log = moat.log();
    let (listening, ordering) = (
        log.find("proxy listening").expect("proxy listening logged"),
        log.find("ordering a certificate").expect("order logged"),
    );
    assert!(
        listening < ordering,
        "ACME ordered before the proxy listened:\n{log}"
    );

    // Progress a person can follow: the plan first, then each issuance step
    // on its own line, in order, and dates as dates.
    let mut at = 0;
    for step in [
        "moat will serve HTTP on :",
        "ordering a certificate",
        "ACME order created",
        "HTTP-01 challenge published on port 80",
        "challenges in place; the CA is validating",
        "validated by the CA; finalizing the order",
        "certificate issued and downloaded",
        "new certificate installed",
    ] {
        let found = log[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} not logged after byte {at}:\n{log}"));
        at += found + step.len();
    }
    let installed = log
        .lines()
        .find(|l| l.contains("new certificate installed"))
        .unwrap();
    assert!(
        regex::Regex::new(r"not_after=\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z days_left=\d+")
            .unwrap()
            .is_match(installed),
        "dates as dates: {installed}"
    );

    let live = tmp
        .path()
        .join("etc/letsencrypt/live/moat.test/fullchain.pem");
    assert!(
        live.is_file(),
        "stored in certbot's layout: {}",
        live.display()
    );

    let root = tmp.path().join("pebble-root.pem");
    std::fs::write(&root, pebble.issuing_root()).unwrap();
    let out = Command::new(&curl)
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&root)
        .args(["--resolve", &format!("www.moat.test:{https}:127.0.0.1")])
        .arg(format!("https://www.moat.test:{https}/"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the ACME certificate is served: {}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        moat.log()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("moat is running"));

    // A handshake no name matches gets the default certificate, which
    // keys/cert.crt now links to: the ACME one, not the first start's
    // self-signed certificate (SWAG's nginx serves keys/cert.crt too).
    let served = served_leaf(https, "other.example");
    let issued = first_pem(
        &std::fs::read_to_string(tmp.path().join("etc/letsencrypt/live/moat.test/cert.pem"))
            .unwrap(),
    );
    assert!(issued.is_some());
    assert_eq!(
        served, issued,
        "the default certificate is still the self-signed one"
    );

    stop_gracefully(&mut moat);
}
