//! The netcup provider against a fake CCP DNS API that keeps every action:
//! login, the zone found, the exact TXT record added and deleted by id (or,
//! with the id lost, by name and value, never the owner's), every session
//! logged out, preflight only reading, and bad credentials named without
//! showing them.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/fake_netcup.rs"]
mod fake_netcup;

use dns_ini::with_ini;
use fake_netcup::FakeNetcup;

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const NAME: &str = "_acme-challenge.sub.example.test";

fn creds() -> (String, String, String) {
    (
        "31337".into(),
        "nc-api-key".into(),
        "nc-api-password".into(),
    )
}

fn ini(c: &(String, String, String), endpoint: &str) -> String {
    format!(
        "dns_netcup_customer_id = {}\ndns_netcup_api_key = {}\ndns_netcup_api_password = {}\ndns_netcup_endpoint = {endpoint}\n",
        c.0, c.1, c.2
    )
}

#[tokio::test]
async fn netcup_adds_the_exact_record_and_deletes_only_it() {
    let fake = FakeNetcup::start(creds(), &["example.test"]).await;
    let own = fake.seed(
        "example.test",
        "_acme-challenge.sub",
        "the owner's own value",
    );
    let (_d, p) = with_ini("netcup", &ini(&creds(), &fake.endpoint));
    let p = p.unwrap();
    assert_eq!(p.name(), "netcup");
    assert_eq!(p.propagation_default().as_secs(), 900);

    let line = p
        .preflight(&["sub.example.test".into(), "*.sub.example.test".into()])
        .await
        .unwrap();
    assert_eq!(
        line,
        "netcup: API key accepted; sub.example.test in zone example.test"
    );
    assert_eq!(
        fake.actions(),
        ["login", "infoDnsZone", "infoDnsZone", "logout"]
    );

    fake.clear();
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    assert!(apex.id.is_some() && apex.id != wild.id);
    let recs = fake.records();
    assert_eq!(recs.len(), 3);
    assert!(recs[1..]
        .iter()
        .all(|r| r.hostname == "_acme-challenge.sub" && r.kind == "TXT"));
    assert_eq!(recs[1].destination, APEX_VALUE);
    assert_eq!(recs[1].id, apex.id.clone().unwrap());

    p.cleanup(&apex).await.unwrap();
    let left: Vec<String> = fake.records().into_iter().map(|r| r.id).collect();
    assert_eq!(left, [own.clone(), wild.id.clone().unwrap()]);
    let mut lost = wild.clone();
    lost.id = None;
    lost.zone = None;
    p.cleanup(&lost).await.unwrap();
    let left: Vec<String> = fake.records().into_iter().map(|r| r.id).collect();
    assert_eq!(left, [own]);
    p.cleanup(&apex).await.unwrap();
    assert_eq!(fake.open_sessions(), 0, "every session is logged out");
}

#[tokio::test]
async fn netcup_bad_password_unknown_zone_and_placeholders_are_named() {
    let fake = FakeNetcup::start(creds(), &["example.test"]).await;
    let mut bad = creds();
    bad.2 = "wrong-secret-value".into();
    let (_d, p) = with_ini("netcup", &ini(&bad, &fake.endpoint));
    let err = p.unwrap().preflight(&[]).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("login: 4001 Login failed.")
            && text.contains("check dns_netcup_customer_id, dns_netcup_api_key and dns_netcup_api_password in netcup.ini"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-value"), "{text}");

    let (_d, p) = with_ini("netcup", &ini(&creds(), &fake.endpoint));
    let err = p
        .unwrap()
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no DNS zone of this netcup account holds _acme-challenge.nowhere.test"),
        "{err}"
    );
    assert_eq!(fake.open_sessions(), 0);

    let (_d, p) = with_ini("netcup", "dns_netcup_customer_id = C-42\n");
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("netcup.ini:1: dns_netcup_customer_id must be a number"),
        "{err}"
    );
}
