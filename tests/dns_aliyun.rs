//! The Aliyun provider end to end against a fake Alidns API whose records are
//! served over real DNS by pebble-challtestsrv.

#[path = "support/challtestsrv.rs"]
mod challtestsrv;
#[path = "support/env.rs"]
mod env;
#[path = "support/fake_alidns.rs"]
mod fake_alidns;
#[path = "support/fake_http.rs"]
mod fake_http;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_alidns::{FakeAlidns, FakeAlidnsOptions};
use hickory_proto::rr::Name;
use moat::dns::propagation::{query_txt, wait_for_txt, PropagationOptions};
use moat::dns::{provider_for, DnsError, DnsProvider, RecordHandle};

const NAME: &str = "_acme-challenge.example.test";
const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";

fn challtestsrv(test: &str) -> Option<PathBuf> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    env::require_program(test, "pebble-challtestsrv")
}

struct Setup {
    fake: FakeAlidns,
    _dir: tempfile::TempDir,
    provider: Box<dyn DnsProvider>,
}

async fn setup(
    bin: &std::path::Path,
    opts: FakeAlidnsOptions,
    secret: Option<&str>,
    version: Option<&str>,
) -> Setup {
    let fake = FakeAlidns::start(bin, opts).await;
    let dir = tempfile::tempdir().unwrap();
    fake.write_ini(dir.path(), secret, version);
    let provider = provider_for("aliyun", dir.path()).expect("the ini is valid");
    Setup {
        fake,
        _dir: dir,
        provider,
    }
}

async fn served(fake: &FakeAlidns) -> Vec<String> {
    let mut v = query_txt(
        fake.dns,
        &Name::from_ascii(format!("{NAME}.")).unwrap(),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    v.sort();
    v
}

fn options(fake: &FakeAlidns) -> PropagationOptions {
    let mut o = PropagationOptions::with_timeout(Duration::from_secs(10));
    o.max_wait = Duration::from_secs(10);
    o.interval = Duration::from_millis(100);
    o.nameservers = Some(vec![fake.dns]);
    o
}

async fn apex_and_wildcard_flow(version: Option<&str>) {
    let Some(bin) = challtestsrv("apex_and_wildcard_flow") else {
        return;
    };
    let s = setup(&bin, FakeAlidnsOptions::default(), None, version).await;
    let apex = s.provider.present(NAME, APEX_VALUE).await.unwrap();
    let wild = s.provider.present(NAME, WILDCARD_VALUE).await.unwrap();
    assert_eq!(apex.zone.as_deref(), Some("example.test"));
    assert_ne!(apex.id, wild.id);
    // RecordIds beyond 2^53 come back as the exact strings the API sent.
    let ids: Vec<String> = s.fake.records().iter().map(|r| r.id.clone()).collect();
    assert_eq!(
        ids,
        vec![apex.id.clone().unwrap(), wild.id.clone().unwrap()]
    );
    assert!(s
        .fake
        .records()
        .iter()
        .all(|r| r.rr == "_acme-challenge" && r.ttl == 600));

    wait_for_txt(
        NAME,
        &[APEX_VALUE.into(), WILDCARD_VALUE.into()],
        &options(&s.fake),
    )
    .await
    .expect("both values visible");

    s.provider.cleanup(&apex).await.unwrap();
    assert_eq!(served(&s.fake).await, vec![WILDCARD_VALUE.to_owned()]);
    assert_eq!(s.fake.records().len(), 1);
    s.provider.cleanup(&wild).await.unwrap();
    assert!(served(&s.fake).await.is_empty());
    let accepted = s.fake.accepted();
    assert!(
        accepted.iter().filter(|a| *a == "AddDomainRecord").count() == 2,
        "{accepted:?}"
    );
    assert!(s.fake.rejected().is_empty(), "{:?}", s.fake.rejected());
}

#[tokio::test]
async fn v3_apex_and_wildcard_coexist_and_cleanup_removes_only_its_own() {
    apex_and_wildcard_flow(None).await;
}

#[tokio::test]
async fn v2_apex_and_wildcard_coexist_and_cleanup_removes_only_its_own() {
    apex_and_wildcard_flow(Some("1")).await;
}

#[tokio::test]
async fn preflight_names_the_zone_without_creating_records() {
    let Some(bin) = challtestsrv("preflight_names_the_zone_without_creating_records") else {
        return;
    };
    let s = setup(&bin, FakeAlidnsOptions::default(), None, None).await;
    let line = s
        .provider
        .preflight(&["www.example.test".into()])
        .await
        .unwrap();
    assert_eq!(
        line,
        "aliyun: credentials accepted (Signature V3); www.example.test in zone example.test"
    );
    assert!(s.fake.records().is_empty());
    assert!(s.fake.accepted().iter().all(|a| a == "DescribeDomains"));
}

/// Captures tracing output so a test can prove no secret was logged.
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

/// Every log line of this test process. A process-wide subscriber, because a
/// thread-scoped one (`set_default`) misses events whose callsite interest was
/// cached while other tests ran on other threads with no subscriber; the
/// assertions only need "this line appears" and "no secret appears anywhere".
fn process_logs() -> LogBuf {
    static LOGS: std::sync::OnceLock<LogBuf> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = LogBuf::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
    .clone()
}

#[tokio::test]
async fn wrong_secret_is_a_clear_error_creates_nothing_and_never_shows_the_secret() {
    let Some(bin) = challtestsrv("wrong_secret_is_a_clear_error") else {
        return;
    };
    let logs = process_logs();

    const WRONG: &str = "wrong-secret-V3ry-S3cret";
    for version in [None, Some("1")] {
        let s = setup(&bin, FakeAlidnsOptions::default(), Some(WRONG), version).await;
        let err = s.provider.present(NAME, APEX_VALUE).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "aliyun: the signature was rejected: dns_aliyun_access_key_secret in "
            ),
            "{text}"
        );
        assert!(!err.retryable());
        let pre = s
            .provider
            .preflight(&["example.test".into()])
            .await
            .unwrap_err()
            .to_string();
        for shown in [
            text.clone(),
            format!("{err:?}"),
            pre,
            format!("{:?}", s.provider_debug()),
        ] {
            assert!(!shown.contains(WRONG), "secret leaked: {shown}");
        }
        assert!(s.fake.records().is_empty());
        assert!(s.fake.accepted().is_empty(), "{:?}", s.fake.accepted());
        assert!(s
            .fake
            .rejected()
            .iter()
            .all(|c| c == "SignatureDoesNotMatch"));
    }
    // A successful round with the right secret logs what it did, never the secret.
    let s = setup(&bin, FakeAlidnsOptions::default(), None, None).await;
    let h = s.provider.present(NAME, APEX_VALUE).await.unwrap();
    s.provider.cleanup(&h).await.unwrap();
    let right = FakeAlidnsOptions::default().access_key_secret;
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("aliyun: TXT record added"), "{logged}");
    assert!(logged.contains("aliyun: TXT record deleted"), "{logged}");
    assert!(!logged.contains(WRONG), "secret in logs");
    assert!(!logged.contains(&right), "secret in logs");
}

impl Setup {
    fn provider_debug(&self) -> String {
        // Box<dyn DnsProvider> has no Debug; rebuild the config to print it.
        let ini = moat::dns::ini::load("aliyun", self._dir.path()).unwrap();
        format!("{:?}", moat::dns::AliyunConfig::from_ini(&ini).unwrap())
    }
}

#[tokio::test]
async fn unknown_access_key_names_the_ini_key() {
    let Some(bin) = challtestsrv("unknown_access_key_names_the_ini_key") else {
        return;
    };
    let fake = FakeAlidns::start(&bin, FakeAlidnsOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    fake.write_ini(dir.path(), None, None);
    let ini = dir.path().join("dns-conf/aliyun.ini");
    let text = std::fs::read_to_string(&ini)
        .unwrap()
        .replace("LTAI5tFakeKeyId", "LTAI5tOtherKey");
    std::fs::write(&ini, text).unwrap();
    let p = provider_for("aliyun", dir.path()).unwrap();
    let err = p.present(NAME, APEX_VALUE).await.unwrap_err().to_string();
    assert!(
        err.contains("the AccessKey ID is not known to Aliyun: check dns_aliyun_access_key in "),
        "{err}"
    );
}

#[tokio::test]
async fn incorrect_domain_user_says_the_domain_is_in_another_account() {
    let Some(bin) = challtestsrv("incorrect_domain_user") else {
        return;
    };
    let s = setup(&bin, FakeAlidnsOptions::default(), None, None).await;
    s.fake.fail_next("AddDomainRecord", "IncorrectDomainUser");
    let err = s
        .provider
        .present(NAME, APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("example.test is not in the Aliyun account of the AccessKey in "),
        "{err}"
    );
    assert!(err.contains("code IncorrectDomainUser"), "{err}");
    assert!(s.fake.records().is_empty());
}

#[tokio::test]
async fn a_domain_missing_from_the_account_is_named() {
    let Some(bin) = challtestsrv("a_domain_missing_from_the_account_is_named") else {
        return;
    };
    let s = setup(&bin, FakeAlidnsOptions::default(), None, None).await;
    let err = s
        .provider
        .present("_acme-challenge.other.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("aliyun: no zone in this Aliyun account holds _acme-challenge.other.test"),
        "{err}"
    );
    // Suffixes were tried longest first, `test` last is skipped (a TLD).
    assert_eq!(
        s.fake.accepted(),
        vec!["DescribeDomains", "DescribeDomains"]
    );
}

#[tokio::test]
async fn duplicate_record_is_treated_as_present_and_cleaned_by_its_id() {
    let Some(bin) = challtestsrv("duplicate_record_is_treated_as_present") else {
        return;
    };
    let s = setup(&bin, FakeAlidnsOptions::default(), None, None).await;
    let seeded = s
        .fake
        .seed("example.test", "_acme-challenge", APEX_VALUE)
        .await;
    let other = s
        .fake
        .seed("example.test", "_acme-challenge", WILDCARD_VALUE)
        .await;
    let handle = s.provider.present(NAME, APEX_VALUE).await.unwrap();
    assert_eq!(handle.id.as_deref(), Some(seeded.id.as_str()));
    assert!(s
        .fake
        .rejected()
        .contains(&"DomainRecordDuplicate".to_owned()));
    s.provider.cleanup(&handle).await.unwrap();
    assert_eq!(s.fake.records(), vec![other]);
}

#[tokio::test]
async fn lost_record_id_cleans_up_by_exact_value_only() {
    let Some(bin) = challtestsrv("lost_record_id_cleans_up_by_exact_value_only") else {
        return;
    };
    let s = setup(&bin, FakeAlidnsOptions::default(), None, None).await;
    s.provider.present(NAME, APEX_VALUE).await.unwrap();
    let wild = s.provider.present(NAME, WILDCARD_VALUE).await.unwrap();
    let lost = RecordHandle {
        fqdn: NAME.into(),
        value: APEX_VALUE.into(),
        id: None,
        zone: None,
    };
    s.provider.cleanup(&lost).await.unwrap();
    let left = s.fake.records();
    assert_eq!(left.len(), 1);
    assert_eq!(Some(left[0].id.clone()), wild.id);
    assert_eq!(served(&s.fake).await, vec![WILDCARD_VALUE.to_owned()]);
}

#[tokio::test]
async fn reused_nonce_is_rejected_by_the_fake() {
    let Some(bin) = challtestsrv("reused_nonce_is_rejected_by_the_fake") else {
        return;
    };
    for version in [None, Some("1")] {
        let s = setup(&bin, FakeAlidnsOptions::default(), None, version).await;
        s.provider.preflight(&[]).await.unwrap();
        let raw = s.fake.last_request().unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}{}", s.fake.endpoint.trim_end_matches('/'), raw.target);
        let mut req = client.request(raw.method.parse().unwrap(), url);
        for (k, v) in raw
            .headers
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "host" | "content-length"))
        {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["Code"], "SignatureNonceUsed", "{version:?}");
    }
}

#[tokio::test]
async fn server_errors_are_retried_with_a_fresh_nonce() {
    let Some(bin) = challtestsrv("server_errors_are_retried_with_a_fresh_nonce") else {
        return;
    };
    let s = setup(&bin, FakeAlidnsOptions::default(), None, None).await;
    s.fake.fail_next("AddDomainRecord", "ServiceUnavailable");
    s.provider.present(NAME, APEX_VALUE).await.unwrap();
    assert_eq!(s.fake.rejected(), vec!["ServiceUnavailable"]);
    assert_eq!(s.fake.records().len(), 1);
}

#[tokio::test]
async fn clock_skew_and_ttl_quota_get_actionable_messages() {
    let Some(bin) = challtestsrv("clock_skew_and_ttl_quota") else {
        return;
    };
    let skewed = FakeAlidnsOptions {
        clock_offset_secs: 3600,
        ..FakeAlidnsOptions::default()
    };
    let s = setup(&bin, skewed, None, None).await;
    let err = s
        .provider
        .present(NAME, APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("this machine's clock is off; sync it (NTP)"),
        "{err}"
    );

    let pricey = FakeAlidnsOptions {
        min_ttl: 1200,
        ..FakeAlidnsOptions::default()
    };
    let s = setup(&bin, pricey, None, None).await;
    let err = s
        .provider
        .present(NAME, APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("TTL 600 is below the minimum of example.test's DNS plan"),
        "{err}"
    );
}

#[tokio::test]
async fn propagation_timeout_names_the_missing_value_and_server() {
    let Some(bin) = challtestsrv("propagation_timeout_names_the_missing_value") else {
        return;
    };
    let s = setup(&bin, FakeAlidnsOptions::default(), None, None).await;
    s.provider.present(NAME, APEX_VALUE).await.unwrap();
    let mut o = options(&s.fake);
    o.timeout = Duration::from_millis(300);
    o.max_wait = Duration::from_millis(600);
    let err = wait_for_txt(NAME, &[APEX_VALUE.into(), "never-published".into()], &o)
        .await
        .unwrap_err();
    assert!(matches!(err, DnsError::Propagation { .. }));
    let text = err.to_string();
    assert!(
        text.contains(&format!("{}: never-published", s.fake.dns)),
        "{text}"
    );
    assert!(!text.contains(APEX_VALUE), "{text}");
}

#[test]
fn fake_verifier_matches_the_published_vectors() {
    use fake_alidns::{
        spec_encode, spec_v2_sign, spec_v2_string_to_sign, spec_v3_canonical, spec_v3_sign,
    };
    let p = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    };
    let a = p(&[
        ("AccessKeyId", "testid"),
        ("Action", "DescribeRegions"),
        ("Format", "XML"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2016-02-23T12:46:24Z"),
        ("Version", "2014-05-26"),
    ]);
    assert_eq!(
        spec_v2_sign("testsecret", &spec_v2_string_to_sign("GET", &a)),
        "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    );
    let mut a2 = a.clone();
    a2[6].0 = "TimeStamp".into();
    assert_eq!(
        spec_v2_sign("testsecret", &spec_v2_string_to_sign("GET", &a2)),
        "CT9X0VtwR86fNWSnsc6v8YGOjuE="
    );
    let b = p(&[
        ("AccessKeyId", "testid"),
        ("Action", "DescribeDedicatedHosts"),
        ("Format", "JSON"),
        ("RegionId", "cn-beijing"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "edb2b34af0af9a6d14deaf7c1a5315eb"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2023-03-13T08:34:30Z"),
        ("Version", "2014-05-26"),
    ]);
    assert_eq!(
        spec_v2_sign("testsecret", &spec_v2_string_to_sign("GET", &b)),
        "9NaGiOspFP5UPcwX8Iwt2YJXXuk="
    );
    let c = p(&[("test", "ok")]);
    assert_eq!(spec_v2_string_to_sign("", &c), "&%2F&test%3Dok");
    assert_eq!(
        spec_v2_sign("accessKeySecret", "&%2F&test%3Dok"),
        "jHx/oHoHNrbVfhncHEvPdHXZwHU="
    );
    let d = p(&[
        ("AccessKeyId", "testid"),
        ("Action", "AddDomainRecord"),
        ("DomainName", "example.com"),
        ("Format", "JSON"),
        ("RR", "_acme-challenge.www"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "9b7a1a6e-5b8c-4c1e-9d3f-2a6b7c8d9e0f"),
        ("SignatureVersion", "1.0"),
        ("TTL", "600"),
        ("Timestamp", "2024-05-01T12:00:00Z"),
        ("Type", "TXT"),
        ("Value", "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"),
        ("Version", "2015-01-09"),
    ]);
    assert_eq!(
        spec_v2_sign("testsecret", &spec_v2_string_to_sign("GET", &d)),
        "LsxRcANnqvfhM7yU1TZXgKd1tZA="
    );
    assert_eq!(spec_encode(" ~/*-+"), "%20~%2F%2A-%2B");
    assert_eq!(spec_encode("中 文+~*"), "%E4%B8%AD%20%E6%96%87%2B~%2A");
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let canonical = spec_v3_canonical(
        "POST",
        &p(&[
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ]),
        &p(&[
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-content-sha256", empty),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-version", "2014-05-26"),
        ]),
        empty,
    );
    assert_eq!(
        spec_v3_sign("YourAccessKeySecret", &canonical),
        "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    );
}

#[tokio::test]
async fn missing_ram_policy_and_repeated_cleanup() {
    let Some(bin) = challtestsrv("missing_ram_policy_and_repeated_cleanup") else {
        return;
    };
    let s = setup(&bin, FakeAlidnsOptions::default(), None, None).await;
    s.fake.fail_next("DescribeDomains", "Forbidden.RAM");
    let err = s
        .provider
        .preflight(&["example.test".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("may not manage DNS: attach the AliyunDNSFullAccess policy"),
        "{err}"
    );
    let h = s.provider.present(NAME, APEX_VALUE).await.unwrap();
    s.provider.cleanup(&h).await.unwrap();
    // Cleanup runs again after a crash or a retry: a record already gone is fine.
    s.provider.cleanup(&h).await.unwrap();
    assert!(s.fake.records().is_empty());
}

#[tokio::test]
async fn an_api_that_never_answers_times_out_and_is_retryable() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(0u32));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            *count.lock().unwrap() += 1;
            held.push(sock); // never answer, never close
        }
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dns-conf")).unwrap();
    std::fs::write(
        dir.path().join("dns-conf/aliyun.ini"),
        format!("dns_aliyun_access_key = LTAI5tKey\ndns_aliyun_access_key_secret = s3cr3t\ndns_aliyun_endpoint = http://{addr}/\n"),
    )
    .unwrap();
    let ini = moat::dns::ini::load("aliyun", dir.path()).unwrap();
    let mut config = moat::dns::AliyunConfig::from_ini(&ini).unwrap();
    config.timeout = Duration::from_millis(300);
    let p = moat::dns::AliyunProvider::new(config).unwrap();
    let err = p.present(NAME, APEX_VALUE).await.unwrap_err();
    assert!(err.retryable());
    assert_eq!(
        err.to_string(),
        "aliyun: DescribeDomains failed after 3 tries: timed out"
    );
    assert_eq!(*accepted.lock().unwrap(), 3);
}

#[tokio::test]
async fn a_nonce_collision_is_retried_with_a_new_nonce() {
    let Some(bin) = challtestsrv("a_nonce_collision_is_retried_with_a_new_nonce") else {
        return;
    };
    let s = setup(
        &bin,
        FakeAlidnsOptions::default(),
        Some("fake-secret-Zm9vYmFy"),
        Some("1"),
    )
    .await;
    s.fake.fail_next("AddDomainRecord", "SignatureNonceUsed");
    let h = s.provider.present(NAME, APEX_VALUE).await.unwrap();
    assert_eq!(s.fake.rejected(), vec!["SignatureNonceUsed"]);
    assert_eq!(s.fake.records().len(), 1);
    assert_eq!(h.id, Some(s.fake.records()[0].id.clone()));
}
