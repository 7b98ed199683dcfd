//! The Gandi LiveDNS and deSEC providers against fakes of their APIs over
//! loopback; the fakes keep every request. Both hold a name's TXT values in
//! one rrset: the tests check the apex and wildcard values are merged (and
//! a value someone else put there kept), that cleanup takes out exactly its
//! value, that preflight only reads, and that bad credentials name the ini
//! file and key without showing them.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_desec.rs"]
mod fake_desec;
#[path = "support/fake_gandi.rs"]
mod fake_gandi;
#[path = "support/fake_http.rs"]
mod fake_http;

use dns_ini::with_ini;
use fake_desec::{DsSet, FakeDesec};
use fake_gandi::{FakeGandi, GdSet};

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const NAME: &str = "_acme-challenge.sub.example.test";

fn req(method: &str, path: &str) -> (String, String) {
    (method.to_owned(), path.to_owned())
}

fn q(v: &str) -> String {
    format!("\"{v}\"")
}

const GANDI_SET: &str = "domains/example.test/records/_acme-challenge.sub/TXT";

#[tokio::test]
async fn gandi_merges_values_into_the_rrset_and_cleanup_takes_out_only_its_value() {
    let token = "gandi-pat-0123456789";
    let fake = FakeGandi::start(&format!("Bearer {token}"), &["example.test", "other.test"]).await;
    fake.seed(
        "example.test",
        "_acme-challenge.sub",
        &[&q("the owner's own value")],
    );
    let ini = format!(
        "dns_gandi_token={token}\ndns_gandi_endpoint={}\n",
        fake.endpoint
    );
    let (_d, p) = with_ini("gandi", &ini);
    let p = p.unwrap();
    assert_eq!(p.name(), "gandi");

    let line = p.preflight(&["sub.example.test".into()]).await.unwrap();
    assert_eq!(
        line,
        "gandi: token accepted; sub.example.test in zone example.test"
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
        fake.requests(),
        [
            req("GET", "domains/_acme-challenge.sub.example.test"),
            req("GET", "domains/sub.example.test"),
            req("GET", "domains/example.test"),
            req("GET", GANDI_SET),
            req("PUT", GANDI_SET),
            req("GET", GANDI_SET),
            req("PUT", GANDI_SET),
        ]
    );
    assert_eq!(
        fake.sets(),
        [GdSet {
            domain: "example.test".into(),
            name: "_acme-challenge.sub".into(),
            kind: "TXT".into(),
            ttl: 1800,
            values: vec![q("the owner's own value"), q(APEX_VALUE), q(WILDCARD_VALUE)],
        }]
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
    // Idempotent.
    fake.clear_requests();
    p.cleanup(&apex).await.unwrap();
    assert_eq!(fake.requests(), [req("GET", GANDI_SET)]);

    // The last value deletes the rrset.
    let h = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    assert_eq!(fake.sets()[1].ttl, 300);
    p.cleanup(&h).await.unwrap();
    assert_eq!(fake.sets().len(), 1);
    assert_eq!(
        fake.requests().last().unwrap(),
        &req("DELETE", "domains/example.test/records/_acme-challenge/TXT")
    );
}

#[tokio::test]
async fn gandi_legacy_api_key_and_sharing_id_are_sent() {
    let fake = FakeGandi::start("Apikey legacy-key-123", &["example.test"]).await;
    let ini = format!(
        "dns_gandi_api_key=legacy-key-123\ndns_gandi_sharing_id=org-42\ndns_gandi_endpoint={}\n",
        fake.endpoint
    );
    let (_d, p) = with_ini("gandi", &ini);
    let p = p.unwrap();
    assert_eq!(p.preflight(&[]).await.unwrap(), "gandi: API key accepted");
    assert_eq!(fake.requests(), [req("GET", "domains?sharing_id=org-42")]);
    let h = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    p.cleanup(&h).await.unwrap();
    assert!(fake.sets().is_empty());
}

#[tokio::test]
async fn gandi_bad_token_unknown_domain_and_placeholders_are_named() {
    let fake = FakeGandi::start("Bearer good", &["example.test"]).await;
    let (_d, p) = with_ini(
        "gandi",
        &format!(
            "dns_gandi_token=bad-secret-value\ndns_gandi_endpoint={}\n",
            fake.endpoint
        ),
    );
    let err = p.unwrap().present(NAME, APEX_VALUE).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("HTTP 401") && text.contains("check dns_gandi_token in gandi.ini"),
        "{text}"
    );
    assert!(!text.contains("bad-secret-value"), "{text}");

    let (_d, p) = with_ini(
        "gandi",
        &format!(
            "dns_gandi_token=good\ndns_gandi_endpoint={}\n",
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
        err.contains("no LiveDNS domain of this account holds _acme-challenge.nowhere.test"),
        "{err}"
    );
    assert!(fake.sets().is_empty());

    let (_d, p) = with_ini(
        "gandi",
        "dns_gandi_token=good\ndns_gandi_sharing_id=SHARINGID\n",
    );
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("gandi.ini:2: dns_gandi_sharing_id still holds the template's placeholder"),
        "{err}"
    );
    let (_d, p) = with_ini("gandi", "# nothing\n");
    let err = p.err().unwrap().to_string();
    assert!(err.contains("missing key dns_gandi_token"), "{err}");
}

const DESEC_SET: &str = "domains/example.test/rrsets/_acme-challenge.sub/TXT/";

#[tokio::test]
async fn desec_merges_values_into_the_rrset_and_cleanup_takes_out_only_its_value() {
    let token = "desec-token-0123456789";
    let fake = FakeDesec::start(token, &["example.test", "other.test"]).await;
    fake.seed(
        "example.test",
        "_acme-challenge.sub",
        &[&q("the owner's own value")],
    );
    // SWAG's file: the endpoint key is certbot-dns-desec's own.
    let ini = format!(
        "dns_desec_token={token}\ndns_desec_endpoint={}\n",
        fake.endpoint
    );
    let (_d, p) = with_ini("desec", &ini);
    let p = p.unwrap();
    assert_eq!(p.name(), "desec");

    let line = p.preflight(&["sub.example.test".into()]).await.unwrap();
    assert_eq!(
        line,
        "desec: token accepted; sub.example.test in zone example.test"
    );
    assert_eq!(
        fake.requests(),
        [req("GET", "domains/?owns_qname=sub.example.test")]
    );

    fake.clear_requests();
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    assert_eq!(
        fake.requests(),
        [
            req(
                "GET",
                "domains/?owns_qname=_acme-challenge.sub.example.test"
            ),
            req("GET", DESEC_SET),
            req("PUT", "domains/example.test/rrsets/"),
            req("GET", DESEC_SET),
            req("PUT", "domains/example.test/rrsets/"),
        ]
    );
    assert_eq!(
        fake.sets(),
        [DsSet {
            domain: "example.test".into(),
            subname: "_acme-challenge.sub".into(),
            kind: "TXT".into(),
            ttl: 7200,
            records: vec![q("the owner's own value"), q(APEX_VALUE), q(WILDCARD_VALUE)],
        }]
    );

    p.cleanup(&apex).await.unwrap();
    assert_eq!(
        fake.sets()[0].records,
        [q("the owner's own value"), q(WILDCARD_VALUE)]
    );
    let mut lost = wild.clone();
    lost.zone = None;
    p.cleanup(&lost).await.unwrap();
    assert_eq!(fake.sets()[0].records, [q("the owner's own value")]);
    fake.clear_requests();
    p.cleanup(&apex).await.unwrap();
    assert_eq!(fake.requests(), [req("GET", DESEC_SET)]);

    // At the apex of the zone (subname "@" in the URL), with deSEC's minimum
    // TTL; the last value deletes the rrset.
    let (a, b) = tokio::join!(
        p.present("example.test", APEX_VALUE),
        p.present("example.test", WILDCARD_VALUE)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(fake.sets()[1].subname, "");
    assert_eq!(fake.sets()[1].ttl, 3600);
    assert_eq!(fake.sets()[1].records.len(), 2);
    p.cleanup(&a).await.unwrap();
    p.cleanup(&b).await.unwrap();
    assert_eq!(fake.sets().len(), 1);
    assert!(fake
        .requests()
        .contains(&req("GET", "domains/example.test/rrsets/@/TXT/")));
}

#[tokio::test]
async fn desec_bad_token_unknown_domain_and_placeholder_are_named() {
    let fake = FakeDesec::start("good", &["example.test"]).await;
    let (_d, p) = with_ini(
        "desec",
        &format!(
            "dns_desec_token=bad-secret-value\ndns_desec_endpoint={}\n",
            fake.endpoint
        ),
    );
    let err = p.unwrap().preflight(&[]).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("HTTP 401: Invalid token.")
            && text.contains("check dns_desec_token in desec.ini"),
        "{text}"
    );
    assert!(!text.contains("bad-secret-value"), "{text}");

    let (_d, p) = with_ini(
        "desec",
        &format!(
            "dns_desec_token=good\ndns_desec_endpoint={}\n",
            fake.endpoint
        ),
    );
    let p = p.unwrap();
    assert_eq!(
        p.preflight(&[]).await.unwrap(),
        "desec: token accepted (1 domains)"
    );
    let err = p
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no domain of this deSEC account holds _acme-challenge.nowhere.test"),
        "{err}"
    );
    assert!(fake.sets().is_empty());

    let (_d, p) = with_ini(
        "desec",
        "dns_desec_token=good\ndns_desec_endpoint=desec.io\n",
    );
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("desec.ini:2: dns_desec_endpoint must be an http(s) URL"),
        "{err}"
    );
}
