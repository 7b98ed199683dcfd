//! The Cloudflare and DuckDNS providers against fake HTTP APIs with the
//! documented shapes.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_cloudflare.rs"]
mod fake_cloudflare;
#[path = "support/fake_duckdns.rs"]
mod fake_duckdns;
#[path = "support/fake_http.rs"]
mod fake_http;

use dns_ini::with_ini;
use fake_cloudflare::{CfAccount, FakeCloudflare};
use fake_duckdns::FakeDuckDns;
use moat::dns::RecordHandle;

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";

fn cf_token_ini(fake: &FakeCloudflare, token: &str) -> String {
    format!(
        "dns_cloudflare_api_token = {token}\ndns_cloudflare_endpoint = {}\n",
        fake.endpoint
    )
}

#[tokio::test]
async fn cloudflare_token_apex_and_wildcard_records_are_separate_and_deleted_by_id() {
    let acc = CfAccount::default();
    let fake = FakeCloudflare::start(acc.clone()).await;
    let (_d, p) = with_ini("cloudflare", &cf_token_ini(&fake, &acc.token));
    let p = p.unwrap();
    let name = "_acme-challenge.example.test";
    let apex = p.present(name, APEX_VALUE).await.unwrap();
    let wild = p.present(name, WILDCARD_VALUE).await.unwrap();
    assert_ne!(apex.id, wild.id);
    assert_eq!(fake.records().len(), 2);
    assert!(fake
        .records()
        .iter()
        .all(|r| r.ttl == 120 && r.zone_id == "zone-123"));
    p.cleanup(&apex).await.unwrap();
    let left = fake.records();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].content, WILDCARD_VALUE);
    // Cleanup is idempotent: a record already gone is not an error.
    p.cleanup(&apex).await.unwrap();
    p.cleanup(&wild).await.unwrap();
    assert!(fake.records().is_empty());
}

#[tokio::test]
async fn cloudflare_preflight_verifies_the_token_and_reads_the_zone() {
    let acc = CfAccount::default();
    let fake = FakeCloudflare::start(acc.clone()).await;
    let (_d, p) = with_ini("cloudflare", &cf_token_ini(&fake, &acc.token));
    let line = p
        .unwrap()
        .preflight(&["www.example.test".into()])
        .await
        .unwrap();
    assert_eq!(
        line,
        "cloudflare: API token active; www.example.test in zone example.test"
    );
    assert!(fake.records().is_empty());
}

#[tokio::test]
async fn cloudflare_global_key_style_works() {
    let acc = CfAccount::default();
    let fake = FakeCloudflare::start(acc.clone()).await;
    let ini = format!(
        "certbot_dns_cloudflare:dns_cloudflare_email = {}\ncertbot_dns_cloudflare:dns_cloudflare_api_key = {}\ndns_cloudflare_endpoint = {}\n",
        acc.email, acc.key, fake.endpoint
    );
    let (_d, p) = with_ini("cloudflare", &ini);
    let p = p.unwrap();
    assert_eq!(
        p.preflight(&[]).await.unwrap(),
        "cloudflare: Global API Key accepted"
    );
    let h = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    assert_eq!(fake.records().len(), 1);
    p.cleanup(&h).await.unwrap();
    assert!(fake.records().is_empty());
}

#[tokio::test]
async fn cloudflare_bad_token_is_clear_and_hides_the_token() {
    let fake = FakeCloudflare::start(CfAccount::default()).await;
    let bad = "cf-token-that-is-wrong-0000000000000000000";
    let (_d, p) = with_ini("cloudflare", &cf_token_ini(&fake, bad));
    let p = p.unwrap();
    let err = p.preflight(&["example.test".into()]).await.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("cloudflare: GET user/tokens/verify: 1000 Invalid API Token; check the credentials in cloudflare.ini"), "{text}");
    let err2 = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap_err();
    for shown in [
        text,
        format!("{err:?}"),
        err2.to_string(),
        format!("{err2:?}"),
    ] {
        assert!(!shown.contains(bad), "{shown}");
    }
    assert!(fake.records().is_empty());
}

#[tokio::test]
async fn cloudflare_identical_record_is_treated_as_present() {
    let acc = CfAccount::default();
    let fake = FakeCloudflare::start(acc.clone()).await;
    let (_d, p) = with_ini("cloudflare", &cf_token_ini(&fake, &acc.token));
    let p = p.unwrap();
    let first = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    let again = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(fake.records().len(), 1);
}

#[tokio::test]
async fn cloudflare_unknown_zone_is_named() {
    let acc = CfAccount::default();
    let fake = FakeCloudflare::start(acc.clone()).await;
    let (_d, p) = with_ini("cloudflare", &cf_token_ini(&fake, &acc.token));
    let err = p
        .unwrap()
        .present("_acme-challenge.other.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "cloudflare: no zone these credentials can read holds _acme-challenge.other.test"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn cloudflare_both_auth_styles_at_once_are_refused_naming_the_lines() {
    let (d, p) = with_ini(
        "cloudflare",
        "dns_cloudflare_api_token = abc\n# legacy\ndns_cloudflare_email = a@b.c\ndns_cloudflare_api_key = k\n",
    );
    let err = p.err().unwrap().to_string();
    assert_eq!(
        err,
        format!(
            "cloudflare: {}/dns-conf/cloudflare.ini:3: both dns_cloudflare_api_token (line 1) and the legacy dns_cloudflare_email/dns_cloudflare_api_key (line 3) are set: keep only one style (the token is preferred)",
            d.path().display()
        )
    );
}

fn duck_ini(fake: &FakeDuckDns, token: &str) -> String {
    format!(
        "dns_duckdns_token = {token}\ndns_duckdns_endpoint = {}\n",
        fake.endpoint
    )
}

const DUCK_TOKEN: &str = "0b7e1b36-1234-4bcd-9876-fedcba987654";

#[tokio::test]
async fn duckdns_sets_and_clears_the_domain_txt() {
    let fake = FakeDuckDns::start(DUCK_TOKEN, &["mine"]).await;
    let (_d, p) = with_ini("duckdns", &duck_ini(&fake, DUCK_TOKEN));
    let p = p.unwrap();
    let h = p
        .present("_acme-challenge.mine.duckdns.org", APEX_VALUE)
        .await
        .unwrap();
    assert_eq!(fake.txt("mine").as_deref(), Some(APEX_VALUE));
    p.cleanup(&h).await.unwrap();
    assert_eq!(fake.txt("mine"), None);
}

#[tokio::test]
async fn duckdns_apex_plus_wildcard_is_refused_as_swag_does_keeping_the_first_value() {
    let fake = FakeDuckDns::start(DUCK_TOKEN, &["mine"]).await;
    let (_d, p) = with_ini("duckdns", &duck_ini(&fake, DUCK_TOKEN));
    let p = p.unwrap();
    let apex = p
        .present("_acme-challenge.mine.duckdns.org", APEX_VALUE)
        .await
        .unwrap();
    let err = p
        .present("_acme-challenge.mine.duckdns.org", WILDCARD_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("DuckDNS cannot validate the apex and the wildcard in one order"),
        "{err}"
    );
    assert!(err.contains("SUBDOMAINS=wildcard"), "{err}");
    assert_eq!(fake.txt("mine").as_deref(), Some(APEX_VALUE));
    // A handle for a value that is not the one held leaves the domain alone.
    let stranger = RecordHandle {
        fqdn: "_acme-challenge.mine.duckdns.org".into(),
        value: WILDCARD_VALUE.into(),
        id: None,
        zone: None,
    };
    p.cleanup(&stranger).await.unwrap();
    assert_eq!(fake.txt("mine").as_deref(), Some(APEX_VALUE));
    p.cleanup(&apex).await.unwrap();
    assert_eq!(fake.txt("mine"), None);
}

#[tokio::test]
async fn duckdns_ko_names_the_token_key_and_hides_the_token() {
    let fake = FakeDuckDns::start(DUCK_TOKEN, &["mine"]).await;
    let wrong = "ffffffff-0000-4000-8000-000000000000";
    let (_d, p) = with_ini("duckdns", &duck_ini(&fake, wrong));
    let err = p
        .unwrap()
        .present("_acme-challenge.mine.duckdns.org", APEX_VALUE)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(
            "DuckDNS refused the update of mine.duckdns.org (KO): check dns_duckdns_token"
        ),
        "{text}"
    );
    assert!(!text.contains(wrong) && !format!("{err:?}").contains(wrong));
    assert_eq!(fake.txt("mine"), None);
}

#[tokio::test]
async fn duckdns_placeholder_token_is_refused_before_any_call() {
    let (d, p) = with_ini("duckdns", "dns_duckdns_token = your-duckdns-token\n");
    assert_eq!(
        p.err().unwrap().to_string(),
        format!(
            "duckdns: {}/dns-conf/duckdns.ini:1: dns_duckdns_token still holds the template's placeholder value: replace it with your DuckDNS token",
            d.path().display()
        )
    );
}
