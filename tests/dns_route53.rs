//! The Route 53 provider against a fake of its REST API that verifies every
//! SigV4 signature independently and keeps every request and change: the
//! apex and wildcard values are merged into one TXT set (never clobbered),
//! cleanup takes out exactly its value, preflight changes nothing, bad keys
//! and SWAG's untouched template are named without showing a secret. And an
//! apex + wildcard certificate from pebble through the provider, the fake
//! serving its TXT sets through pebble-challtestsrv: nothing is left after,
//! and no secret reaches the log.

#[path = "support/env.rs"]
mod env;
#[path = "support/fake_dns.rs"]
mod fake_dns;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/fake_route53.rs"]
mod fake_route53;
#[path = "support/pebble.rs"]
mod pebble;

use std::path::Path;
use std::time::Duration;

use fake_route53::{FakeRoute53, R53Account, R53Set};
use moat::dns::{ini, CredentialSource, DnsError, DnsProvider, Route53Config, Route53Provider};

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const NAME: &str = "_acme-challenge.sub.example.test";
const KEY_ID: &str = "AKIDEXAMPLE0000TEST";
const SECRET: &str = "s3cr3t/Route53+Secret0000000000000000000";
const FILE: &str = "/config/dns-conf/route53.ini";

fn account() -> R53Account {
    R53Account {
        key_id: KEY_ID.into(),
        secret: SECRET.into(),
        session_token: None,
        zones: vec![
            ("ZOTHER".into(), "other.test.".into(), false),
            // A private zone of the same name is never used.
            ("ZPRIVATE".into(), "example.test.".into(), true),
            ("ZPUBLIC".into(), "example.test.".into(), false),
        ],
    }
}

fn ini_text(key_id: &str, secret: &str, endpoint: &str) -> String {
    format!(
        "[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n\
         dns_route53_endpoint = {endpoint}\n\n[profile other]\naws_access_key_id = AKIAOTHER\n"
    )
}

/// A provider from `text` with no AWS variables in the environment, polling
/// GetChange quickly.
fn provider(text: &str, env: &[(&str, &str)]) -> Result<Route53Provider, DnsError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ini = ini::parse("route53", text, Path::new(FILE))?;
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut config = Route53Config::from_sources(&ini, |name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })?;
    config.poll_interval = Duration::from_millis(10);
    Route53Provider::new(config)
}

fn q(v: &str) -> String {
    format!("\"{v}\"")
}

fn change(action: &str, name: &str, values: &[&str]) -> (String, String, Vec<String>) {
    (
        action.to_owned(),
        name.to_owned(),
        values.iter().map(|v| q(v)).collect(),
    )
}

#[tokio::test]
async fn route53_merges_values_into_one_set_and_cleanup_takes_out_only_its_value() {
    let fake = FakeRoute53::start(account()).await;
    let own = "the owner's own value";
    fake.seed("ZPUBLIC", &format!("{NAME}."), 300, &[&q(own)]);
    let p = provider(&ini_text(KEY_ID, SECRET, &fake.endpoint), &[]).unwrap();
    assert_eq!(p.name(), "route53");

    // A wildcard's challenge is at its base name: checked once.
    let line = p
        .preflight(&["sub.example.test".into(), "*.sub.example.test".into()])
        .await
        .unwrap();
    assert_eq!(
        line,
        "route53: credentials from route53.ini [default] accepted; \
         sub.example.test in hosted zone example.test (ZPUBLIC)"
    );
    // Preflight only reads: the zone by name, longest suffix first, then the set.
    let reqs = fake.requests();
    assert!(reqs.iter().all(|(m, _)| m == "GET"), "{reqs:?}");
    assert_eq!(
        reqs.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(),
        [
            "/2013-04-01/hostedzonesbyname?dnsname=sub.example.test&maxitems=10",
            "/2013-04-01/hostedzonesbyname?dnsname=example.test&maxitems=10",
            "/2013-04-01/hostedzone/ZPUBLIC/rrset?maxitems=1&name=_acme-challenge.sub.example.test.&type=TXT",
        ]
    );
    assert!(fake.changes().is_empty());

    fake.clear_requests();
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    assert_eq!(apex.zone.as_deref(), Some("ZPUBLIC"));
    let set = format!("{NAME}.");
    assert_eq!(
        fake.changes(),
        [
            change("UPSERT", &set, &[own, APEX_VALUE]),
            change("UPSERT", &set, &[own, APEX_VALUE, WILDCARD_VALUE]),
        ]
    );
    // Each present waits for INSYNC: the fake answers PENDING once.
    let polls = fake
        .requests()
        .iter()
        .filter(|(m, p)| m == "GET" && p.starts_with("/2013-04-01/change/"))
        .count();
    assert_eq!(polls, 4);
    // The owner's TTL is kept.
    assert_eq!(fake.sets()[0].ttl, 300);

    p.cleanup(&apex).await.unwrap();
    assert_eq!(
        fake.changes()[2..],
        [change("UPSERT", &set, &[own, WILDCARD_VALUE])]
    );
    // Without the zone (a handle from before a crash): looked up again.
    let mut lost = wild.clone();
    lost.zone = None;
    p.cleanup(&lost).await.unwrap();
    assert_eq!(fake.changes()[3..], [change("UPSERT", &set, &[own])]);
    assert_eq!(
        fake.sets(),
        [R53Set {
            zone: "ZPUBLIC".into(),
            name: set.clone(),
            kind: "TXT".into(),
            ttl: 300,
            values: vec![q(own)],
        }]
    );
    // Idempotent: nothing more is changed.
    p.cleanup(&apex).await.unwrap();
    assert_eq!(fake.changes().len(), 4);
}

#[tokio::test]
async fn route53_deletes_the_set_with_its_last_value_and_concurrent_presents_both_land() {
    let fake = FakeRoute53::start(account()).await;
    let p = provider(&ini_text(KEY_ID, SECRET, &fake.endpoint), &[]).unwrap();
    let name = "_acme-challenge.example.test";
    let (a, b) = tokio::join!(p.present(name, APEX_VALUE), p.present(name, WILDCARD_VALUE));
    let (a, b) = (a.unwrap(), b.unwrap());
    let sets = fake.sets();
    assert_eq!(sets.len(), 1);
    let mut values = sets[0].values.clone();
    values.sort();
    let mut want = vec![q(APEX_VALUE), q(WILDCARD_VALUE)];
    want.sort();
    assert_eq!(values, want);
    assert_eq!(sets[0].ttl, 10);

    p.cleanup(&a).await.unwrap();
    p.cleanup(&b).await.unwrap();
    assert!(fake.sets().is_empty());
    let last = fake.changes().pop().unwrap();
    assert_eq!(last.0, "DELETE");
}

#[tokio::test]
async fn route53_bad_keys_unknown_zone_and_env_credentials_are_named() {
    let fake = FakeRoute53::start(account()).await;
    let p = provider(&ini_text(KEY_ID, "wrong-secret-value", &fake.endpoint), &[]).unwrap();
    let err = p.preflight(&[]).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("HTTP 403 SignatureDoesNotMatch")
            && text.contains("check aws_secret_access_key under [default] in route53.ini"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-value"), "{text}");
    assert!(fake.changes().is_empty());

    let p = provider(&ini_text("AKIAUNKNOWN", SECRET, &fake.endpoint), &[]).unwrap();
    let err = p.present(NAME, APEX_VALUE).await.unwrap_err().to_string();
    assert!(
        err.contains("InvalidClientTokenId")
            && err.contains("check aws_access_key_id under [default] in route53.ini"),
        "{err}"
    );

    let p = provider(&ini_text(KEY_ID, SECRET, &fake.endpoint), &[]).unwrap();
    let err = p
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "no public hosted zone in this AWS account holds _acme-challenge.nowhere.test"
        ),
        "{err}"
    );
    assert!(fake.changes().is_empty());

    // The environment wins over the file, session token included.
    let mut acct = account();
    acct.session_token = Some("session-token-value".into());
    let fake = FakeRoute53::start(acct).await;
    let env = [
        ("AWS_ACCESS_KEY_ID", KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", "session-token-value"),
    ];
    let text = format!("[default]\ndns_route53_endpoint = {}\n", fake.endpoint);
    let p = provider(&text, &env).unwrap();
    let line = p.preflight(&[]).await.unwrap();
    assert_eq!(line, "route53: credentials from AWS_ACCESS_KEY_ID accepted");
    let h = p.present(NAME, APEX_VALUE).await.unwrap();
    p.cleanup(&h).await.unwrap();
    assert!(fake.sets().is_empty());
    let err = provider(&text, &env[..2])
        .unwrap()
        .preflight(&[])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("InvalidClientTokenId") && err.contains("check AWS_ACCESS_KEY_ID"),
        "{err}"
    );
}

#[test]
fn route53_ini_errors_name_the_file_and_key() {
    let template = std::fs::read_to_string(format!(
        "{}/dns-conf/route53.ini",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let swag = "# Instructions: https://github.com/certbot/certbot/blob/master/certbot-dns-route53/certbot_dns_route53/__init__.py#L18\n\
                # Replace with your values\n[default]\n; aws_access_key_id=AKIAIOSFODNN7EXAMPLE\n\
                ; aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n";
    // SWAG's untouched file and ours: the keys are commented out.
    for text in [swag, template.as_str()] {
        let err = provider(text, &[]).err().unwrap().to_string();
        assert_eq!(
            err,
            format!(
                "route53: {FILE}: missing key aws_access_key_id under [default]: add \
                 `aws_access_key_id = <your AWS access key id>` (SWAG's template has it \
                 commented out with `;`), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        );
    }
    // Uncommented but not replaced: AWS's example values are refused.
    let err = provider(&swag.replace("; aws", "aws"), &[])
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        format!(
            "route53: {FILE}:4: aws_access_key_id still holds the template's placeholder \
             value: replace it with your AWS access key id"
        )
    );
    let err = provider(
        &swag
            .replace("; aws", "aws")
            .replace("AKIAIOSFODNN7EXAMPLE", "AKIAREALKEY"),
        &[],
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains(":5: aws_secret_access_key still holds"),
        "{err}"
    );
    // Keys before any section work too; another profile's keys are not used.
    let p = provider("aws_access_key_id = A\naws_secret_access_key = B\n", &[]);
    assert!(p.is_ok());
    let err = provider(
        "[profile other]\naws_access_key_id = A\naws_secret_access_key = B\n",
        &[],
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("missing key aws_access_key_id under [default]"),
        "{err}"
    );
    let err = provider("", &[("AWS_ACCESS_KEY_ID", "A")])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set"),
        "{err}"
    );
}

#[test]
fn route53_credentials_come_from_the_ini_unless_the_environment_has_both() {
    let ini = ini::parse(
        "route53",
        "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = file-secret\n",
        Path::new(FILE),
    )
    .unwrap();
    let c = Route53Config::from_sources(&ini, |_| None).unwrap();
    assert_eq!(c.source, CredentialSource::Ini);
    assert_eq!(c.credentials.access_key_id, "AKIAFILE");
    assert!(!format!("{c:?}").contains("file-secret"));
    let c = Route53Config::from_sources(&ini, |n| Some(format!("{n}-value"))).unwrap();
    assert_eq!(c.source, CredentialSource::Environment);
    assert_eq!(c.credentials.access_key_id, "AWS_ACCESS_KEY_ID-value");
    assert!(c.credentials.session_token.is_some());
}

/// Collects log output.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

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

#[tokio::test(flavor = "current_thread")]
async fn route53_issues_an_apex_and_wildcard_certificate_from_pebble_and_leaves_nothing() {
    use moat::acme::{AcmeConfig, ChallengeSolver, Directory, Outcome, Renewer};
    let test = "route53_issues_an_apex_and_wildcard_certificate_from_pebble";
    let Some(p) = pebble::Pebble::start(test, pebble::PebbleOpts::default()) else {
        return;
    };
    let logs = LogBuf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut acct = account();
    acct.zones
        .push(("ZMOAT".into(), "moat.test.".into(), false));
    let fake = FakeRoute53::start_publishing(acct, Some(p.challtest_mgmt)).await;
    let provider =
        std::sync::Arc::new(provider(&ini_text(KEY_ID, SECRET, &fake.endpoint), &[]).unwrap());
    let config = tempfile::tempdir().unwrap();
    let domains = vec!["r53.moat.test".to_owned(), "*.r53.moat.test".to_owned()];
    let mut cfg = AcmeConfig::new(
        config.path(),
        domains.clone(),
        Directory::Custom {
            url: p.directory_url.clone(),
            ca_root: Some(p.listener_ca.clone()),
        },
    )
    .unwrap();
    cfg.propagation_timeout = Some(Duration::from_secs(20));
    let solver = ChallengeSolver::Dns01 {
        provider: provider.clone(),
        propagation: std::sync::Arc::new(fake_dns::RecordingCheck::new(p.dns)),
    };
    let renewer = Renewer::new(cfg.clone(), solver, std::sync::Arc::new(|_| {}));
    let (result, _) = renewer.attempt(false, None).await;
    let log = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    let outcome =
        result.unwrap_or_else(|e| panic!("{e}\nlog:\n{log}\npebble log:\n{}", p.log_text()));
    let Outcome::Issued(stored) = outcome else {
        panic!("expected a new certificate")
    };
    assert!(stored.info.covers(&cfg.domains), "{:?}", stored.info.names);

    // One record set held both values at once, and is gone now.
    let name = "_acme-challenge.r53.moat.test.".to_owned();
    let changes = fake.changes();
    assert!(
        changes
            .iter()
            .any(|(a, n, v)| a == "UPSERT" && *n == name && v.len() == 2),
        "{changes:?}"
    );
    assert_eq!(changes.last().unwrap().0, "DELETE", "{changes:?}");
    assert!(fake.sets().is_empty(), "{:?}", fake.sets());
    assert!(p.dns_txt("_acme-challenge.r53.moat.test").is_empty());
    assert!(!log.contains(SECRET), "the secret was logged:\n{log}");
}
