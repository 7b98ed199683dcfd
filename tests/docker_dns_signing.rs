//! DNS-01 end to end in containers, one test per request-signing scheme
//! the DNS providers use (issue 13): AWS SigV4 (`route53`), OVH's
//! application/consumer key signature (`ovh`) and an OAuth service-account
//! JWT exchanged for a bearer token (`google`). Each runs the moat image
//! with `VALIDATION=dns DNSPLUGIN=<plugin>` and SWAG's credentials file
//! for it, pebble and pebble-challtestsrv as containers on the test's
//! network, and the provider's fake API in the test (listening on the
//! network's gateway, verifying every signature with the documented
//! algorithm, publishing its TXT records through challtestsrv). Asserted:
//! the wildcard certificate is issued and served, the fake accepted signed
//! changes, no challenge record is left, and no secret reached
//! `docker logs`. The aliyun scheme has its own container test in
//! `docker_e2e.rs`.

#[path = "support/docker.rs"]
mod docker;
#[path = "support/env.rs"]
mod env;
#[path = "support/fake_google.rs"]
mod fake_google;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/fake_ovh.rs"]
mod fake_ovh;
#[path = "support/fake_route53.rs"]
mod fake_route53;

use std::path::Path;
use std::time::Duration;

use docker::{DnsStage, Run};

const DOMAIN: &str = "example.test";

/// Writes `dns-conf/<name>` under `config` (mode 600, as SWAG's are).
fn write_credentials(config: &Path, name: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let dir = config.join("dns-conf");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Runs moat for `plugin` on `config` and waits for the wildcard
/// certificate to be issued and served; returns moat's logs.
fn issue_and_serve(run: &Run, stage: &DnsStage, config: &Path, plugin: &str) -> String {
    let moat = run.start(&stage.moat(&run.moat_image(), config, DOMAIN, plugin));
    let live = config.join(format!("etc/letsencrypt/live/{DOMAIN}/fullchain.pem"));
    docker::wait_for(
        Duration::from_secs(120),
        "the wildcard certificate in live/",
        || live.is_file().then_some(()),
        || {
            format!(
                "moat:\n{}\npebble:\n{}",
                run.logs(&moat),
                run.logs(&stage.pebble)
            )
        },
    );
    stage.wait_for_wildcard(run, &moat, DOMAIN);
    run.logs(&moat)
}

/// A runtime for the fake API (it outlives each request the container makes).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn route53_sigv4_issues_the_wildcard_in_a_container() {
    let test = "route53_sigv4_issues_the_wildcard_in_a_container";
    let Some(run) = Run::new(test) else {
        return;
    };
    let Some(stage) = run.dns_stage(test) else {
        return;
    };
    let rt = runtime();
    let (key_id, secret) = (
        "AKIDCONTAINERTEST000",
        "c0ntainer/Route53+Secret000000000000000",
    );
    let account = fake_route53::R53Account {
        key_id: key_id.into(),
        secret: secret.into(),
        session_token: None,
        zones: vec![("ZEXAMPLE".into(), format!("{DOMAIN}."), false)],
    };
    let fake = rt.block_on(fake_route53::FakeRoute53::start_publishing_at(
        account,
        Some(stage.management),
        stage.gateway,
    ));
    let config = run.temp_dir();
    write_credentials(
        &config,
        "route53.ini",
        &format!(
            "[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n\
             dns_route53_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let logs = issue_and_serve(&run, &stage, &config, "route53");
    let changes: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|(m, p)| m == "POST" && p.contains("/rrset"))
        .collect();
    assert!(
        changes.len() >= 2,
        "UPSERT and DELETE batches reached the fake (it makes records only for a \
         valid signature, and pebble saw them): {:?}",
        fake.requests()
    );
    docker::wait_for(
        Duration::from_secs(30),
        "no TXT set left",
        || fake.sets().iter().all(|s| s.kind != "TXT").then_some(()),
        || format!("{:?}", fake.sets()),
    );
    assert!(
        !logs.contains(secret),
        "the secret reached the log:\n{logs}"
    );
    drop(rt);
}

#[test]
fn ovh_signed_calls_issue_the_wildcard_in_a_container() {
    let test = "ovh_signed_calls_issue_the_wildcard_in_a_container";
    let Some(run) = Run::new(test) else {
        return;
    };
    let Some(stage) = run.dns_stage(test) else {
        return;
    };
    let rt = runtime();
    let keys = fake_ovh::OvhKeys {
        application_key: "ovh-container-app-key".into(),
        application_secret: "ovh-container-app-secret-0123".into(),
        consumer_key: "ovh-container-consumer-key-4567".into(),
    };
    let fake = rt.block_on(fake_ovh::FakeOvh::start_at(
        keys.clone(),
        &[DOMAIN],
        0,
        stage.gateway,
    ));
    fake.publisher.publish_to(stage.management);
    let config = run.temp_dir();
    write_credentials(
        &config,
        "ovh.ini",
        &format!(
            "dns_ovh_endpoint = {}\ndns_ovh_application_key = {}\n\
             dns_ovh_application_secret = {}\ndns_ovh_consumer_key = {}\n",
            fake.endpoint, keys.application_key, keys.application_secret, keys.consumer_key
        ),
    );
    let logs = issue_and_serve(&run, &stage, &config, "ovh");
    docker::wait_for(
        Duration::from_secs(30),
        "no TXT record left",
        || fake.records().is_empty().then_some(()),
        || format!("{:?}", fake.records()),
    );
    for secret in [&keys.application_secret, &keys.consumer_key] {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the log:\n{logs}"
        );
    }
    drop(rt);
}

#[test]
fn google_service_account_jwt_issues_the_wildcard_in_a_container() {
    let test = "google_service_account_jwt_issues_the_wildcard_in_a_container";
    let Some(run) = Run::new(test) else {
        return;
    };
    let Some(stage) = run.dns_stage(test) else {
        return;
    };
    let rt = runtime();
    let fake = rt.block_on(fake_google::FakeGoogle::start_at(
        &[("example-test", DOMAIN, "public")],
        Some(stage.management),
        stage.gateway,
    ));
    let config = run.temp_dir();
    write_credentials(&config, "google.json", &fake.key_file());
    let logs = issue_and_serve(&run, &stage, &config, "google");
    docker::wait_for(
        Duration::from_secs(30),
        "no TXT record set left",
        || fake.sets().is_empty().then_some(()),
        || format!("{:?}", fake.sets()),
    );
    let key_line = fake_google::KEY_PEM.lines().nth(1).unwrap();
    assert!(!logs.contains(key_line), "the key reached the log:\n{logs}");
    assert!(
        !logs.contains("ya29."),
        "the access token reached the log:\n{logs}"
    );
    drop(rt);
}
