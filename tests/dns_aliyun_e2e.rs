//! DNS-01 through the whole `moat` binary: `moat run` with
//! `VALIDATION=dns DNSPLUGIN=aliyun` talks to the fake Alidns API (which
//! verifies every signature and publishes the TXT records in
//! pebble-challtestsrv), checks propagation on challtestsrv through
//! `PROPAGATION_NAMESERVERS`, and gets an apex + wildcard certificate from
//! pebble, which validates against the same challtestsrv.
//!
//! Also: a wrong secret in `aliyun.ini` stops moat at preflight (nothing is
//! created, no order is sent); fixing the file and restarting issues.

#[path = "support/challtestsrv.rs"]
mod challtestsrv;
#[path = "support/env.rs"]
mod env;
#[path = "support/fake_alidns.rs"]
mod fake_alidns;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/pebble.rs"]
mod pebble;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use challtestsrv::ChallTestSrv;
use fake_alidns::{FakeAlidns, FakeAlidnsOptions};
use foundation::{free_port, moat_bin, moat_command, send_signal, wait_until, Running};
use nix::sys::signal::Signal;
use pebble::{Pebble, PebbleOpts};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

const APEX: &str = "example.test";
const CHALLENGE: &str = "_acme-challenge.example.test";
const WRONG_SECRET: &str = "wrong-secret-c2VjcmV0";

/// pebble (validating DNS-01 against its challtestsrv), the fake Alidns
/// publishing into that same challtestsrv, and a /config volume.
struct World {
    fake: FakeAlidns,
    pebble: Pebble,
    config: tempfile::TempDir,
    /// Runs the fake's HTTP server; dropped last.
    _rt: tokio::runtime::Runtime,
}

impl World {
    fn start(test: &str) -> Option<World> {
        let pebble = Pebble::start(test, PebbleOpts::default())?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let fake = rt.block_on(FakeAlidns::start_on(
            ChallTestSrv::attach(pebble.dns, pebble.challtest_mgmt),
            FakeAlidnsOptions::default(),
        ));
        let config = tempfile::Builder::new()
            .prefix("moat-dnse2e-")
            .tempdir()
            .unwrap();
        Some(World {
            fake,
            pebble,
            config,
            _rt: rt,
        })
    }

    /// `moat run` for `example.test` + `*.example.test` by DNS-01 through
    /// Aliyun, serving HTTPS on `https`.
    fn moat(&self, https: u16) -> Running {
        let mut cmd = moat_command(
            moat_bin(),
            self.config.path(),
            &[
                ("URL", APEX),
                ("SUBDOMAINS", "wildcard"),
                ("VALIDATION", "dns"),
                ("DNSPLUGIN", "aliyun"),
                ("EMAIL", "admin@example.test"),
                ("ACME_SERVER", &self.pebble.directory_url),
                ("ACME_CA_ROOT", self.pebble.listener_ca.to_str().unwrap()),
                ("HTTPS_PORT", &https.to_string()),
                ("PROPAGATION", "30"),
                ("PROPAGATION_NAMESERVERS", &self.pebble.dns.to_string()),
            ],
        );
        cmd.arg("run");
        Running::spawn(cmd)
    }

    fn pebble_root(&self) -> String {
        self.pebble.issuing_root()
    }
}

/// Stops moat the way Docker does and expects a clean exit.
fn stop(moat: &mut Running) {
    send_signal(moat.child.id(), Signal::SIGTERM);
    let status = moat.wait_exit(Duration::from_secs(15));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "SIGTERM ends moat with 0; log:\n{}",
        moat.log()
    );
}

/// The chain served on `127.0.0.1:port` for SNI `name`, verified against
/// `root_pem` (pebble's issuing root) and `name`; `Err` while moat still
/// serves another certificate.
fn served_chain(
    port: u16,
    name: &str,
    root_pem: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), server_name).unwrap();
    let mut sock = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    // Prove the connection works past the handshake.
    conn.writer()
        .write_all(
            format!("GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
    conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    Ok(conn
        .peer_certificates()
        .expect("a verified handshake has peer certificates")
        .iter()
        .map(|c| c.clone().into_owned())
        .collect())
}

/// DNS names in the leaf's subjectAltName.
fn san_names(leaf: &CertificateDer<'_>) -> Vec<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).unwrap();
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .expect("the leaf has a subjectAltName")
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
            _ => None,
        })
        .collect();
    names.sort();
    names
}

/// Waits until moat serves pebble's certificate for both SNI names and
/// returns the leaf served for the apex.
fn wait_served(world: &World, https: u16, moat: &Running) -> CertificateDer<'static> {
    let root = world.pebble_root();
    let mut last = String::new();
    let ok = wait_until(Duration::from_secs(20), || {
        match served_chain(https, APEX, &root) {
            Ok(_) => true,
            Err(e) => {
                last = e;
                false
            }
        }
    });
    assert!(
        ok,
        "moat serves pebble's certificate for {APEX}: {last}\nlog:\n{}",
        moat.log()
    );
    let apex_chain = served_chain(https, APEX, &root).unwrap();
    let wild_chain = served_chain(https, "a.example.test", &root)
        .unwrap_or_else(|e| panic!("a.example.test is covered by the wildcard: {e}"));
    assert_eq!(
        apex_chain[0], wild_chain[0],
        "one certificate for the apex and the wildcard"
    );
    assert_eq!(
        san_names(&apex_chain[0]),
        ["*.example.test", "example.test"],
        "exactly the apex and the wildcard"
    );
    apex_chain[0].clone()
}

/// Every TXT record moat created is gone, from the account and from DNS.
fn assert_cleaned_up(world: &World, moat: &Running) {
    let gone = wait_until(Duration::from_secs(20), || {
        world.fake.records().is_empty() && world.pebble.dns_txt(CHALLENGE).is_empty()
    });
    assert!(
        gone,
        "every TXT record is deleted: account holds {:?}, DNS serves {:?}\nlog:\n{}",
        world.fake.records(),
        world.pebble.dns_txt(CHALLENGE),
        moat.log()
    );
}

fn assert_swag_layout(config: &Path, served_leaf: &CertificateDer<'_>) {
    let live = config.join("etc/letsencrypt/live/example.test");
    for f in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
        assert!(live.join(f).is_file(), "{} exists", live.join(f).display());
    }
    let pem = std::fs::read(live.join("fullchain.pem")).unwrap();
    let stored = CertificateDer::pem_slice_iter(&pem)
        .next()
        .expect("fullchain.pem holds the leaf")
        .unwrap();
    assert_eq!(
        stored.as_ref(),
        served_leaf.as_ref(),
        "the served leaf is the one in live/example.test/fullchain.pem"
    );
}

#[test]
fn moat_run_issues_apex_and_wildcard_by_dns01_through_aliyun() {
    let test = "moat_run_issues_apex_and_wildcard_by_dns01_through_aliyun";
    let Some(world) = World::start(test) else {
        return;
    };
    world.fake.write_ini(world.config.path(), None, None);
    let https = free_port();
    let mut moat = world.moat(https);
    moat.wait_for(&["new certificate installed"], Duration::from_secs(120));

    let leaf = wait_served(&world, https, &moat);
    assert_swag_layout(world.config.path(), &leaf);

    let held = world.fake.most_values_held_at(CHALLENGE);
    assert_eq!(
        held.len(),
        2,
        "the apex and wildcard TXT values were held at once: {held:?}\nhistory: {:?}",
        world.fake.history()
    );
    assert_ne!(held[0], held[1], "two distinct values");
    assert!(
        world.fake.accepted().iter().any(|a| a == "AddDomainRecord"),
        "records were created through the API: {:?}",
        world.fake.accepted()
    );
    assert_cleaned_up(&world, &moat);
    assert!(
        moat.log().contains("TXT visible"),
        "moat checked propagation before validation:\n{}",
        moat.log()
    );
    assert!(
        !moat
            .log()
            .contains(&FakeAlidnsOptions::default().access_key_secret),
        "the secret never reaches the log"
    );
    stop(&mut moat);
}

#[test]
fn editing_aliyun_ini_and_restarting_uses_the_new_credentials() {
    let test = "editing_aliyun_ini_and_restarting_uses_the_new_credentials";
    let Some(world) = World::start(test) else {
        return;
    };

    // First start: a wrong secret. Preflight fails, naming the file and key.
    world
        .fake
        .write_ini(world.config.path(), Some(WRONG_SECRET), None);
    let mut moat = world.moat(free_port());
    moat.wait_for(&["certificate order failed"], Duration::from_secs(60));
    let log = moat.log();
    let line = log
        .lines()
        .find(|l| l.contains("certificate order failed"))
        .unwrap();
    for needle in ["aliyun.ini", "dns_aliyun_access_key_secret"] {
        assert!(line.contains(needle), "the error names {needle}: {line}");
    }
    assert!(
        !log.contains(WRONG_SECRET),
        "the secret never reaches the log:\n{log}"
    );
    assert!(
        world
            .fake
            .rejected()
            .iter()
            .any(|c| c == "SignatureDoesNotMatch"),
        "the fake refused the signature: {:?}",
        world.fake.rejected()
    );
    assert!(
        !world.fake.accepted().iter().any(|a| a == "AddDomainRecord")
            && world.fake.history().is_empty(),
        "no record was created: {:?}",
        world.fake.accepted()
    );
    let pebble_log = world.pebble.log_text();
    // pebble logs "Added order ... to the db" and "There are now N
    // accounts in memory".
    assert!(
        !pebble_log.contains("Added order") && !pebble_log.contains("accounts in memory"),
        "no account or order reached pebble:\n{pebble_log}"
    );
    let accounts = world.config.path().join("etc/letsencrypt/accounts");
    assert!(
        std::fs::read_dir(&accounts).map_or(true, |mut d| d.next().is_none()),
        "no ACME account was even created before preflight passed"
    );
    stop(&mut moat);

    // Fix the file, restart: the new credentials are read and used.
    world.fake.write_ini(world.config.path(), None, None);
    let https = free_port();
    let mut moat = world.moat(https);
    moat.wait_for(&["new certificate installed"], Duration::from_secs(120));
    let leaf = wait_served(&world, https, &moat);
    assert_swag_layout(world.config.path(), &leaf);
    assert!(
        world.fake.accepted().iter().any(|a| a == "AddDomainRecord"),
        "the fixed secret was accepted: {:?}",
        world.fake.accepted()
    );
    assert!(
        world.pebble.log_text().contains("Added order"),
        "pebble saw the order this time"
    );
    assert_cleaned_up(&world, &moat);
    stop(&mut moat);
}

#[test]
fn an_unparsable_propagation_nameserver_exits_78_naming_the_variable() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = moat_command(
        moat_bin(),
        &tmp.path().join("config"),
        &[("PROPAGATION_NAMESERVERS", "127.0.0.1:5353,ns1.example.test")],
    );
    cmd.arg("run");
    let out = cmd.output().expect("moat runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("PROPAGATION_NAMESERVERS="))
        .unwrap_or_else(|| panic!("a line names the variable:\n{stderr}"));
    assert!(line.contains("ns1.example.test"), "{line}");
}

#[test]
fn propagation_nameservers_accepts_addresses_with_and_without_ports() {
    let s = moat::settings::Settings::from_vars([(
        "PROPAGATION_NAMESERVERS".to_owned(),
        " 127.0.0.1:5353, 10.0.0.53 [::1]:53 ::2".to_owned(),
    )])
    .unwrap();
    let want: Vec<std::net::SocketAddr> =
        ["127.0.0.1:5353", "10.0.0.53:53", "[::1]:53", "[::2]:53"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
    assert_eq!(s.propagation_nameservers, want);
    assert!(moat::settings::Settings::default()
        .propagation_nameservers
        .is_empty());
    for bad in ["127.0.0.1:0", "127.0.0.1:99999", "localhost"] {
        let err = moat::settings::Settings::from_vars([(
            "PROPAGATION_NAMESERVERS".to_owned(),
            bad.to_owned(),
        )])
        .unwrap_err();
        assert_eq!(err.0[0].var(), "PROPAGATION_NAMESERVERS", "{bad}");
    }
}
