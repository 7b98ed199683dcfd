//! An existing SWAG/certbot `/config` volume is used as is: a valid
//! certificate covering the names is loaded without any order (the ACME
//! server here does not even exist).

#[path = "support/certbot_layout.rs"]
mod certbot_layout;

use std::path::Path;
use std::process::Command;

use certbot_layout::{make_cert, now, write_lineage};

const DAY: i64 = 86_400;

fn free_port() -> u16 {
    stable_tcp_port()
}

include!("support/ports.rs");

fn renew_against_nowhere(config: &Path) -> std::process::Output {
    // Port 9 on loopback: nothing listens, so any ACME request would fail.
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["renew", "--config"])
        .arg(config)
        .env_clear()
        .env("URL", "swag.moat.test")
        .env("SUBDOMAINS", "www")
        .env("ACME_SERVER", "https://127.0.0.1:9/dir")
        .env("HTTP_PORT", free_port().to_string())
        .env("HTTP_BIND_ADDR", "127.0.0.1")
        .output()
        .unwrap()
}

fn check_existing_volume_is_used(links: bool) {
    let config = tempfile::tempdir().unwrap();
    let (chain, key, _) = make_cert(
        &["swag.moat.test", "www.swag.moat.test"],
        now() - 10 * DAY,
        now() + 80 * DAY,
    );
    write_lineage(config.path(), "swag.moat.test", &chain, &key, links);
    std::fs::write(
        config.path().join(".donoteditthisfile.conf"),
        "ORIGURL=\"swag.moat.test\" ORIGSUBDOMAINS=\"www\" ORIGONLY_SUBDOMAINS=\"\" ORIGEXTRA_DOMAINS=\"\" ORIGVALIDATION=\"\" ORIGDNSPLUGIN=\"\" ORIGPROPAGATION=\"\" ORIGSTAGING=\"\" ORIGCERTPROVIDER=\"\" ORIGEMAIL=\"\"\n",
    )
    .unwrap();
    let out = renew_against_nowhere(config.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("not due"), "{stdout}");
    // Nothing was rewritten: live/ holds what certbot left.
    let live = config.path().join("etc/letsencrypt/live/swag.moat.test");
    assert_eq!(
        std::fs::read_to_string(live.join("fullchain.pem")).unwrap(),
        chain
    );
    assert_eq!(
        std::fs::symlink_metadata(live.join("fullchain.pem"))
            .unwrap()
            .file_type()
            .is_symlink(),
        links
    );
    assert!(!config
        .path()
        .join("etc/letsencrypt/archive/swag.moat.test/cert2.pem")
        .exists());
    assert!(
        !config.path().join("etc/letsencrypt/accounts").exists(),
        "no account was created"
    );
}

#[test]
fn existing_certbot_links_are_loaded_without_a_new_order() {
    check_existing_volume_is_used(true);
}

#[test]
fn existing_plain_files_in_live_are_loaded_without_a_new_order() {
    check_existing_volume_is_used(false);
}

#[test]
fn existing_certificate_missing_a_name_is_reordered() {
    let config = tempfile::tempdir().unwrap();
    let (chain, key, _) = make_cert(&["swag.moat.test"], now() - DAY, now() + 80 * DAY);
    write_lineage(config.path(), "swag.moat.test", &chain, &key, true);
    let out = renew_against_nowhere(config.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the domain list changed"), "{stderr}");
    // The failed order left the old certificate in place.
    let live = config
        .path()
        .join("etc/letsencrypt/live/swag.moat.test/fullchain.pem");
    assert_eq!(std::fs::read_to_string(live).unwrap(), chain);
}
