//! Renewal and parameter changes against pebble: a near-expiry certificate
//! is replaced, the old one is served until the new one is stored, deploy
//! hooks run, and a changed domain list orders first and retires after.
//!
//! The proxy side of the hot swap (a TLS client loop seeing zero failed
//! handshakes) belongs to the proxy's tests: here the sink receiving the new
//! lineage is the hand-over point.

#[path = "support/certbot_layout.rs"]
mod certbot_layout;
#[path = "support/env.rs"]
mod env;
#[path = "support/pebble.rs"]
mod pebble;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use certbot_layout::{make_cert, now, write_lineage};
use moat::acme::{
    AcmeConfig, CertLineage, ChallengeSolver, Directory, Http01Tokens, LetsencryptPaths, Outcome,
    Renewer,
};
use pebble::{Pebble, PebbleOpts};

const DAY: i64 = 86_400;

struct Harness {
    p: Pebble,
    tokens: Http01Tokens,
    stop: tokio::sync::watch::Sender<bool>,
    served: Arc<Mutex<Vec<CertLineage>>>,
}

impl Harness {
    async fn start(test: &str) -> Option<Harness> {
        let p = Pebble::start(test, PebbleOpts::default())?;
        let http01 = p.serve_http01().await;
        Some(Harness {
            p,
            tokens: http01.tokens,
            stop: http01.stop,
            served: Arc::default(),
        })
    }

    fn config(&self, dir: &Path, domains: &[&str]) -> AcmeConfig {
        AcmeConfig::new(
            dir,
            domains.iter().map(|s| s.to_string()).collect(),
            Directory::Custom {
                url: self.p.directory_url.clone(),
                ca_root: Some(self.p.listener_ca.clone()),
            },
        )
        .unwrap()
    }

    fn renewer(&self, cfg: AcmeConfig) -> Renewer {
        let served = self.served.clone();
        Renewer::new(
            cfg,
            ChallengeSolver::Http01(self.tokens.clone()),
            Arc::new(move |l| served.lock().unwrap().push(l)),
        )
    }

    fn served_issuers(&self) -> Vec<(String, String)> {
        self.served
            .lock()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l.name.clone(),
                    moat::acme::parse_leaf(&l.fullchain_pem).unwrap().issuer,
                )
            })
            .collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_expiry_certificate_is_renewed_while_the_old_one_keeps_serving() {
    let Some(h) =
        Harness::start("near_expiry_certificate_is_renewed_while_the_old_one_keeps_serving").await
    else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    // An existing 90-day certificate with one day left (due: a third remains
    // long ago), from another CA.
    let (old_chain, old_key, _) = make_cert(&["renew.moat.test"], now() - 89 * DAY, now() + DAY);
    write_lineage(config.path(), "renew.moat.test", &old_chain, &old_key, true);
    // A deploy hook records certbot's variables.
    let paths = LetsencryptPaths::new(config.path());
    std::fs::create_dir_all(paths.deploy_hooks_dir()).unwrap();
    let hook_out = config.path().join("hook.out");
    let hook = paths.deploy_hooks_dir().join("10-record");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$RENEWED_LINEAGE|$RENEWED_DOMAINS\" >> {}\n",
            hook_out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();

    let renewer = h.renewer(h.config(config.path(), &["renew.moat.test"]));
    let (result, next) = renewer.attempt(false, None).await;
    let Outcome::Issued(new) = result.unwrap() else {
        panic!("the near-expiry certificate must be renewed")
    };
    // The old certificate was handed to the server first, then the new one.
    let issuers = h.served_issuers();
    assert_eq!(issuers.len(), 2, "{issuers:?}");
    assert!(issuers[0].1.contains("old test CA"), "{issuers:?}");
    assert!(
        issuers[1].1.to_lowercase().contains("pebble"),
        "{issuers:?}"
    );
    // Stored as archive version 2; version 1 (the old pair) is kept.
    assert_eq!(
        std::fs::read_link(paths.live_file("renew.moat.test", "privkey")).unwrap(),
        Path::new("../../archive/renew.moat.test/privkey2.pem")
    );
    assert_eq!(
        std::fs::read_to_string(paths.archive_file("renew.moat.test", "fullchain", 1)).unwrap(),
        old_chain
    );
    pebble::verify_chain(
        &new.lineage.fullchain_pem,
        &h.p.issuing_root(),
        &["renew.moat.test".into()],
    );
    // The next check is scheduled well ahead (12 h at most).
    assert!(
        next.as_secs() > 3600 && next.as_secs() <= 13 * 3600 + 3600,
        "{next:?}"
    );
    let hook_log = std::fs::read_to_string(&hook_out).unwrap();
    assert_eq!(
        hook_log.trim(),
        format!(
            "{}|renew.moat.test",
            paths.live_dir("renew.moat.test").display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_change_orders_the_new_certificate_before_retiring_the_old() {
    let Some(h) =
        Harness::start("parameter_change_orders_the_new_certificate_before_retiring_the_old").await
    else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let paths = LetsencryptPaths::new(config.path());
    let params = |url: &str, subs: &str| {
        vec![
            ("ORIGURL".to_string(), url.to_string()),
            ("ORIGSUBDOMAINS".to_string(), subs.to_string()),
        ]
    };

    // 1. First certificate.
    let mut cfg = h.config(config.path(), &["param.moat.test", "www.param.moat.test"]);
    cfg.swag_params = params("param.moat.test", "www");
    let (r, _) = h.renewer(cfg).attempt(false, None).await;
    let Outcome::Issued(first) = r.unwrap() else {
        panic!()
    };

    // 2. SUBDOMAINS gains `chat`: same lineage, new names; the old
    //    certificate is served until the new one is stored.
    h.served.lock().unwrap().clear();
    let mut cfg = h.config(
        config.path(),
        &[
            "param.moat.test",
            "www.param.moat.test",
            "chat.param.moat.test",
        ],
    );
    cfg.swag_params = params("param.moat.test", "www,chat");
    let (r, _) = h.renewer(cfg.clone()).attempt(false, None).await;
    let Outcome::Issued(second) = r.unwrap() else {
        panic!("new names need a new certificate")
    };
    {
        let served = h.served.lock().unwrap();
        assert_eq!(served.len(), 2);
        assert_eq!(
            served[0].fullchain_pem, first.lineage.fullchain_pem,
            "old served while ordering"
        );
        assert_eq!(served[1].fullchain_pem, second.lineage.fullchain_pem);
    }
    assert!(second.info.covers(&cfg.domains));
    let recorded = std::fs::read_to_string(paths.params_file()).unwrap();
    assert!(
        recorded.contains("ORIGSUBDOMAINS=\"www,chat\""),
        "{recorded}"
    );

    // 3. URL changes with REVOKE_REPLACED=true: a new lineage; keys/ keeps
    //    pointing at the old one until the new one is stored; then the old
    //    certificate is revoked (and its files stay on disk).
    h.served.lock().unwrap().clear();
    let mut cfg = h.config(config.path(), &["other.moat.test"]);
    cfg.swag_params = params("other.moat.test", "");
    cfg.revoke_replaced = true;
    let renewer = h.renewer(cfg);
    let before = renewer
        .load_current()
        .expect("the old lineage is served at start");
    assert_eq!(before.lineage.name, "param.moat.test");
    let (r, _) = renewer.attempt(false, None).await;
    let Outcome::Issued(third) = r.unwrap() else {
        panic!()
    };
    {
        let served = h.served.lock().unwrap();
        assert_eq!(
            served[0].name, "param.moat.test",
            "old lineage served while ordering"
        );
        assert_eq!(served.last().unwrap().name, "other.moat.test");
    }
    assert_eq!(third.lineage.name, "other.moat.test");
    assert_eq!(
        std::fs::read_link(paths.keys_letsencrypt()).unwrap(),
        Path::new("../etc/letsencrypt/live/other.moat.test")
    );
    assert!(paths.live_file("param.moat.test", "fullchain").exists());
    let status = h.p.cert_status(&second.lineage.fullchain_pem);
    assert!(
        status.contains("Revoked"),
        "old certificate revoked after the new one: {status}"
    );
    let status = h.p.cert_status(&third.lineage.fullchain_pem);
    assert!(status.contains("Valid"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moat_renew_asks_the_running_instance_through_its_socket() {
    let Some(h) = Harness::start("moat_renew_asks_the_running_instance_through_its_socket").await
    else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<CertLineage>();
    let renewer = Arc::new(Renewer::new(
        h.config(config.path(), &["socket.moat.test"]),
        ChallengeSolver::Http01(h.tokens.clone()),
        Arc::new(move |l| {
            let _ = tx.send(l);
        }),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(renewer.run(stop_rx));
    let wait = std::time::Duration::from_secs(60);
    let first = tokio::time::timeout(wait, rx.recv())
        .await
        .unwrap()
        .unwrap();

    // The instance now waits ~12 h; `moat renew --force` wakes it.
    let socket = LetsencryptPaths::new(config.path()).renew_socket();
    assert!(pebble::wait_until(
        std::time::Duration::from_secs(10),
        || socket.exists()
    ));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["renew", "--force", "--config"])
        .arg(config.path())
        .env_clear()
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("running instance: ok"), "{stdout}");
    // The sink first gets the current certificate again (kept serving while
    // ordering), then the new one.
    let kept = tokio::time::timeout(wait, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.fullchain_pem, first.fullchain_pem);
    let second = tokio::time::timeout(wait, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        second.fullchain_pem, first.fullchain_pem,
        "a new certificate after the request"
    );

    stop_tx.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), task)
        .await
        .expect("the loop ends on shutdown")
        .unwrap();
    assert!(
        !socket.exists(),
        "the control socket is removed on shutdown"
    );
}
