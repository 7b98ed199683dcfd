//! The Porkbun and Linode DNS providers against fake HTTP APIs with the
//! documented shapes, over loopback sockets; the fakes keep every request
//! they received. Each test checks the exact TXT record created, that
//! cleanup deletes exactly that record id and nothing else, that preflight
//! changes nothing, and that bad credentials name the ini file and keys
//! without showing them.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/fake_linode.rs"]
mod fake_linode;
#[path = "support/fake_porkbun.rs"]
mod fake_porkbun;

use dns_ini::with_ini;
use fake_linode::{FakeLinode, LnRecord};
use fake_porkbun::{FakePorkbun, PbRecord};

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const NAME: &str = "_acme-challenge.sub.example.test";

fn porkbun_ini(key: &str, secret: &str, endpoint: &str) -> String {
    format!("dns_porkbun_key={key}\ndns_porkbun_secret={secret}\ndns_porkbun_endpoint={endpoint}\n")
}

fn post(path: &str) -> (String, String) {
    ("POST".to_owned(), path.to_owned())
}

#[tokio::test]
async fn porkbun_creates_the_exact_txt_record_and_deletes_only_its_id() {
    let (key, secret) = ("pk1_0123456789abcdef", "sk1_fedcba9876543210");
    let fake = FakePorkbun::start(key, secret, &["example.test", "other.test"]).await;
    let own = fake.seed("example.test", NAME, "the owner's own value");
    let (_d, p) = with_ini("porkbun", &porkbun_ini(key, secret, &fake.endpoint));
    let p = p.unwrap();
    assert_eq!(p.name(), "porkbun");

    let line = p.preflight(&["sub.example.test".into()]).await.unwrap();
    assert_eq!(
        line,
        "porkbun: API key accepted; sub.example.test in zone example.test"
    );
    // Preflight only reads: ping, then the zone lookup, longest suffix first.
    assert_eq!(
        fake.requests(),
        [
            post("ping"),
            post("dns/retrieve/sub.example.test"),
            post("dns/retrieve/example.test"),
        ]
    );
    assert_eq!(fake.records().len(), 1);

    fake.clear_requests();
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    // The zone is looked up once, longest suffix first, then remembered.
    assert_eq!(
        fake.requests(),
        [
            post("dns/retrieve/_acme-challenge.sub.example.test"),
            post("dns/retrieve/sub.example.test"),
            post("dns/retrieve/example.test"),
            post("dns/create/example.test"),
            post("dns/create/example.test"),
        ]
    );
    let recs = fake.records();
    assert_eq!(
        recs[1..],
        [
            PbRecord {
                id: apex.id.clone().unwrap(),
                domain: "example.test".into(),
                name: NAME.into(),
                kind: "TXT".into(),
                content: APEX_VALUE.into(),
                ttl: "600".into(),
            },
            PbRecord {
                id: wild.id.clone().unwrap(),
                domain: "example.test".into(),
                name: NAME.into(),
                kind: "TXT".into(),
                content: WILDCARD_VALUE.into(),
                ttl: "600".into(),
            },
        ]
    );
    assert_ne!(apex.id, wild.id);

    fake.clear_requests();
    p.cleanup(&apex).await.unwrap();
    assert_eq!(
        fake.requests(),
        [post(&format!(
            "dns/delete/example.test/{}",
            apex.id.as_deref().unwrap()
        ))]
    );
    let left: Vec<String> = fake.records().into_iter().map(|r| r.id).collect();
    assert_eq!(left, [own.clone(), wild.id.clone().unwrap()]);

    // Without an id (a handle from before a crash): by name and value, so
    // the owner's record at the same name stays.
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
async fn porkbun_bad_keys_and_unknown_domains_are_named() {
    let fake = FakePorkbun::start("pk1_good", "sk1_good", &["example.test"]).await;
    let (_d, p) = with_ini(
        "porkbun",
        &porkbun_ini("pk1_good", "sk1_wrong-secret-123", &fake.endpoint),
    );
    let err = p.unwrap().preflight(&[]).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("Invalid API key")
            && text.contains("check dns_porkbun_key and dns_porkbun_secret in porkbun.ini"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-123"), "{text}");
    assert_eq!(fake.requests(), [post("ping")]);

    // A bad key during present is not mistaken for "no such domain".
    let (_d, p) = with_ini(
        "porkbun",
        &porkbun_ini("pk1_good", "sk1_wrong-secret-123", &fake.endpoint),
    );
    let err = p.unwrap().present(NAME, APEX_VALUE).await.unwrap_err();
    assert!(err.to_string().contains("Invalid API key"), "{err}");

    let (_d, p) = with_ini(
        "porkbun",
        &porkbun_ini("pk1_good", "sk1_good", &fake.endpoint),
    );
    let err = p
        .unwrap()
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no domain in this Porkbun account holds _acme-challenge.nowhere.test"),
        "{err}"
    );
    assert!(fake.records().is_empty());

    // Missing key: the file and the key are named.
    let (_d, p) = with_ini("porkbun", "dns_porkbun_key=pk1_good\n");
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("porkbun.ini") && err.contains("dns_porkbun_secret"),
        "{err}"
    );
}

fn get(path: &str) -> (String, String) {
    ("GET".to_owned(), path.to_owned())
}

const LINODE_DOMAINS_1: &str = "domains?page=1&page_size=500";
const LINODE_DOMAINS_2: &str = "domains?page=2&page_size=500";

#[tokio::test]
async fn linode_creates_the_exact_txt_record_under_the_domain_id_and_deletes_only_its_id() {
    let token = "linode-token-0123456789abcdef";
    // Two domains a page: example.test is on the second page.
    let fake = FakeLinode::start(
        token,
        &[
            (11, "other.test"),
            (12, "test.example"),
            (13, "example.test"),
        ],
        2,
    )
    .await;
    let own = fake.seed(13, "_acme-challenge.sub", "the owner's own value");
    let ini = format!(
        "dns_linode_key = {token}\ndns_linode_version = 4\ndns_linode_endpoint = {}\n",
        fake.endpoint
    );
    let (_d, p) = with_ini("linode", &ini);
    let p = p.unwrap();
    assert_eq!(p.name(), "linode");

    let line = p.preflight(&["sub.example.test".into()]).await.unwrap();
    assert_eq!(
        line,
        "linode: token accepted (3 domains); sub.example.test in zone example.test"
    );
    // Preflight only reads.
    assert_eq!(
        fake.requests(),
        [get(LINODE_DOMAINS_1), get(LINODE_DOMAINS_2)]
    );
    assert_eq!(fake.records().len(), 1);

    fake.clear_requests();
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    assert_ne!(apex.id, wild.id);
    assert_eq!(apex.zone.as_deref(), Some("13"));
    let post = |p: &str| ("POST".to_owned(), p.to_owned());
    assert_eq!(
        fake.requests(),
        [
            get(LINODE_DOMAINS_1),
            get(LINODE_DOMAINS_2),
            post("domains/13/records"),
            get(LINODE_DOMAINS_1),
            get(LINODE_DOMAINS_2),
            post("domains/13/records"),
        ]
    );
    let id = |h: &moat::dns::RecordHandle| h.id.as_deref().unwrap().parse::<u64>().unwrap();
    assert_eq!(
        fake.records()[1..],
        [
            LnRecord {
                id: id(&apex),
                domain_id: 13,
                kind: "TXT".into(),
                name: "_acme-challenge.sub".into(),
                target: APEX_VALUE.into(),
                ttl_sec: 300,
            },
            LnRecord {
                id: id(&wild),
                domain_id: 13,
                kind: "TXT".into(),
                name: "_acme-challenge.sub".into(),
                target: WILDCARD_VALUE.into(),
                ttl_sec: 300,
            },
        ]
    );

    fake.clear_requests();
    p.cleanup(&apex).await.unwrap();
    assert_eq!(
        fake.requests(),
        [(
            "DELETE".to_owned(),
            format!("domains/13/records/{}", id(&apex))
        )]
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
    // Idempotent.
    p.cleanup(&apex).await.unwrap();
}

#[tokio::test]
async fn linode_bad_token_version_and_unknown_domain_are_named() {
    let fake = FakeLinode::start("good", &[(13, "example.test")], 500).await;
    let (_d, p) = with_ini(
        "linode",
        &format!(
            "dns_linode_key = bad-secret-value\ndns_linode_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let err = p.unwrap().preflight(&[]).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("HTTP 401")
            && text.contains("Invalid Token")
            && text.contains("check dns_linode_key in linode.ini"),
        "{text}"
    );
    assert!(!text.contains("bad-secret-value"), "{text}");

    let (_d, p) = with_ini(
        "linode",
        &format!(
            "dns_linode_key = good\ndns_linode_endpoint = {}\n",
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
            .contains("no domain in this Linode account holds _acme-challenge.nowhere.test"),
        "{err}"
    );
    assert!(fake.records().is_empty());

    let (_d, p) = with_ini("linode", "dns_linode_key = good\ndns_linode_version = 3\n");
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("linode.ini")
            && err.contains(":2")
            && err.contains("dns_linode_version = 3 is not supported"),
        "{err}"
    );
}
