//! The IONOS provider against a fake IONOS DNS API that keeps every request:
//! the exact TXT record created under the zone id (SWAG's
//! `dns_ionos_endpoint` is the host, `dns/v1/` added), cleanup deleting
//! exactly its id (or, with the id lost, its value and not the owner's),
//! preflight only reading, and a bad key named without showing it.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/fake_ionos.rs"]
mod fake_ionos;

use dns_ini::with_ini;
use fake_ionos::FakeIonos;

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const NAME: &str = "_acme-challenge.sub.example.test";
const ZONE: &str = "11af3414-ebba-11e9-8df5-66fbe8a334b4";

fn req(method: &str, path: &str) -> (String, String) {
    (method.to_owned(), path.to_owned())
}

fn ini(prefix: &str, secret: &str, endpoint: &str) -> String {
    format!("dns_ionos_prefix = {prefix}\ndns_ionos_secret = {secret}\ndns_ionos_endpoint = {endpoint}\n")
}

#[tokio::test]
async fn ionos_creates_the_exact_txt_record_and_deletes_only_its_id() {
    let fake = FakeIonos::start(
        "pfx.sec",
        &[("zone-other", "other.test"), (ZONE, "example.test")],
    )
    .await;
    let own = fake.seed(ZONE, NAME, "the owner's own value");
    let (_d, p) = with_ini("ionos", &ini("pfx", "sec", &fake.endpoint));
    let p = p.unwrap();
    assert_eq!(p.name(), "ionos");

    let line = p
        .preflight(&["sub.example.test".into(), "*.sub.example.test".into()])
        .await
        .unwrap();
    assert_eq!(
        line,
        "ionos: API key accepted (2 zones); sub.example.test in zone example.test"
    );
    assert_eq!(fake.requests(), [req("GET", "zones")]);

    fake.clear_requests();
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    assert_ne!(apex.id, wild.id);
    let post = req("POST", &format!("zones/{ZONE}/records"));
    assert_eq!(
        fake.requests(),
        [req("GET", "zones"), post.clone(), req("GET", "zones"), post]
    );
    let recs = fake.records();
    assert_eq!(recs.len(), 3);
    assert!(recs[1..]
        .iter()
        .all(|r| r.name == NAME && r.kind == "TXT" && r.ttl == 60));
    assert_eq!(
        (recs[1].content.as_str(), recs[2].content.as_str()),
        (APEX_VALUE, WILDCARD_VALUE)
    );

    fake.clear_requests();
    p.cleanup(&apex).await.unwrap();
    assert_eq!(
        fake.requests(),
        [req(
            "DELETE",
            &format!("zones/{ZONE}/records/{}", apex.id.as_deref().unwrap())
        )]
    );
    let mut lost = wild.clone();
    lost.id = None;
    lost.zone = None;
    p.cleanup(&lost).await.unwrap();
    let left: Vec<String> = fake.records().into_iter().map(|r| r.id).collect();
    assert_eq!(left, [own]);
    p.cleanup(&apex).await.unwrap();
}

#[tokio::test]
async fn ionos_bad_key_and_unknown_zone_are_named() {
    let fake = FakeIonos::start("pfx.sec", &[(ZONE, "example.test")]).await;
    let (_d, p) = with_ini("ionos", &ini("pfx", "wrong-secret-value", &fake.endpoint));
    let err = p.unwrap().preflight(&[]).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("HTTP 401: The customer is not authorized")
            && text.contains("check dns_ionos_prefix and dns_ionos_secret in ionos.ini"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-value"), "{text}");

    let (_d, p) = with_ini("ionos", &ini("pfx", "sec", &fake.endpoint));
    let err = p
        .unwrap()
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no DNS zone of this IONOS account holds _acme-challenge.nowhere.test"),
        "{err}"
    );
    assert!(fake.records().is_empty());
}
