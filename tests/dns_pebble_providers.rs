//! An apex + wildcard certificate from pebble through each HTTP-API
//! provider (gandi, desec, vultr, google, transip, azure, namecheap, inwx,
//! ovh, godaddy, dnsimple, ionos, hetzner-cloud, netcup, digitalocean,
//! hetzner, porkbun, linode), each built from
//! its SWAG-style credentials file and talking to its fake API, which
//! serves its TXT records through pebble-challtestsrv (the DNS pebble
//! validates against); and through `exec` with a hook script that
//! publishes there itself. After each order no challenge record is left,
//! and the credential never reached the log. And through `acmedns`, with
//! `_acme-challenge.<domain>` a CNAME into the fake acme-dns server's zone
//! (as its users set it up): pebble follows it to the values the update
//! calls left there.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/env.rs"]
mod env;
#[path = "support/fake_acmedns.rs"]
mod fake_acmedns;
#[path = "support/fake_azure.rs"]
mod fake_azure;
#[path = "support/fake_desec.rs"]
mod fake_desec;
#[path = "support/fake_digitalocean.rs"]
mod fake_digitalocean;
#[path = "support/fake_dns.rs"]
mod fake_dns;
#[path = "support/fake_dnsimple.rs"]
mod fake_dnsimple;
#[path = "support/fake_gandi.rs"]
mod fake_gandi;
#[path = "support/fake_godaddy.rs"]
mod fake_godaddy;
#[path = "support/fake_google.rs"]
mod fake_google;
#[path = "support/fake_hetzner.rs"]
mod fake_hetzner;
#[path = "support/fake_hetzner_cloud.rs"]
mod fake_hetzner_cloud;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/fake_inwx.rs"]
mod fake_inwx;
#[path = "support/fake_ionos.rs"]
mod fake_ionos;
#[path = "support/fake_linode.rs"]
mod fake_linode;
#[path = "support/fake_namecheap.rs"]
mod fake_namecheap;
#[path = "support/fake_netcup.rs"]
mod fake_netcup;
#[path = "support/fake_ovh.rs"]
mod fake_ovh;
#[path = "support/fake_porkbun.rs"]
mod fake_porkbun;
#[path = "support/fake_transip.rs"]
mod fake_transip;
#[path = "support/fake_vultr.rs"]
mod fake_vultr;
#[path = "support/pebble.rs"]
mod pebble;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dns_ini::{with_file, with_ini};
use moat::acme::{AcmeConfig, ChallengeSolver, Directory, Outcome, Renewer};
use moat::dns::DnsProvider;
use pebble::{Pebble, PebbleOpts};

/// Collects log output.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
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

/// Orders `base` and `*.base` from pebble through `provider`; returns the
/// log. Panics with the log when no certificate comes, or when a challenge
/// record is left after the order.
async fn issue(p: &Pebble, provider: Box<dyn DnsProvider>, base: &str) -> String {
    let log = order(p, provider, base).await;
    assert!(p.dns_txt(&format!("_acme-challenge.{base}")).is_empty());
    log
}

/// [`issue`] without the check that no record is left (acme-dns keeps its
/// two latest values: it has no delete).
async fn order(p: &Pebble, provider: Box<dyn DnsProvider>, base: &str) -> String {
    let logs = LogBuf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let config = tempfile::tempdir().unwrap();
    let domains = vec![base.to_owned(), format!("*.{base}")];
    let mut cfg = AcmeConfig::new(
        config.path(),
        domains,
        Directory::Custom {
            url: p.directory_url.clone(),
            ca_root: Some(p.listener_ca.clone()),
        },
    )
    .unwrap();
    cfg.propagation_timeout = Some(Duration::from_secs(20));
    let solver = ChallengeSolver::Dns01 {
        provider: Arc::from(provider),
        propagation: Arc::new(fake_dns::RecordingCheck::new(p.dns)),
    };
    let renewer = Renewer::new(cfg.clone(), solver, Arc::new(|_| {}));
    let (result, _) = renewer.attempt(false, None).await;
    let log = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    let outcome =
        result.unwrap_or_else(|e| panic!("{e}\nlog:\n{log}\npebble log:\n{}", p.log_text()));
    let Outcome::Issued(stored) = outcome else {
        panic!("expected a new certificate")
    };
    assert!(stored.info.covers(&cfg.domains), "{:?}", stored.info.names);
    log
}

#[tokio::test(flavor = "current_thread")]
async fn gandi_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = Pebble::start(
        "gandi_issues_apex_and_wildcard_from_pebble",
        PebbleOpts::default(),
    ) else {
        return;
    };
    let token = "gandi-pat-secret-0123456789";
    let fake = fake_gandi::FakeGandi::start_publishing(
        &format!("Bearer {token}"),
        &["moat.test"],
        Some(p.challtest_mgmt),
    )
    .await;
    let (_d, provider) = with_ini(
        "gandi",
        &format!(
            "dns_gandi_token={token}\ndns_gandi_endpoint={}\n",
            fake.endpoint
        ),
    );
    let log = issue(&p, provider.unwrap(), "gandi.moat.test").await;
    assert!(fake.sets().is_empty(), "{:?}", fake.sets());
    assert!(!log.contains(token), "the token was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn desec_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = Pebble::start(
        "desec_issues_apex_and_wildcard_from_pebble",
        PebbleOpts::default(),
    ) else {
        return;
    };
    let token = "desec-token-secret-0123456789";
    let fake =
        fake_desec::FakeDesec::start_publishing(token, &["moat.test"], Some(p.challtest_mgmt))
            .await;
    let (_d, provider) = with_ini(
        "desec",
        &format!(
            "dns_desec_token={token}\ndns_desec_endpoint={}\n",
            fake.endpoint
        ),
    );
    let log = issue(&p, provider.unwrap(), "desec.moat.test").await;
    assert!(fake.sets().is_empty(), "{:?}", fake.sets());
    assert!(!log.contains(token), "the token was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn vultr_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = Pebble::start(
        "vultr_issues_apex_and_wildcard_from_pebble",
        PebbleOpts::default(),
    ) else {
        return;
    };
    let token = "vultr-key-secret-0123456789";
    let fake =
        fake_vultr::FakeVultr::start_publishing(token, &["moat.test"], 500, Some(p.challtest_mgmt))
            .await;
    let (_d, provider) = with_ini(
        "vultr",
        &format!(
            "dns_vultr_key = {token}\ndns_vultr_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let log = issue(&p, provider.unwrap(), "vultr.moat.test").await;
    assert!(fake.records().is_empty(), "{:?}", fake.records());
    assert!(!log.contains(token), "the token was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn exec_issues_apex_and_wildcard_from_pebble_through_a_hook_script() {
    let test = "exec_issues_apex_and_wildcard_from_pebble_through_a_hook_script";
    let Some(curl) = env::require_program(test, "curl") else {
        return;
    };
    let Some(p) = Pebble::start(test, PebbleOpts::default()) else {
        return;
    };
    // lego's exec contract: present|cleanup <fqdn.> <value>.
    let bin = tempfile::tempdir().unwrap();
    let hook = bin.path().join("hook");
    let calls = bin.path().join("calls");
    let script = format!(
        r#"#!/bin/sh
echo "$1 $2 $3" >> '{calls}'
echo "talking to challtestsrv with token $API_TOKEN"
case "$1" in
  present) exec '{curl}' -sf -X POST -d "{{\"host\":\"$2\",\"value\":\"$3\"}}" "http://$MGMT/set-txt" ;;
  cleanup) exec '{curl}' -sf -X POST -d "{{\"host\":\"$2\"}}" "http://$MGMT/clear-txt" ;;
esac
exit 2
"#,
        calls = calls.display(),
        curl = curl.display()
    );
    std::fs::write(&hook, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let token = "exec-hook-secret-0123456789";
    let (_d, provider) = with_ini(
        "exec",
        &format!(
            "dns_exec_path = {}\ndns_exec_env_MGMT = {}\ndns_exec_env_API_TOKEN = {token}\n",
            hook.display(),
            p.challtest_mgmt
        ),
    );
    let log = issue(&p, provider.unwrap(), "exec.moat.test").await;
    let calls = std::fs::read_to_string(&calls).unwrap();
    let actions: Vec<&str> = calls
        .lines()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .map(|l| {
            if l.starts_with("present") {
                "present"
            } else {
                "cleanup"
            }
        })
        .collect();
    assert_eq!(
        actions,
        ["present", "present", "cleanup", "cleanup"],
        "{calls}"
    );
    assert!(
        calls
            .lines()
            .all(|l| l.contains(" _acme-challenge.exec.moat.test. ")),
        "{calls}"
    );
    assert!(
        log.contains("talking to challtestsrv with token ***"),
        "{log}"
    );
    assert!(!log.contains(token), "the token was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn google_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = Pebble::start(
        "google_issues_apex_and_wildcard_from_pebble",
        PebbleOpts::default(),
    ) else {
        return;
    };
    let fake = fake_google::FakeGoogle::start(
        &[("moat-test", "moat.test", "public")],
        Some(p.challtest_mgmt),
    )
    .await;
    let (_d, provider) = with_file("google", "google.json", &fake.key_file());
    let log = issue(&p, provider.unwrap(), "google.moat.test").await;
    assert!(fake.sets().is_empty(), "{:?}", fake.sets());
    let key_line = fake_google::KEY_PEM.lines().nth(1).unwrap();
    assert!(!log.contains(key_line), "the key was logged:\n{log}");
    assert!(
        !log.contains("ya29."),
        "the access token was logged:\n{log}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn transip_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = Pebble::start(
        "transip_issues_apex_and_wildcard_from_pebble",
        PebbleOpts::default(),
    ) else {
        return;
    };
    let fake =
        fake_transip::FakeTransip::start("moatuser", &["moat.test"], Some(p.challtest_mgmt)).await;
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("transip-rsa.key");
    std::fs::write(&key, fake_transip::KEY_PEM).unwrap();
    let (_d, provider) = with_ini(
        "transip",
        &format!(
            "dns_transip_username = moatuser\ndns_transip_key_file = {}\ndns_transip_endpoint = {}\n",
            key.display(),
            fake.endpoint
        ),
    );
    let log = issue(&p, provider.unwrap(), "transip.moat.test").await;
    assert!(fake.entries().is_empty(), "{:?}", fake.entries());
    let key_line = fake_transip::KEY_PEM.lines().nth(1).unwrap();
    assert!(!log.contains(key_line), "the key was logged:\n{log}");
    assert!(!log.contains("fake-1"), "the token was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn azure_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = Pebble::start(
        "azure_issues_apex_and_wildcard_from_pebble",
        PebbleOpts::default(),
    ) else {
        return;
    };
    let fake = fake_azure::FakeAzure::start(&[("dns1", "moat.test")], Some(p.challtest_mgmt)).await;
    let (_d, provider) = with_ini("azure", &fake.sp_ini("moat.test", "dns1"));
    let log = issue(&p, provider.unwrap(), "azure.moat.test").await;
    assert!(fake.sets().is_empty(), "{:?}", fake.sets());
    assert!(
        !log.contains(fake_azure::SECRET),
        "the secret was logged:\n{log}"
    );
    assert!(
        !log.contains("azure-fake-1"),
        "the token was logged:\n{log}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn namecheap_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = Pebble::start(
        "namecheap_issues_apex_and_wildcard_from_pebble",
        PebbleOpts::default(),
    ) else {
        return;
    };
    let key = "nc-api-key-secret-0123456789";
    let fake = fake_namecheap::FakeNamecheap::start(
        "moatuser",
        key,
        "203.0.113.7",
        &["moat.test"],
        Some(p.challtest_mgmt),
    )
    .await;
    let before = fake.hosts();
    let (_d, provider) = with_ini(
        "namecheap",
        &format!(
            "dns_namecheap_username=moatuser\ndns_namecheap_api_key={key}\n\
             dns_namecheap_client_ip=203.0.113.7\ndns_namecheap_endpoint={}\n",
            fake.endpoint
        ),
    );
    let log = issue(&p, provider.unwrap(), "namecheap.moat.test").await;
    assert_eq!(
        fake.hosts(),
        before,
        "only the challenge hosts came and went"
    );
    assert!(!log.contains(key), "the key was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn inwx_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = Pebble::start(
        "inwx_issues_apex_and_wildcard_from_pebble",
        PebbleOpts::default(),
    ) else {
        return;
    };
    let pass = "inwx-password-secret-0123456789";
    let fake = fake_inwx::FakeInwx::start(
        "moatuser",
        pass,
        Some(b"12345678901234567890"),
        &["moat.test"],
        Some(p.challtest_mgmt),
    )
    .await;
    let (_d, provider) = with_ini(
        "inwx",
        &format!(
            "dns_inwx_url = {}\ndns_inwx_username = moatuser\ndns_inwx_password = {pass}\n\
             dns_inwx_shared_secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
            fake.url
        ),
    );
    let log = issue(&p, provider.unwrap(), "inwx.moat.test").await;
    assert!(fake.records().is_empty(), "{:?}", fake.records());
    assert_eq!(fake.open_sessions(), 0);
    assert!(!log.contains(pass), "the password was logged:\n{log}");
    assert!(
        !log.contains("GEZDGNBV"),
        "the shared secret was logged:\n{log}"
    );
}

/// Starts pebble for `test`, or `None` (skipped loudly) without it.
fn pebble(test: &str) -> Option<Pebble> {
    Pebble::start(test, PebbleOpts::default())
}

#[tokio::test(flavor = "current_thread")]
async fn ovh_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = pebble("ovh_issues_apex_and_wildcard_from_pebble") else {
        return;
    };
    let keys = fake_ovh::OvhKeys {
        application_key: "ovh-app-key-0123".into(),
        application_secret: "ovh-app-secret-secret-4567".into(),
        consumer_key: "ovh-consumer-key-secret-89ab".into(),
    };
    let fake = fake_ovh::FakeOvh::start(keys.clone(), &["moat.test"], 1000).await;
    fake.publisher.publish_to(p.challtest_mgmt);
    let (_d, provider) = with_ini(
        "ovh",
        &format!(
            "dns_ovh_endpoint = {}\ndns_ovh_application_key = {}\n\
             dns_ovh_application_secret = {}\ndns_ovh_consumer_key = {}\n",
            fake.endpoint, keys.application_key, keys.application_secret, keys.consumer_key
        ),
    );
    let log = issue(&p, provider.unwrap(), "ovh.moat.test").await;
    assert!(fake.records().is_empty(), "{:?}", fake.records());
    assert!(
        !log.contains(&keys.application_secret),
        "the secret was logged:\n{log}"
    );
    assert!(
        !log.contains(&keys.consumer_key),
        "the consumer key was logged:\n{log}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn godaddy_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = pebble("godaddy_issues_apex_and_wildcard_from_pebble") else {
        return;
    };
    let secret = "gd-secret-secret-0123456789";
    let fake = fake_godaddy::FakeGodaddy::start("gd-key", secret, &["moat.test"]).await;
    fake.publisher.publish_to(p.challtest_mgmt);
    let (_d, provider) = with_ini(
        "godaddy",
        &format!(
            "dns_godaddy_key = gd-key\ndns_godaddy_secret = {secret}\ndns_godaddy_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let log = issue(&p, provider.unwrap(), "godaddy.moat.test").await;
    assert!(
        fake.names().iter().all(|n| n.records.is_empty()),
        "{:?}",
        fake.names()
    );
    assert!(!log.contains(secret), "the secret was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn dnsimple_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = pebble("dnsimple_issues_apex_and_wildcard_from_pebble") else {
        return;
    };
    let token = "dnsimple-token-secret-0123456789";
    let fake = fake_dnsimple::FakeDnsimple::start(token, true, &[(1385, "moat.test")]).await;
    fake.publisher.publish_to(p.challtest_mgmt);
    let (_d, provider) = with_ini(
        "dnsimple",
        &format!(
            "dns_dnsimple_token = {token}\ndns_dnsimple_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let log = issue(&p, provider.unwrap(), "dnsimple.moat.test").await;
    assert!(fake.records().is_empty(), "{:?}", fake.records());
    assert!(!log.contains(token), "the token was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn ionos_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = pebble("ionos_issues_apex_and_wildcard_from_pebble") else {
        return;
    };
    let secret = "ionos-secret-0123456789";
    let fake = fake_ionos::FakeIonos::start(
        &format!("pfx.{secret}"),
        &[("11af3414-ebba-11e9-8df5-66fbe8a334b4", "moat.test")],
    )
    .await;
    fake.publisher.publish_to(p.challtest_mgmt);
    let (_d, provider) = with_ini(
        "ionos",
        &format!(
            "dns_ionos_prefix = pfx\ndns_ionos_secret = {secret}\ndns_ionos_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let log = issue(&p, provider.unwrap(), "ionos.moat.test").await;
    assert!(fake.records().is_empty(), "{:?}", fake.records());
    assert!(!log.contains(secret), "the secret was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn hetzner_cloud_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = pebble("hetzner_cloud_issues_apex_and_wildcard_from_pebble") else {
        return;
    };
    let token = "hc-token-secret-0123456789";
    let fake = fake_hetzner_cloud::FakeHetznerCloud::start(token, &["moat.test"]).await;
    fake.publisher.publish_to(p.challtest_mgmt);
    let (_d, provider) = with_ini(
        "hetzner-cloud",
        &format!(
            "dns_hetzner_cloud_api_token = {token}\ndns_hetzner_cloud_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let log = issue(&p, provider.unwrap(), "hcloud.moat.test").await;
    assert!(
        fake.sets().iter().all(|s| s.values.is_empty()),
        "{:?}",
        fake.sets()
    );
    assert!(!log.contains(token), "the token was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn netcup_issues_apex_and_wildcard_from_pebble() {
    let Some(p) = pebble("netcup_issues_apex_and_wildcard_from_pebble") else {
        return;
    };
    let creds = (
        "12345".to_owned(),
        "nc-api-key-0123".to_owned(),
        "nc-api-password-secret-4567".to_owned(),
    );
    let fake = fake_netcup::FakeNetcup::start(creds.clone(), &["moat.test"]).await;
    fake.publisher.publish_to(p.challtest_mgmt);
    let (_d, provider) = with_ini(
        "netcup",
        &format!(
            "dns_netcup_customer_id = {}\ndns_netcup_api_key = {}\ndns_netcup_api_password = {}\n\
             dns_netcup_endpoint = {}\n",
            creds.0, creds.1, creds.2, fake.endpoint
        ),
    );
    // netcup's 900 s default is for its own slow servers; the fake is quick.
    let log = issue(&p, provider.unwrap(), "netcup.moat.test").await;
    assert!(fake.records().is_empty(), "{:?}", fake.records());
    assert!(!log.contains(&creds.2), "the password was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn digitalocean_issues_apex_and_wildcard_from_pebble() {
    let test = "digitalocean_issues_apex_and_wildcard_from_pebble";
    let Some(p) = Pebble::start(test, PebbleOpts::default()) else {
        return;
    };
    let token = "dop_v1_secret-0123456789abcdef";
    let fake = fake_digitalocean::FakeDigitalOcean::start_publishing(
        token,
        &["moat.test"],
        Some(p.challtest_mgmt),
    )
    .await;
    let ini = format!(
        "dns_digitalocean_token = {token}\ndns_digitalocean_endpoint = {}\n",
        fake.endpoint
    );
    let (_d, provider) = with_ini("digitalocean", &ini);
    let log = issue(&p, provider.unwrap(), "do.moat.test").await;
    assert!(fake.records().is_empty(), "{:?}", fake.records());
    assert!(!log.contains(token), "the token was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn hetzner_issues_apex_and_wildcard_from_pebble() {
    let test = "hetzner_issues_apex_and_wildcard_from_pebble";
    let Some(p) = Pebble::start(test, PebbleOpts::default()) else {
        return;
    };
    let token = "hetzner-dns-secret-0123456789";
    let fake = fake_hetzner::FakeHetzner::start_publishing(
        token,
        &[("zone-7", "moat.test")],
        Some(p.challtest_mgmt),
    )
    .await;
    let ini = format!(
        "dns_hetzner_api_token = {token}\ndns_hetzner_endpoint = {}\n",
        fake.endpoint
    );
    let (_d, provider) = with_ini("hetzner", &ini);
    let log = issue(&p, provider.unwrap(), "hetzner.moat.test").await;
    assert!(fake.records().is_empty(), "{:?}", fake.records());
    assert!(!log.contains(token), "the token was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn porkbun_issues_apex_and_wildcard_from_pebble() {
    let test = "porkbun_issues_apex_and_wildcard_from_pebble";
    let Some(p) = Pebble::start(test, PebbleOpts::default()) else {
        return;
    };
    let (key, secret) = ("pk1_key-0123456789", "sk1_secret-0123456789");
    let fake = fake_porkbun::FakePorkbun::start_publishing(
        key,
        secret,
        &["moat.test"],
        Some(p.challtest_mgmt),
    )
    .await;
    let ini = format!(
        "dns_porkbun_key = {key}\ndns_porkbun_secret = {secret}\ndns_porkbun_endpoint = {}\n",
        fake.endpoint
    );
    let (_d, provider) = with_ini("porkbun", &ini);
    let log = issue(&p, provider.unwrap(), "porkbun.moat.test").await;
    assert!(fake.records().is_empty(), "{:?}", fake.records());
    assert!(!log.contains(secret), "the secret was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn linode_issues_apex_and_wildcard_from_pebble() {
    let test = "linode_issues_apex_and_wildcard_from_pebble";
    let Some(p) = Pebble::start(test, PebbleOpts::default()) else {
        return;
    };
    let token = "linode-token-secret-0123456789";
    let fake = fake_linode::FakeLinode::start_publishing(
        token,
        &[(42, "moat.test")],
        500,
        Some(p.challtest_mgmt),
    )
    .await;
    let ini = format!(
        "dns_linode_key = {token}\ndns_linode_version = 4\ndns_linode_endpoint = {}\n",
        fake.endpoint
    );
    let (_d, provider) = with_ini("linode", &ini);
    let log = issue(&p, provider.unwrap(), "linode.moat.test").await;
    assert!(fake.records().is_empty(), "{:?}", fake.records());
    assert!(!log.contains(token), "the token was logged:\n{log}");
}

#[tokio::test(flavor = "current_thread")]
async fn acmedns_issues_apex_and_wildcard_from_pebble_through_the_cname() {
    let test = "acmedns_issues_apex_and_wildcard_from_pebble_through_the_cname";
    let Some(p) = Pebble::start(test, PebbleOpts::default()) else {
        return;
    };
    let (user, password) = (
        "eabcdb41-d89f-4580-826f-3e62e9755ef2",
        "pbAXVjlIOE01xbut7YnAbkhMQIkcwoHO0ek2j4Q0",
    );
    let sub = "d420c923-bbd7-4056-ab64-c3ca54c9b3cf";
    let zone = "auth.acme-dns.test";
    let fake = fake_acmedns::FakeAcmeDns::start_publishing(
        &[(user, password, sub)],
        zone,
        Some(p.challtest_mgmt),
    )
    .await;
    // The user's one-time setup: the challenge name delegated by CNAME.
    let base = "acmedns.moat.test";
    let fulldomain = format!("{sub}.{zone}");
    fake_http::challtest_cname(
        p.challtest_mgmt,
        &format!("_acme-challenge.{base}."),
        &format!("{fulldomain}."),
    )
    .await;
    let registration = serde_json::json!({
        base: {
            "username": user,
            "password": password,
            "fulldomain": fulldomain,
            "subdomain": sub,
            "allowfrom": [],
        }
    })
    .to_string();
    let ini = format!(
        "dns_acmedns_api_url = {}\n\
         dns_acmedns_registration_file = /config/dns-conf/acmedns-registration.json\n",
        fake.endpoint
    );
    let (_d, provider) = dns_ini::with_files(
        "acmedns",
        &[
            ("acmedns.ini", &ini),
            ("acmedns-registration.json", &registration),
        ],
    );
    let log = order(&p, provider.unwrap(), base).await;
    // Both values went to the registration's subdomain, the only place
    // they were published: pebble reached them through the CNAME.
    assert_eq!(fake.values(sub).len(), 2, "{:?}", fake.requests());
    assert_eq!(
        p.dns_txt(&format!("{fulldomain}.")).len(),
        2,
        "the values are served in acme-dns's zone"
    );
    assert!(!log.contains(password), "the password was logged:\n{log}");
}
