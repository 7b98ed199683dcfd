//! The Vultr provider against a fake Vultr API v2 over loopback that keeps
//! every request: the exact TXT record created (quoted, as Vultr keeps TXT
//! data), cleanup deletes exactly that record id and never the other value
//! at the same name, preflight only reads (following the cursor to the
//! second page), and a bad key names the ini file and key without showing it.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/fake_vultr.rs"]
mod fake_vultr;

use dns_ini::with_ini;
use fake_vultr::{FakeVultr, VuRecord};

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const NAME: &str = "_acme-challenge.sub.example.test";
const DOMAINS_1: &str = "domains?per_page=500";
const DOMAINS_2: &str = "domains?per_page=500&cursor=after-2";

fn req(method: &str, path: &str) -> (String, String) {
    (method.to_owned(), path.to_owned())
}

#[tokio::test]
async fn vultr_creates_the_exact_txt_record_and_deletes_only_its_id() {
    let key = "vultr-key-0123456789ABCDEF";
    // Two domains a page: example.test is on the second.
    let fake = FakeVultr::start(key, &["other.test", "test.example", "example.test"], 2).await;
    let own = fake.seed(
        "example.test",
        "_acme-challenge.sub",
        "\"the owner's own value\"",
    );
    let ini = format!(
        "dns_vultr_key = {key}\ndns_vultr_endpoint = {}\n",
        fake.endpoint
    );
    let (_d, p) = with_ini("vultr", &ini);
    let p = p.unwrap();
    assert_eq!(p.name(), "vultr");

    let line = p.preflight(&["sub.example.test".into()]).await.unwrap();
    assert_eq!(
        line,
        "vultr: API key accepted (3 domains); sub.example.test in zone example.test"
    );
    assert_eq!(
        fake.requests(),
        [req("GET", DOMAINS_1), req("GET", DOMAINS_2)]
    );
    assert_eq!(fake.records().len(), 1);

    fake.clear_requests();
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    assert_ne!(apex.id, wild.id);
    assert_eq!(apex.zone.as_deref(), Some("example.test"));
    assert_eq!(
        fake.requests(),
        [
            req("GET", DOMAINS_1),
            req("GET", DOMAINS_2),
            req("POST", "domains/example.test/records"),
            req("GET", DOMAINS_1),
            req("GET", DOMAINS_2),
            req("POST", "domains/example.test/records"),
        ]
    );
    assert_eq!(
        fake.records()[1..],
        [
            VuRecord {
                id: apex.id.clone().unwrap(),
                domain: "example.test".into(),
                kind: "TXT".into(),
                name: "_acme-challenge.sub".into(),
                data: format!("\"{APEX_VALUE}\""),
                ttl: 300,
            },
            VuRecord {
                id: wild.id.clone().unwrap(),
                domain: "example.test".into(),
                kind: "TXT".into(),
                name: "_acme-challenge.sub".into(),
                data: format!("\"{WILDCARD_VALUE}\""),
                ttl: 300,
            },
        ]
    );

    fake.clear_requests();
    p.cleanup(&apex).await.unwrap();
    assert_eq!(
        fake.requests(),
        [req(
            "DELETE",
            &format!(
                "domains/example.test/records/{}",
                apex.id.as_deref().unwrap()
            )
        )]
    );
    let left: Vec<String> = fake.records().into_iter().map(|r| r.id).collect();
    assert_eq!(left, [own.clone(), wild.id.clone().unwrap()]);

    // Without an id or zone: by name and value; the owner's record stays.
    let mut lost = wild.clone();
    lost.id = None;
    lost.zone = None;
    p.cleanup(&lost).await.unwrap();
    let left: Vec<String> = fake.records().into_iter().map(|r| r.id).collect();
    assert_eq!(left, [own]);
    // Idempotent.
    p.cleanup(&apex).await.unwrap();
}

#[tokio::test]
async fn vultr_bad_key_and_unknown_domain_are_named() {
    let fake = FakeVultr::start("good", &["example.test"], 500).await;
    let (_d, p) = with_ini(
        "vultr",
        &format!(
            "dns_vultr_key = bad-secret-value\ndns_vultr_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let err = p.unwrap().preflight(&[]).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("HTTP 401: Invalid API token.")
            && text.contains("check dns_vultr_key in vultr.ini"),
        "{text}"
    );
    assert!(!text.contains("bad-secret-value"), "{text}");

    let (_d, p) = with_ini(
        "vultr",
        &format!(
            "dns_vultr_key = good\ndns_vultr_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let err = p
        .unwrap()
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no domain in this Vultr account holds _acme-challenge.nowhere.test"),
        "{err}"
    );
    assert!(fake.records().is_empty());

    let (_d, p) = with_ini("vultr", "dns_vultr_key =\n");
    let err = p.err().unwrap().to_string();
    assert!(err.contains("vultr.ini:1: dns_vultr_key is empty"), "{err}");
}
