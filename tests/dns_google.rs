//! The Google Cloud DNS provider against a fake OAuth token endpoint and
//! Cloud DNS API that verify the service account's RS256 JWT: the public
//! zone found (a private one with the same name skipped), both challenge
//! values in one rrset next to the owner's, cleanup taking out exactly its
//! value, the token reused, and SWAG's untouched google.json and a broken
//! key refused naming the file and key.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_google.rs"]
mod fake_google;
#[path = "support/fake_http.rs"]
mod fake_http;

use dns_ini::with_file;
use fake_google::FakeGoogle;

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const NAME: &str = "_acme-challenge.sub.example.test";

#[tokio::test]
async fn google_adds_both_values_to_one_rrset_and_removes_only_its_own() {
    let fake = FakeGoogle::start(
        &[
            ("internal", "example.test", "private"),
            ("example-test", "example.test", "public"),
        ],
        None,
    )
    .await;
    fake.seed(
        "example-test",
        &format!("{NAME}."),
        &["\"the owner's own value\""],
    );
    let (_d, p) = with_file("google", "google.json", &fake.key_file());
    let p = p.unwrap();
    assert_eq!(p.name(), "google");
    let line = p
        .preflight(&["sub.example.test".into(), "*.sub.example.test".into()])
        .await
        .unwrap();
    assert_eq!(
        line,
        "google: service account moat-dns@moat-test-project.iam.gserviceaccount.com accepted \
         (project moat-test-project); sub.example.test in zone example-test (example.test.)"
    );
    assert!(fake
        .requests()
        .iter()
        .all(|(m, _)| m == "GET" || m == "POST"));

    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    let sets = fake.sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(
        sets[0].rrdatas,
        [
            "\"the owner's own value\"".to_owned(),
            format!("\"{APEX_VALUE}\""),
            format!("\"{WILDCARD_VALUE}\"")
        ]
    );
    assert_eq!(sets[0].ttl, 300, "the rrset keeps its own TTL");
    // One token for the whole run: the JWT is exchanged once.
    let tokens = fake
        .requests()
        .iter()
        .filter(|(_, p)| p == "/token")
        .count();
    assert_eq!(tokens, 1, "{:?}", fake.requests());

    p.cleanup(&apex).await.unwrap();
    p.cleanup(&wild).await.unwrap();
    p.cleanup(&wild).await.unwrap();
    assert_eq!(fake.sets()[0].rrdatas, ["\"the owner's own value\""]);

    // The last value gone: the rrset is deleted, not left empty.
    let other = "_acme-challenge.example.test";
    let h = p.present(other, APEX_VALUE).await.unwrap();
    assert_eq!(fake.sets().len(), 2);
    p.cleanup(&h).await.unwrap();
    assert_eq!(fake.sets().len(), 1);

    let err = p
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no public managed zone in project moat-test-project holds _acme-challenge.nowhere.test"),
        "{err}"
    );
}

#[tokio::test]
async fn google_refuses_swags_template_a_broken_key_and_a_wrong_key() {
    let template = include_str!("../dns-conf/google.json");
    let (_d, p) = with_file("google", "google.json", template);
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("dns-conf/google.json:3: _comment shows this is still SWAG's template"),
        "{err}"
    );

    let fake = FakeGoogle::start(&[("example-test", "example.test", "public")], None).await;
    let mut key: serde_json::Value = serde_json::from_str(&fake.key_file()).unwrap();
    key["private_key"] =
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n".into();
    let (_d, p) = with_file("google", "google.json", &key.to_string());
    let err = p.err().unwrap().to_string();
    assert!(err.contains("google.json:1: private_key:"), "{err}");
    assert!(!err.contains("not a key"), "{err}");

    // Another key for the same account: the token endpoint refuses the JWT.
    key["private_key"] = include_str!("support/keys/other-rsa.pem").into();
    let (_d, p) = with_file("google", "google.json", &key.to_string());
    let err = p.unwrap().preflight(&[]).await.unwrap_err().to_string();
    assert!(
        err.contains("the OAuth token endpoint refused the service account moat-dns@")
            && err.contains("Invalid JWT: invalid signature")
            && err.contains("check client_email and private_key in google.json"),
        "{err}"
    );
}
