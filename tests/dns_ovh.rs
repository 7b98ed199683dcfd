//! The OVH provider against a fake OVH API that verifies every signature
//! independently (with its clock ahead of ours, so the provider must use
//! `/auth/time`) and keeps every request: the exact TXT record created,
//! the zone refreshed, cleanup deleting exactly that id (or, with the id
//! lost, the record with that value and not the owner's), preflight only
//! reading, and each wrong key named with the ini file without showing it.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/fake_ovh.rs"]
mod fake_ovh;

use dns_ini::with_ini;
use fake_ovh::{FakeOvh, OvhKeys, OvhRecord};
use moat::dns::{ovh_signature, Secret};

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const NAME: &str = "_acme-challenge.sub.example.test";

fn keys() -> OvhKeys {
    OvhKeys {
        application_key: "ovh-app-key-0123".into(),
        application_secret: "ovh-app-secret-4567".into(),
        consumer_key: "ovh-consumer-key-89ab".into(),
    }
}

fn ini(k: &OvhKeys, endpoint: &str) -> String {
    format!(
        "dns_ovh_endpoint = {endpoint}\ndns_ovh_application_key = {}\n\
         dns_ovh_application_secret = {}\ndns_ovh_consumer_key = {}\n",
        k.application_key, k.application_secret, k.consumer_key
    )
}

fn req(method: &str, path: &str) -> (String, String) {
    (method.to_owned(), path.to_owned())
}

#[test]
fn the_signature_is_the_documented_sha1_concatenation() {
    // $1$ + sha1("AS+CK+GET+https://eu.api.ovh.com/1.0/domain/zone++1700000000").
    let sig = ovh_signature(
        &Secret::new("AS"),
        &Secret::new("CK"),
        "GET",
        "https://eu.api.ovh.com/1.0/domain/zone",
        "",
        1_700_000_000,
    );
    let text = "AS+CK+GET+https://eu.api.ovh.com/1.0/domain/zone++1700000000";
    use sha1::Digest;
    let want = format!("$1${}", hex::encode(sha1::Sha1::digest(text.as_bytes())));
    assert_eq!(sig, want);
    assert!(sig.starts_with("$1$") && sig.len() == 43);
}

#[tokio::test]
async fn ovh_creates_the_exact_txt_record_refreshes_and_deletes_only_its_id() {
    // The fake's clock is 1000 s ahead: a signature with our own time fails.
    let fake = FakeOvh::start(keys(), &["other.test", "example.test"], 1000).await;
    let own = fake.seed(
        "example.test",
        "_acme-challenge.sub",
        "the owner's own value",
    );
    let (_d, p) = with_ini("ovh", &ini(&keys(), &fake.endpoint));
    let p = p.unwrap();
    assert_eq!(p.name(), "ovh");

    let line = p
        .preflight(&["sub.example.test".into(), "*.sub.example.test".into()])
        .await
        .unwrap();
    assert_eq!(
        line,
        "ovh: keys accepted (2 zones); sub.example.test in zone example.test"
    );
    assert_eq!(
        fake.requests(),
        [req("GET", "auth/time"), req("GET", "domain/zone")]
    );

    fake.clear_requests();
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    assert_ne!(apex.id, wild.id);
    assert_eq!(
        fake.requests(),
        [
            req("GET", "domain/zone"),
            req("POST", "domain/zone/example.test/record"),
            req("POST", "domain/zone/example.test/refresh"),
            req("GET", "domain/zone"),
            req("POST", "domain/zone/example.test/record"),
            req("POST", "domain/zone/example.test/refresh"),
        ]
    );
    let id = |h: &moat::dns::RecordHandle| h.id.as_deref().unwrap().parse::<u64>().unwrap();
    assert_eq!(
        fake.records()[1..],
        [
            OvhRecord {
                id: id(&apex),
                zone: "example.test".into(),
                field_type: "TXT".into(),
                sub_domain: "_acme-challenge.sub".into(),
                target: APEX_VALUE.into(),
                ttl: 60,
            },
            OvhRecord {
                id: id(&wild),
                zone: "example.test".into(),
                field_type: "TXT".into(),
                sub_domain: "_acme-challenge.sub".into(),
                target: WILDCARD_VALUE.into(),
                ttl: 60,
            },
        ]
    );

    fake.clear_requests();
    p.cleanup(&apex).await.unwrap();
    assert_eq!(
        fake.requests(),
        [
            req(
                "DELETE",
                &format!("domain/zone/example.test/record/{}", id(&apex))
            ),
            req("POST", "domain/zone/example.test/refresh"),
        ]
    );
    let left: Vec<u64> = fake.records().iter().map(|r| r.id).collect();
    assert_eq!(left, [own, id(&wild)]);

    // Without an id or zone: by name and value; the owner's record stays.
    let mut lost = wild.clone();
    lost.id = None;
    lost.zone = None;
    p.cleanup(&lost).await.unwrap();
    let left: Vec<u64> = fake.records().iter().map(|r| r.id).collect();
    assert_eq!(left, [own]);
    // Idempotent, and nothing to refresh.
    let refreshes = fake.refreshes();
    p.cleanup(&apex).await.unwrap();
    assert_eq!(fake.refreshes(), refreshes);
}

#[tokio::test]
async fn ovh_each_wrong_key_is_named_without_showing_it() {
    let fake = FakeOvh::start(keys(), &["example.test"], 0).await;
    let cases = [
        (
            "application_secret",
            "check dns_ovh_application_secret in ovh.ini",
        ),
        (
            "application_key",
            "check dns_ovh_application_key in ovh.ini",
        ),
        ("consumer_key", "check dns_ovh_consumer_key in ovh.ini"),
    ];
    for (which, hint) in cases {
        let mut k = keys();
        let wrong = format!("wrong-{which}-value");
        match which {
            "application_secret" => k.application_secret = wrong.clone(),
            "application_key" => k.application_key = wrong.clone(),
            _ => k.consumer_key = wrong.clone(),
        }
        let (_d, p) = with_ini("ovh", &ini(&k, &fake.endpoint));
        let err = p.unwrap().preflight(&[]).await.unwrap_err();
        let text = err.to_string();
        assert!(!err.retryable());
        assert!(text.contains(hint), "{which}: {text}");
        assert!(!text.contains(&wrong), "{text}");
    }

    let (_d, p) = with_ini("ovh", &ini(&keys(), &fake.endpoint));
    let err = p
        .unwrap()
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no DNS zone of this OVH account holds _acme-challenge.nowhere.test"),
        "{err}"
    );
    assert!(fake.records().is_empty());

    let (_d, p) = with_ini("ovh", &ini(&keys(), "ovh-mars"));
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("ovh.ini:1: dns_ovh_endpoint must be one of ovh-eu, ovh-ca, ovh-us"),
        "{err}"
    );
}
