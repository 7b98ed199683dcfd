//! Changing SUBDOMAINS and restarting `moat run` (what a SWAG user does):
//! the old certificate is served from the restart's first handshake while
//! the new one is ordered, the new one then covers the added name, and the
//! old files stay on disk. SWAG revokes first and serves nothing meanwhile.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/pebble.rs"]
mod pebble;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use foundation::{
    free_port, moat_bin, moat_command, served_leaf, stop_gracefully, temp_config, Running,
};

const URL: &str = "param.moat.test";

fn start(dir: &Path, p: &pebble::Pebble, https: u16, subdomains: &str) -> Running {
    Running::spawn(moat_command(
        moat_bin(),
        dir,
        &[
            ("URL", URL),
            ("SUBDOMAINS", subdomains),
            ("EMAIL", "admin@moat.test"),
            ("HTTP_PORT", &p.http_port.to_string()),
            ("HTTPS_PORT", &https.to_string()),
            ("ACME_SERVER", &p.directory_url),
            ("ACME_CA_ROOT", p.listener_ca.to_str().unwrap()),
        ],
    ))
}

#[test]
fn a_new_subdomain_is_ordered_while_the_old_certificate_keeps_serving() {
    let test = "a_new_subdomain_is_ordered_while_the_old_certificate_keeps_serving";
    let Some(curl) = env::require_program(test, "curl") else {
        return;
    };
    let Some(p) = pebble::Pebble::start(test, pebble::PebbleOpts::default()) else {
        return;
    };
    let tmp = temp_config();
    let https = free_port();

    let mut moat = start(tmp.path(), &p, https, "www");
    moat.wait_for(&["certificate installed"], Duration::from_secs(90));
    let old = served_leaf(https, &format!("www.{URL}")).expect("the first certificate is served");
    stop_gracefully(&mut moat);

    // Restart with one more subdomain. From the first handshake on, every
    // one succeeds; until the new certificate is installed they get the old.
    // (At start the renewer also hands the stored lineage to the store,
    // which logs "certificate installed"; the order logs "new certificate
    // installed".)
    let mut moat = start(tmp.path(), &p, https, "www,chat");
    moat.wait_for(&["proxy listening"], Duration::from_secs(20));
    let mut while_ordering = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while moat.count_lines(&["new certificate installed"]) == 0 {
        assert!(
            Instant::now() < deadline,
            "no new certificate:\n{}",
            moat.log()
        );
        match served_leaf(https, &format!("www.{URL}")) {
            Some(leaf) => while_ordering.push(leaf),
            None => panic!(
                "a handshake failed while the new certificate was ordered:\n{}",
                moat.log()
            ),
        }
    }
    assert!(
        !while_ordering.is_empty(),
        "no handshake happened before the install"
    );
    assert_eq!(
        while_ordering[0], old,
        "the restart's first handshake gets the old certificate"
    );
    let new = served_leaf(https, &format!("www.{URL}")).unwrap();
    assert_ne!(new, old, "the new certificate replaced the old one");
    assert!(
        while_ordering.iter().all(|l| *l == old || *l == new),
        "only the old or the new certificate is ever served"
    );

    // The added name verifies against pebble's root; the old files stay.
    let root = tmp.path().join("pebble-root.pem");
    std::fs::write(&root, p.issuing_root()).unwrap();
    let out = Command::new(&curl)
        .args(["-sS", "-o", "/dev/null", "--max-time", "10", "--cacert"])
        .arg(&root)
        .args(["--resolve", &format!("chat.{URL}:{https}:127.0.0.1")])
        .arg(format!("https://chat.{URL}:{https}/"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chat.{URL} is covered: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let archive = tmp.path().join("etc/letsencrypt/archive").join(URL);
    assert!(
        archive.join("cert1.pem").is_file(),
        "the old certificate's files stay"
    );
    assert!(archive.join("cert2.pem").is_file());
    let params = std::fs::read_to_string(tmp.path().join(".donoteditthisfile.conf")).unwrap();
    assert!(params.contains("ORIGSUBDOMAINS=\"www,chat\""), "{params}");
    stop_gracefully(&mut moat);
}
