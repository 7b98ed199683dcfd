//! The TransIP provider against a fake REST API v6 that verifies the
//! SHA-512 RSA signature of every auth request with the account's public
//! key: one token for the run, the exact entry added next to the owner's,
//! cleanup deleting only its own entry, and SWAG's template, a missing key
//! file and a wrong key refused naming the file and key.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/fake_transip.rs"]
mod fake_transip;

use dns_ini::with_ini;
use fake_transip::FakeTransip;

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";

fn key_file(pem: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transip-rsa.key");
    std::fs::write(&path, pem).unwrap();
    let path = path.display().to_string();
    (dir, path)
}

#[tokio::test]
async fn transip_adds_and_deletes_exactly_its_entries() {
    let fake = FakeTransip::start("moatuser", &["example.test"], None).await;
    fake.seed(
        "example.test",
        "_acme-challenge.sub",
        "the owner's own value",
    );
    let (_k, key) = key_file(fake_transip::KEY_PEM);
    let (_d, p) = with_ini(
        "transip",
        &format!(
            "dns_transip_username = moatuser\ndns_transip_key_file = {key}\ndns_transip_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let p = p.unwrap();
    let line = p.preflight(&["*.sub.example.test".into()]).await.unwrap();
    assert_eq!(
        line,
        "transip: key accepted for moatuser; sub.example.test in zone example.test"
    );
    let name = "_acme-challenge.sub.example.test";
    let apex = p.present(name, APEX_VALUE).await.unwrap();
    let wild = p.present(name, WILDCARD_VALUE).await.unwrap();
    let entries = fake.entries();
    assert_eq!(entries.len(), 3);
    assert!(entries[1..]
        .iter()
        .all(|e| e.name == "_acme-challenge.sub" && e.kind == "TXT" && e.expire == 60));
    p.cleanup(&apex).await.unwrap();
    let mut lost = wild.clone();
    lost.zone = None;
    p.cleanup(&lost).await.unwrap();
    p.cleanup(&wild).await.unwrap();
    let left: Vec<String> = fake.entries().into_iter().map(|e| e.content).collect();
    assert_eq!(left, ["the owner's own value"]);
    let auths = fake.requests().iter().filter(|(_, p)| p == "auth").count();
    assert_eq!(auths, 1, "{:?}", fake.requests());
    let err = p
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "no domain of the TransIP account moatuser holds _acme-challenge.nowhere.test"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn transip_refuses_the_template_a_missing_key_and_a_wrong_key() {
    let template = include_str!("../dns-conf/transip.ini");
    let (d, p) = with_ini("transip", template);
    let err = p.err().unwrap().to_string();
    assert_eq!(
        err,
        format!(
            "transip: {}/dns-conf/transip.ini:28: dns_transip_username still holds the template's \
             placeholder value: replace it with your TransIP username",
            d.path().display()
        )
    );
    let (_d, p) = with_ini(
        "transip",
        "dns_transip_username = moatuser\ndns_transip_key_file = /nonexistent/transip-rsa.key\n",
    );
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains(
            "transip.ini:2: dns_transip_key_file: cannot read /nonexistent/transip-rsa.key"
        ),
        "{err}"
    );

    let fake = FakeTransip::start("moatuser", &["example.test"], None).await;
    let other = include_str!("support/keys/other-rsa.pem");
    let (_k, key) = key_file(other);
    let (_d, p) = with_ini(
        "transip",
        &format!(
            "dns_transip_username = moatuser\ndns_transip_key_file = {key}\ndns_transip_endpoint = {}\n",
            fake.endpoint
        ),
    );
    let err = p.unwrap().preflight(&[]).await.unwrap_err().to_string();
    assert!(
        err.contains("POST auth: HTTP 401: Provided signature is not valid.")
            && err.contains(
                "check dns_transip_username (moatuser) and the key in dns_transip_key_file"
            ),
        "{err}"
    );
    assert!(!err.contains(other.lines().nth(1).unwrap()), "{err}");
}
