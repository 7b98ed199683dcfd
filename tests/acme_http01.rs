//! HTTP-01 against Debian's pebble: `moat renew` standalone (the binary)
//! and the library with its own port-80 responder.

#[path = "support/env.rs"]
mod env;
#[path = "support/pebble.rs"]
mod pebble;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use moat::acme::{
    AcmeConfig, CertLineage, CertStore, ChallengeSolver, Directory, LetsencryptPaths, Outcome,
    Renewer,
};
use pebble::{Pebble, PebbleOpts};

fn moat_renew(
    config: &Path,
    p: &Pebble,
    url: &str,
    subdomains: &str,
    force: bool,
) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moat"));
    cmd.arg("renew").arg("--config").arg(config);
    if force {
        cmd.arg("--force");
    }
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("URL", url)
        .env("SUBDOMAINS", subdomains)
        .env("ACME_SERVER", &p.directory_url)
        .env("ACME_CA_ROOT", &p.listener_ca)
        .env("HTTP_PORT", p.http_port.to_string())
        .env("HTTP_BIND_ADDR", "127.0.0.1")
        .env("EMAIL", "ops@moat.test")
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn standalone_renew_issues_pebble_certificate_in_certbot_layout() {
    let Some(p) = Pebble::start(
        "standalone_renew_issues_pebble_certificate_in_certbot_layout",
        PebbleOpts::default(),
    ) else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let out = moat_renew(config.path(), &p, "http.moat.test", "www,chat", false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "moat renew failed: {stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let paths = LetsencryptPaths::new(config.path());
    let lineage = "http.moat.test";
    let names: Vec<String> = [
        "http.moat.test",
        "www.http.moat.test",
        "chat.http.moat.test",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // certbot layout: relative links into archive/ version 1.
    for kind in moat::acme::LIVE_FILES {
        let link = paths.live_file(lineage, kind);
        let target =
            std::fs::read_link(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
        assert_eq!(
            target,
            Path::new(&format!("../../archive/{lineage}/{kind}1.pem"))
        );
    }
    assert_eq!(mode(&paths.archive_file(lineage, "privkey", 1)), 0o600);
    assert_eq!(mode(&paths.bundle(lineage)), 0o600);
    // privkey.pfx opens with an empty password, like SWAG's (openssl as oracle).
    if let Some(openssl) = env::find_program("openssl") {
        let out = Command::new(openssl)
            .args(["pkcs12", "-passin", "pass:", "-nodes", "-in"])
            .arg(paths.pfx(lineage))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 2, "{text}");
        assert!(text.contains("PRIVATE KEY"));
    }
    assert!(paths.renewal_conf(lineage).is_file());
    assert_eq!(
        std::fs::read_link(paths.keys_letsencrypt()).unwrap(),
        Path::new("../etc/letsencrypt/live/http.moat.test")
    );
    let served = std::fs::read_to_string(paths.keys_cert()).unwrap();
    let key = std::fs::read_to_string(paths.keys_key()).unwrap();
    let info = moat::acme::parse_leaf(&served).unwrap();
    assert!(
        moat::acme::key_matches(&key, &info.spki),
        "keys/cert.key matches keys/cert.crt"
    );
    assert!(info.covers(&names), "names {:?}", info.names);
    pebble::verify_chain(&served, &p.issuing_root(), &names);
    let params = std::fs::read_to_string(paths.params_file()).unwrap();
    assert!(params.contains("ORIGURL=\"http.moat.test\""), "{params}");
    // As SWAG records them (raw values: VALIDATION is unset here), and the
    // same set `moat run` records, so a later run sees no change.
    assert!(params.contains("ORIGVALIDATION=\"\""), "{params}");
    assert!(params.contains("ORIGSUBDOMAINS=\"www,chat\""), "{params}");

    // A second run reuses the account and orders nothing: the cert is not due.
    let accounts_before = count_files(&paths.accounts_dir());
    let out = moat_renew(config.path(), &p, "http.moat.test", "www,chat", false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("not due"));
    assert_eq!(count_files(&paths.accounts_dir()), accounts_before);
    assert_eq!(accounts_before, 1);
    let account = std::fs::read_dir(paths.accounts_dir())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let account_file = std::fs::read_dir(account)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(&account_file), 0o600);
    assert!(!paths.archive_file(lineage, "cert", 2).exists());

    // --force renews into version 2 and moves the links.
    let out = moat_renew(config.path(), &p, "http.moat.test", "www,chat", true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_link(paths.live_file(lineage, "fullchain")).unwrap(),
        Path::new("../../archive/http.moat.test/fullchain2.pem")
    );

    // `moat certs --json` shows the lineage with pebble as issuer.
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["certs", "--json", "--config"])
        .arg(config.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &rows[0];
    assert_eq!(row["lineage"], "http.moat.test");
    assert!(
        row["issuer"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("pebble"),
        "{row}"
    );
    assert!(row["days_left"].as_i64().unwrap() > 30, "{row}");
    assert!(row["next_attempt"].is_string(), "{row}");
    assert!(row["last_error"].is_null(), "{row}");
}

fn count_files(dir: &Path) -> usize {
    walk(dir).len()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_order_answers_http01_from_token_map() {
    let Some(p) = Pebble::start(
        "library_order_answers_http01_from_token_map",
        PebbleOpts::default(),
    ) else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let http01 = p.serve_http01().await;
    let tokens = http01.tokens.clone();
    let mut cfg = AcmeConfig::new(
        config.path(),
        vec!["lib.moat.test".into(), "api.lib.moat.test".into()],
        Directory::Custom {
            // By name: resolved through hickory (hosts file or challtestsrv), never getaddrinfo.
            url: p.directory_url.replace("127.0.0.1", "localhost"),
            ca_root: Some(p.listener_ca.clone()),
        },
    )
    .unwrap();
    cfg.dns_servers = Some(vec![p.dns]);
    cfg.key_type = moat::acme::KeyType::Ecdsa384;
    // pebble 2.4 offers no profiles: CERT_PROFILE is skipped with a warning.
    cfg.profile = Some("shortlived".into());
    let served: Arc<Mutex<Vec<CertLineage>>> = Arc::default();
    let sink = {
        let served = served.clone();
        Arc::new(move |l: CertLineage| served.lock().unwrap().push(l))
    };
    let renewer = Renewer::new(cfg.clone(), ChallengeSolver::Http01(tokens.clone()), sink);
    let (result, _) = renewer.attempt(false, None).await;
    let outcome = result.unwrap();
    assert!(matches!(outcome, Outcome::Issued(_)));
    let served = served.lock().unwrap().clone();
    assert_eq!(
        served.len(),
        1,
        "the new certificate was handed to the sink once"
    );
    assert_eq!(served[0].name, "lib.moat.test");
    let info = moat::acme::parse_leaf(&served[0].fullchain_pem).unwrap();
    pebble::verify_chain(&served[0].fullchain_pem, &p.issuing_root(), &cfg.domains);
    assert!(served[0].key_pem.contains("PRIVATE KEY"));
    assert_eq!(served[0].not_after, info.not_after);
    // The answers were withdrawn after the order.
    assert!(tokens.get("anything").is_none());
    let stored = CertStore::new(LetsencryptPaths::new(config.path()))
        .load("lib.moat.test")
        .unwrap()
        .unwrap();
    assert_eq!(stored.info.spki, info.spki);
    let key = rcgen::KeyPair::from_pem(&served[0].key_pem).unwrap();
    assert!(
        key.is_compatible(&rcgen::PKCS_ECDSA_P384_SHA384),
        "KEY_TYPE=ecdsa384 honoured"
    );
    let _ = http01.stop.send(true);
    http01.task.await.unwrap();
}
