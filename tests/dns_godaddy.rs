//! The GoDaddy provider against a fake GoDaddy API that keeps every
//! request: GoDaddy replaces a name's TXT records at once, so the apex and
//! wildcard values (and a value someone else put there) are merged, cleanup
//! takes out exactly its value and deletes the name's records with the last,
//! preflight only reads, and bad keys name the ini file without showing them.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_godaddy.rs"]
mod fake_godaddy;
#[path = "support/fake_http.rs"]
mod fake_http;

use dns_ini::with_ini;
use fake_godaddy::FakeGodaddy;

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const NAME: &str = "_acme-challenge.sub.example.test";
const SET: &str = "domains/example.test/records/TXT/_acme-challenge.sub";

fn req(method: &str, path: &str) -> (String, String) {
    (method.to_owned(), path.to_owned())
}

fn ini(key: &str, secret: &str, endpoint: &str) -> String {
    format!("dns_godaddy_secret = {secret}\ndns_godaddy_key = {key}\ndns_godaddy_endpoint = {endpoint}\n")
}

#[tokio::test]
async fn godaddy_merges_values_and_cleanup_takes_out_only_its_value() {
    let fake = FakeGodaddy::start("gd-key", "gd-secret", &["example.test", "other.test"]).await;
    fake.seed(
        "example.test",
        "_acme-challenge.sub",
        &["the owner's own value"],
    );
    let (_d, p) = with_ini("godaddy", &ini("gd-key", "gd-secret", &fake.endpoint));
    let p = p.unwrap();
    assert_eq!(p.name(), "godaddy");

    let line = p
        .preflight(&["sub.example.test".into(), "*.sub.example.test".into()])
        .await
        .unwrap();
    assert_eq!(
        line,
        "godaddy: API key accepted; sub.example.test in zone example.test"
    );
    assert_eq!(
        fake.requests(),
        [
            req("GET", "domains/sub.example.test"),
            req("GET", "domains/example.test"),
        ]
    );

    fake.clear_requests();
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    assert_eq!(
        fake.requests()[3..],
        [
            req("GET", SET),
            req("PUT", SET),
            req("GET", SET),
            req("PUT", SET)
        ]
    );
    let records = |f: &FakeGodaddy| -> Vec<String> {
        f.names()
            .iter()
            .find(|n| n.name == "_acme-challenge.sub")
            .map(|n| n.records.iter().map(|(d, _)| d.clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        records(&fake),
        ["the owner's own value", APEX_VALUE, WILDCARD_VALUE]
    );
    // The owner's TTL is kept; ours is GoDaddy's minimum.
    assert_eq!(fake.names()[0].records[0].1, 3600);
    assert_eq!(fake.names()[0].records[1].1, 600);

    p.cleanup(&apex).await.unwrap();
    assert_eq!(records(&fake), ["the owner's own value", WILDCARD_VALUE]);
    let mut lost = wild.clone();
    lost.zone = None;
    p.cleanup(&lost).await.unwrap();
    assert_eq!(records(&fake), ["the owner's own value"]);
    fake.clear_requests();
    p.cleanup(&apex).await.unwrap();
    assert_eq!(fake.requests(), [req("GET", SET)]);

    // The last value deletes the name's TXT records.
    let h = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    p.cleanup(&h).await.unwrap();
    assert_eq!(fake.names().len(), 1);
    assert_eq!(
        fake.requests().last().unwrap(),
        &req("DELETE", "domains/example.test/records/TXT/_acme-challenge")
    );
}

#[tokio::test]
async fn godaddy_bad_keys_unknown_domain_and_placeholders_are_named() {
    let fake = FakeGodaddy::start("gd-key", "gd-secret", &["example.test"]).await;
    let (_d, p) = with_ini(
        "godaddy",
        &ini("gd-key", "wrong-secret-value", &fake.endpoint),
    );
    let err = p.unwrap().preflight(&[]).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("HTTP 401: Unable to authenticate request")
            && text.contains("check dns_godaddy_key and dns_godaddy_secret in godaddy.ini"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-value"), "{text}");

    let (_d, p) = with_ini("godaddy", &ini("gd-key", "gd-secret", &fake.endpoint));
    let err = p
        .unwrap()
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no domain in this GoDaddy account holds _acme-challenge.nowhere.test"),
        "{err}"
    );
    assert!(fake.names().is_empty());

    let (_d, p) = with_ini(
        "godaddy",
        "dns_godaddy_secret = 0123456789abcdef0123456789abcdef01234567\ndns_godaddy_key = real\n",
    );
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("godaddy.ini:1: dns_godaddy_secret still holds the template's placeholder"),
        "{err}"
    );
}
