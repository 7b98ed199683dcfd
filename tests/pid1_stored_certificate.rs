//! `moat run` serves the certificates already in `etc/letsencrypt` from its
//! first second, by name and as the default, even when a crash interrupted
//! a link swap (some `live/` links on the new version, some on the old):
//! the swap is completed before anything is loaded, so the served key and
//! chain always belong together. Checked with curl, a real TLS client.

#[path = "support/certbot_layout.rs"]
mod certbot_layout;
#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;

use std::path::Path;
use std::time::Duration;

use certbot_layout::{make_cert, now, write_lineage};
use foundation::{first_pem, moat_bin, moat_command, served_leaf, temp_config, Running};

const DAY: i64 = 86_400;
const LINEAGE: &str = "swag.moat.test";

/// The leaf curl is served for `host`; a failed handshake fails the test.
fn served(https_port: u16, host: &str) -> String {
    served_leaf(https_port, host).unwrap_or_else(|| panic!("curl saw no certificate for {host}"))
}

/// Adds version 2 of the lineage to `archive/`, then moves only the
/// `fullchain` and `cert` links to it: the state a crash between two link
/// renames leaves.
fn interrupted_swap(config: &Path, fullchain: &str, key: &str) {
    let le = config.join("etc/letsencrypt");
    let archive = le.join("archive").join(LINEAGE);
    let live = le.join("live").join(LINEAGE);
    let certs: Vec<&str> = fullchain
        .split_inclusive("-----END CERTIFICATE-----\n")
        .collect();
    for (kind, content) in [
        ("cert", certs[0].to_owned()),
        ("chain", certs[1..].concat()),
        ("fullchain", fullchain.to_owned()),
        ("privkey", key.to_owned()),
    ] {
        std::fs::write(archive.join(format!("{kind}2.pem")), content).unwrap();
    }
    for kind in ["fullchain", "cert"] {
        let link = live.join(format!("{kind}.pem"));
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(format!("../../archive/{LINEAGE}/{kind}2.pem"), &link).unwrap();
    }
}

/// SWAG's `keys/` links into the lineage.
fn swag_key_links(config: &Path) {
    let keys = config.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let live = format!("../etc/letsencrypt/live/{LINEAGE}");
    std::os::unix::fs::symlink(&live, keys.join("letsencrypt")).unwrap();
    std::os::unix::fs::symlink(format!("{live}/fullchain.pem"), keys.join("cert.crt")).unwrap();
    std::os::unix::fs::symlink(format!("{live}/privkey.pem"), keys.join("cert.key")).unwrap();
}

#[test]
fn an_interrupted_link_swap_is_completed_before_the_first_handshake() {
    if env::require_program(
        "an_interrupted_link_swap_is_completed_before_the_first_handshake",
        "curl",
    )
    .is_none()
    {
        return;
    }
    let tmp = temp_config();
    let names = [LINEAGE, "www.swag.moat.test"];
    let (old_chain, old_key, _) = make_cert(&names, now() - 60 * DAY, now() + 30 * DAY);
    let (new_chain, new_key, _) = make_cert(&names, now() - DAY, now() + 89 * DAY);
    write_lineage(tmp.path(), LINEAGE, &old_chain, &old_key, true);
    interrupted_swap(tmp.path(), &new_chain, &new_key);
    swag_key_links(tmp.path());

    // An ACME server that does not exist: nothing may be ordered, and the
    // stored certificate must be served regardless.
    let cmd = moat_command(
        moat_bin(),
        tmp.path(),
        &[
            ("URL", LINEAGE),
            ("SUBDOMAINS", "www"),
            ("ACME_SERVER", "https://127.0.0.1:9/dir"),
        ],
    );
    let https_port: u16 = cmd
        .get_envs()
        .find(|(k, _)| *k == "HTTPS_PORT")
        .and_then(|(_, v)| v)
        .and_then(|v| v.to_str())
        .and_then(|v| v.parse().ok())
        .expect("moat_command sets HTTPS_PORT");
    let moat = Running::spawn(cmd);
    moat.wait_for(&["proxy listening"], Duration::from_secs(20));

    let new_leaf = first_pem(&new_chain).unwrap();
    let old_leaf = first_pem(&old_chain).unwrap();
    for host in ["www.swag.moat.test", LINEAGE] {
        let leaf = served(https_port, host);
        assert_eq!(
            leaf,
            new_leaf,
            "{host}: not the newest complete version (old one: {}); log:\n{}",
            leaf == old_leaf,
            moat.log()
        );
    }
    // No SNI match (an address, or a name no certificate has): SWAG's
    // keys/cert.crt, which now points at the same new version.
    assert_eq!(served(https_port, "other.example"), new_leaf);
    // The live links agree again, on version 2.
    let live = tmp.path().join("etc/letsencrypt/live").join(LINEAGE);
    for kind in ["cert", "chain", "fullchain", "privkey"] {
        let target = std::fs::read_link(live.join(format!("{kind}.pem"))).unwrap();
        assert!(
            target.to_string_lossy().ends_with(&format!("{kind}2.pem")),
            "{kind}.pem -> {}",
            target.display()
        );
    }
}
