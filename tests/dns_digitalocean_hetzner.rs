//! The DigitalOcean (`digitalocean` and `do`) and Hetzner DNS providers
//! against fake HTTP APIs with the documented shapes: apex and wildcard
//! values are separate records deleted by id, preflight checks the token
//! and finds each zone, and failures say what to fix without the token.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_digitalocean.rs"]
mod fake_digitalocean;
#[path = "support/fake_hetzner.rs"]
mod fake_hetzner;
#[path = "support/fake_http.rs"]
mod fake_http;

use dns_ini::with_ini;
use fake_digitalocean::FakeDigitalOcean;
use fake_hetzner::FakeHetzner;

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const NAME: &str = "_acme-challenge.sub.example.test";

#[tokio::test]
async fn digitalocean_records_live_in_the_longest_matching_domain_and_go_by_id() {
    let token = "dop_v1_0123456789abcdef";
    let fake = FakeDigitalOcean::start(token, &["example.test", "other.test"]).await;
    for (plugin, key, endpoint_key) in [
        (
            "digitalocean",
            "dns_digitalocean_token",
            "dns_digitalocean_endpoint",
        ),
        ("do", "dns_do_api_token", "dns_do_endpoint"),
    ] {
        let ini = format!("{key} = {token}\n{endpoint_key} = {}\n", fake.endpoint);
        let (_d, p) = with_ini(plugin, &ini);
        let p = p.unwrap();
        assert_eq!(p.name(), plugin);
        let line = p.preflight(&["sub.example.test".into()]).await.unwrap();
        assert_eq!(
            line,
            format!("{plugin}: token accepted; sub.example.test in zone example.test")
        );
        let apex = p.present(NAME, APEX_VALUE).await.unwrap();
        let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
        assert_ne!(apex.id, wild.id);
        let recs = fake.records();
        assert_eq!(recs.len(), 2);
        assert!(recs
            .iter()
            .all(|r| r.domain == "example.test" && r.name == "_acme-challenge.sub" && r.ttl == 30));
        p.cleanup(&apex).await.unwrap();
        assert_eq!(fake.records().len(), 1);
        assert_eq!(fake.records()[0].data, WILDCARD_VALUE);
        // Without an id (a handle from before a crash), by name and value.
        let mut lost = wild.clone();
        lost.id = None;
        p.cleanup(&lost).await.unwrap();
        assert!(fake.records().is_empty());
        // Idempotent.
        p.cleanup(&apex).await.unwrap();
    }
}

#[tokio::test]
async fn digitalocean_failures_say_what_to_fix_and_hide_the_token() {
    let fake = FakeDigitalOcean::start("the-right-token", &["example.test"]).await;
    let (_d, p) = with_ini(
        "digitalocean",
        &format!(
            "dns_digitalocean_token = wrong-token-123\ndns_digitalocean_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let err = p.unwrap().preflight(&[]).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("HTTP 401") && text.contains("check the token in digitalocean.ini"),
        "{text}"
    );
    assert!(!text.contains("wrong-token-123"), "{text}");

    let (_d, p) = with_ini(
        "digitalocean",
        &format!(
            "dns_digitalocean_token = the-right-token\ndns_digitalocean_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let err = p
        .unwrap()
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no domain in this DigitalOcean account holds _acme-challenge.nowhere.test"),
        "{err}"
    );
}

#[tokio::test]
async fn hetzner_records_are_created_in_the_zone_and_deleted_by_id() {
    let token = "hetzner-token-0123456789";
    let fake = FakeHetzner::start(
        token,
        &[("zone-1", "example.test"), ("zone-2", "other.test")],
    )
    .await;
    let ini = format!(
        "dns_hetzner_api_token = {token}\ndns_hetzner_endpoint = {}\n",
        fake.endpoint
    );
    let (_d, p) = with_ini("hetzner", &ini);
    let p = p.unwrap();
    let line = p.preflight(&["sub.example.test".into()]).await.unwrap();
    assert_eq!(
        line,
        "hetzner: token accepted (2 zones); sub.example.test in zone example.test"
    );
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    assert_ne!(apex.id, wild.id);
    let recs = fake.records();
    assert_eq!(recs.len(), 2);
    assert!(recs
        .iter()
        .all(|r| r.zone_id == "zone-1" && r.name == "_acme-challenge.sub" && r.ttl == 60));
    p.cleanup(&wild).await.unwrap();
    assert_eq!(fake.records().len(), 1);
    assert_eq!(fake.records()[0].value, APEX_VALUE);
    let mut lost = apex.clone();
    lost.id = None;
    p.cleanup(&lost).await.unwrap();
    assert!(fake.records().is_empty());
    p.cleanup(&wild).await.unwrap();
}

#[tokio::test]
async fn hetzner_bad_token_and_unknown_zone_are_named() {
    let fake = FakeHetzner::start("good", &[("zone-1", "example.test")]).await;
    let (_d, p) = with_ini(
        "hetzner",
        &format!(
            "dns_hetzner_api_token = bad-secret-value\ndns_hetzner_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let err = p.unwrap().preflight(&[]).await.unwrap_err().to_string();
    assert!(
        err.contains("HTTP 401") && err.contains("a DNS Console token"),
        "{err}"
    );
    assert!(!err.contains("bad-secret-value"), "{err}");
    let (_d, p) = with_ini(
        "hetzner",
        &format!(
            "dns_hetzner_api_token = good\ndns_hetzner_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let err = p
        .unwrap()
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no zone in this Hetzner DNS account holds _acme-challenge.nowhere.test"),
        "{err}"
    );
}
