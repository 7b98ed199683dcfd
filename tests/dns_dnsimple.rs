//! The DNSimple provider against a fake DNSimple API v2 that keeps every
//! request: the account found from the token (or a user token's accounts),
//! the exact TXT record created, cleanup deleting exactly its id (or, with
//! the id lost, its value and not the owner's), preflight only reading, and
//! a bad token named with the ini file without showing it.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_dnsimple.rs"]
mod fake_dnsimple;
#[path = "support/fake_http.rs"]
mod fake_http;

use dns_ini::with_ini;
use fake_dnsimple::FakeDnsimple;

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const NAME: &str = "_acme-challenge.sub.example.test";

fn req(method: &str, path: &str) -> (String, String) {
    (method.to_owned(), path.to_owned())
}

fn ini(token: &str, endpoint: &str) -> String {
    format!("dns_dnsimple_token = {token}\ndns_dnsimple_endpoint = {endpoint}\n")
}

#[tokio::test]
async fn dnsimple_creates_the_exact_txt_record_and_deletes_only_its_id() {
    let fake = FakeDnsimple::start("ds-token", true, &[(1385, "example.test")]).await;
    let own = fake.seed(
        1385,
        "example.test",
        "_acme-challenge.sub",
        "the owner's own value",
    );
    let (_d, p) = with_ini("dnsimple", &ini("ds-token", &fake.endpoint));
    let p = p.unwrap();
    assert_eq!(p.name(), "dnsimple");

    let line = p
        .preflight(&["sub.example.test".into(), "*.sub.example.test".into()])
        .await
        .unwrap();
    assert_eq!(
        line,
        "dnsimple: token accepted; sub.example.test in zone example.test (account 1385)"
    );
    assert_eq!(
        fake.requests(),
        [
            req("GET", "whoami"),
            req("GET", "1385/zones/sub.example.test"),
            req("GET", "1385/zones/example.test"),
        ]
    );

    fake.clear_requests();
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    assert_ne!(apex.id, wild.id);
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|(m, _)| m == "POST")
            .collect::<Vec<_>>(),
        [
            &req("POST", "1385/zones/example.test/records"),
            &req("POST", "1385/zones/example.test/records"),
        ]
    );
    let recs = fake.records();
    assert_eq!(recs.len(), 3);
    assert!(recs[1..]
        .iter()
        .all(|r| r.name == "_acme-challenge.sub" && r.kind == "TXT" && r.ttl == 60));
    assert_eq!(recs[1].content, APEX_VALUE);
    assert_eq!(recs[2].content, WILDCARD_VALUE);

    fake.clear_requests();
    p.cleanup(&apex).await.unwrap();
    assert_eq!(
        fake.requests(),
        [req(
            "DELETE",
            &format!(
                "1385/zones/example.test/records/{}",
                apex.id.as_deref().unwrap()
            )
        )]
    );
    let mut lost = wild.clone();
    lost.id = None;
    lost.zone = None;
    p.cleanup(&lost).await.unwrap();
    let left: Vec<u64> = fake.records().iter().map(|r| r.id).collect();
    assert_eq!(left, [own]);
    p.cleanup(&apex).await.unwrap();
}

#[tokio::test]
async fn dnsimple_user_tokens_search_their_accounts_and_bad_tokens_are_named() {
    let fake = FakeDnsimple::start(
        "user-token",
        false,
        &[(1, "other.test"), (2, "example.test")],
    )
    .await;
    let (_d, p) = with_ini("dnsimple", &ini("user-token", &fake.endpoint));
    let p = p.unwrap();
    let h = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    assert_eq!(h.zone.as_deref(), Some("2/example.test"));
    assert_eq!(fake.records()[0].name, "_acme-challenge");
    p.cleanup(&h).await.unwrap();
    assert!(fake.records().is_empty());

    let (_d, p) = with_ini("dnsimple", &ini("wrong-secret-value", &fake.endpoint));
    let err = p.unwrap().preflight(&[]).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("HTTP 401: Authentication failed")
            && text.contains("check dns_dnsimple_token in dnsimple.ini"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-value"), "{text}");

    let (_d, p) = with_ini("dnsimple", &ini("user-token", &fake.endpoint));
    let err = p
        .unwrap()
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no zone in this DNSimple account holds _acme-challenge.nowhere.test"),
        "{err}"
    );
}
