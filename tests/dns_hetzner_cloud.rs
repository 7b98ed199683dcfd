//! The hetzner-cloud provider against a fake Hetzner Cloud DNS API that
//! keeps every request: each value is added to and removed from the name's
//! TXT rrset on its own (`add_records` / `remove_records`), so the owner's
//! value and the other challenge value stay; actions are followed to
//! success; preflight only reads; a bad token is named without showing it.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_hetzner_cloud.rs"]
mod fake_hetzner_cloud;
#[path = "support/fake_http.rs"]
mod fake_http;

use dns_ini::with_ini;
use fake_hetzner_cloud::FakeHetznerCloud;

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const NAME: &str = "_acme-challenge.sub.example.test";
const SET: &str = "zones/example.test/rrsets/_acme-challenge.sub/TXT";

fn req(method: &str, path: &str) -> (String, String) {
    (method.to_owned(), path.to_owned())
}

fn q(v: &str) -> String {
    format!("\"{v}\"")
}

fn ini(token: &str, endpoint: &str) -> String {
    format!("dns_hetzner_cloud_api_token = {token}\ndns_hetzner_cloud_endpoint = {endpoint}\n")
}

#[tokio::test]
async fn hetzner_cloud_adds_and_removes_exactly_its_values() {
    let fake = FakeHetznerCloud::start("hc-token", &["example.test", "other.test"]).await;
    fake.seed(
        "example.test",
        "_acme-challenge.sub",
        &[&q("the owner's own value")],
    );
    let (_d, p) = with_ini("hetzner-cloud", &ini("hc-token", &fake.endpoint));
    let p = p.unwrap();
    assert_eq!(p.name(), "hetzner-cloud");

    let line = p
        .preflight(&["sub.example.test".into(), "*.sub.example.test".into()])
        .await
        .unwrap();
    assert_eq!(
        line,
        "hetzner-cloud: token accepted; sub.example.test in zone example.test"
    );
    assert_eq!(
        fake.requests(),
        [
            req("GET", "zones/sub.example.test"),
            req("GET", "zones/example.test"),
        ]
    );

    fake.clear_requests();
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    let reqs = fake.requests();
    assert!(
        reqs.contains(&req("POST", &format!("{SET}/actions/add_records"))),
        "{reqs:?}"
    );
    // Each action was followed until it succeeded.
    assert_eq!(
        reqs.iter()
            .filter(|(_, p)| p.starts_with("actions/"))
            .count(),
        2
    );
    assert_eq!(
        fake.sets()[0].values,
        [q("the owner's own value"), q(APEX_VALUE), q(WILDCARD_VALUE)]
    );

    p.cleanup(&apex).await.unwrap();
    assert_eq!(
        fake.sets()[0].values,
        [q("the owner's own value"), q(WILDCARD_VALUE)]
    );
    let mut lost = wild.clone();
    lost.zone = None;
    p.cleanup(&lost).await.unwrap();
    assert_eq!(fake.sets()[0].values, [q("the owner's own value")]);

    // Alone at a name: the rrset goes with the last value; again is a no-op.
    let h = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    assert_eq!(fake.sets()[1].ttl, 60);
    p.cleanup(&h).await.unwrap();
    assert_eq!(fake.sets().len(), 1);
    p.cleanup(&h).await.unwrap();
}

#[tokio::test]
async fn hetzner_cloud_bad_token_and_unknown_zone_are_named() {
    let fake = FakeHetznerCloud::start("hc-token", &["example.test"]).await;
    let (_d, p) = with_ini("hetzner-cloud", &ini("wrong-secret-value", &fake.endpoint));
    let err = p.unwrap().preflight(&[]).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("HTTP 401: unable to authenticate")
            && text.contains("check dns_hetzner_cloud_api_token in hetzner-cloud.ini"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-value"), "{text}");

    let (_d, p) = with_ini("hetzner-cloud", &ini("hc-token", &fake.endpoint));
    let err = p
        .unwrap()
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no zone in this Hetzner Cloud project holds _acme-challenge.nowhere.test"),
        "{err}"
    );
    assert!(fake.sets().is_empty());
}
