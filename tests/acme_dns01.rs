//! DNS-01 against Debian's pebble, with a test provider publishing into
//! pebble-challtestsrv: apex + wildcard share one TXT name, records are
//! cleaned up, and the order survives nonce rejections and provider outages.

#[path = "support/env.rs"]
mod env;
#[path = "support/fake_dns.rs"]
mod fake_dns;
#[path = "support/pebble.rs"]
mod pebble;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_dns::{ChalltestProvider, RecordingCheck};
use moat::acme::{AcmeConfig, CertLineage, ChallengeSolver, Directory, Outcome, Renewer};
use pebble::{Pebble, PebbleOpts};

fn config_for(p: &Pebble, dir: &std::path::Path, domains: &[&str]) -> AcmeConfig {
    let mut cfg = AcmeConfig::new(
        dir,
        domains.iter().map(|s| s.to_string()).collect(),
        Directory::Custom {
            url: p.directory_url.clone(),
            ca_root: Some(p.listener_ca.clone()),
        },
    )
    .unwrap();
    cfg.propagation_timeout = Some(Duration::from_secs(20));
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_apex_and_wildcard_values_coexist_and_are_cleaned_up() {
    let test = "dns01_apex_and_wildcard_values_coexist_and_are_cleaned_up";
    let Some(p) = Pebble::start(test, PebbleOpts::default()) else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let cfg = config_for(&p, config.path(), &["dns.moat.test", "*.dns.moat.test"]);
    let provider = Arc::new(ChalltestProvider::new(p.challtest_mgmt, 0));
    let check = Arc::new(RecordingCheck::new(p.dns));
    let solver = ChallengeSolver::Dns01 {
        provider: provider.clone(),
        propagation: check.clone(),
    };
    let renewer = Renewer::new(cfg.clone(), solver, Arc::new(|_| {}));
    let (result, _) = renewer.attempt(false, None).await;
    let outcome = result.unwrap_or_else(|e| panic!("{e}\npebble log:\n{}", p.log_text()));
    let Outcome::Issued(stored) = outcome else {
        panic!("expected a new certificate")
    };
    assert_eq!(stored.lineage.name, "dns.moat.test");
    assert!(stored.info.covers(&cfg.domains), "{:?}", stored.info.names);
    pebble::verify_chain(
        &stored.lineage.fullchain_pem,
        &p.issuing_root(),
        &cfg.domains,
    );

    // Both authorizations used one name, and DNS showed both values at once.
    let seen = check.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one shared name: {seen:?}");
    assert_eq!(seen[0].0, "_acme-challenge.dns.moat.test");
    let mut distinct = seen[0].1.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        2,
        "both TXT values visible together: {seen:?}"
    );

    // Every record was removed, and DNS shows nothing left.
    assert_eq!(provider.cleanups.load(Ordering::SeqCst), 2);
    assert_eq!(provider.published(), 0);
    assert!(p.dns_txt("_acme-challenge.dns.moat.test").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_records_are_cleaned_up_when_the_order_fails() {
    let test = "dns01_records_are_cleaned_up_when_the_order_fails";
    let Some(p) = Pebble::start(test, PebbleOpts::default()) else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let mut cfg = config_for(&p, config.path(), &["fail.moat.test", "*.fail.moat.test"]);
    cfg.propagation_timeout = Some(Duration::from_secs(1));
    let provider = Arc::new(ChalltestProvider::new(p.challtest_mgmt, 0));
    // Propagation is checked at a name server that never sees the records.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let solver = ChallengeSolver::Dns01 {
        provider: provider.clone(),
        propagation: Arc::new(moat::acme::NameserverCheck::with_servers(vec![dead
            .local_addr()
            .unwrap()])),
    };
    let renewer = Renewer::new(cfg, solver, Arc::new(|_| {}));
    let (result, retry_in) = renewer.attempt(false, None).await;
    let err = result.unwrap_err();
    assert!(
        err.to_string().contains("_acme-challenge.fail.moat.test"),
        "{err}"
    );
    assert!(
        retry_in >= Duration::from_secs(60),
        "failures back off: {retry_in:?}"
    );
    assert_eq!(provider.cleanups.load(Ordering::SeqCst), 2);
    assert_eq!(provider.published(), 0);
    assert!(p.dns_txt("_acme-challenge.fail.moat.test").is_empty());
    let state = moat::acme::RenewalState::load(
        &moat::acme::LetsencryptPaths::new(config.path()).state_file(),
    )
    .unwrap();
    let st = &state.lineages["fail.moat.test"];
    assert_eq!(st.failures, 1);
    assert!(
        st.last_error.as_deref().unwrap().contains("not visible"),
        "{st:?}"
    );
    assert!(st.next_attempt.is_some());
}

/// Collects log output for one test thread.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuf {
    type Writer = LogBuf;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn dns01_survives_nonce_rejections_and_provider_outages_with_backoff() {
    let test = "dns01_survives_nonce_rejections_and_provider_outages_with_backoff";
    let Some(p) = Pebble::start(
        test,
        PebbleOpts {
            nonce_reject: 30,
            authz_reuse: 0,
        },
    ) else {
        return;
    };
    let logs = LogBuf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let config = tempfile::tempdir().unwrap();
    let mut cfg = config_for(&p, config.path(), &["chaos.moat.test", "*.chaos.moat.test"]);
    cfg.retry_base = Duration::from_millis(200);
    cfg.retry_max = Duration::from_secs(2);
    let provider = Arc::new(ChalltestProvider::new(p.challtest_mgmt, 2));
    let solver = ChallengeSolver::Dns01 {
        provider: provider.clone(),
        propagation: Arc::new(RecordingCheck::new(p.dns)),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<CertLineage>();
    let renewer = Arc::new(Renewer::new(
        cfg.clone(),
        solver,
        Arc::new(move |l| {
            let _ = tx.send(l);
        }),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(renewer.run(stop_rx));
    let lineage = tokio::time::timeout(Duration::from_secs(120), rx.recv())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no certificate within 120 s\nlogs:\n{}",
                String::from_utf8_lossy(&logs.0.lock().unwrap())
            )
        })
        .unwrap();
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the renewal loop stops on shutdown")
        .unwrap();

    let info = moat::acme::parse_leaf(&lineage.fullchain_pem).unwrap();
    assert!(info.covers(&cfg.domains));
    let log = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        log.contains("TXT record present failed, backing off"),
        "{log}"
    );
    assert!(
        log.contains("attempt=1") && log.contains("attempt=2"),
        "{log}"
    );
    assert!(provider.presents.load(Ordering::SeqCst) >= 4);
    assert_eq!(provider.published(), 0, "all records cleaned up");
    assert!(p.dns_txt("_acme-challenge.chaos.moat.test").is_empty());
}
