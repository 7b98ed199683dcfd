//! The INWX provider against a fake DomRobot XML-RPC API: a session per
//! operation (login with the session cookie, logout after, none left
//! open), the 2FA unlock with the RFC 6238 code of the shared secret, the
//! exact TXT record created and deleted by id (or, with the id lost, by
//! name and value, never the owner's), and SWAG's template, a wrong
//! password and a 2FA account without its secret named with the ini key.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/fake_inwx.rs"]
mod fake_inwx;

use dns_ini::with_ini;
use fake_inwx::FakeInwx;

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
/// base32 of RFC 6238's SHA-1 key, `12345678901234567890`.
const SECRET_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn ini(url: &str, pass: &str, secret: Option<&str>) -> String {
    let mut s = format!(
        "dns_inwx_url           = {url}\ndns_inwx_username      = moatuser\ndns_inwx_password      = {pass}\n"
    );
    if let Some(secret) = secret {
        s.push_str(&format!("dns_inwx_shared_secret = {secret}\n"));
    }
    s
}

#[tokio::test]
async fn inwx_unlocks_with_totp_and_deletes_exactly_its_records() {
    let fake = FakeInwx::start(
        "moatuser",
        "inwx-pass",
        Some(b"12345678901234567890"),
        &["example.test"],
        None,
    )
    .await;
    let own = fake.seed(
        "example.test",
        "_acme-challenge.sub.example.test",
        "the owner's own value",
    );
    let (_d, p) = with_ini(
        "inwx",
        &ini(&fake.url, "inwx-pass", Some(&SECRET_B32.to_lowercase())),
    );
    let p = p.unwrap();
    let line = p.preflight(&["*.sub.example.test".into()]).await.unwrap();
    assert_eq!(
        line,
        "inwx: login accepted for moatuser; sub.example.test in zone example.test"
    );
    assert_eq!(fake.methods()[..2], ["account.login", "account.unlock"]);
    let name = "_acme-challenge.sub.example.test";
    let apex = p.present(name, APEX_VALUE).await.unwrap();
    let wild = p.present(name, WILDCARD_VALUE).await.unwrap();
    let recs = fake.records();
    assert_eq!(recs.len(), 3);
    assert!(recs[1..]
        .iter()
        .all(|r| r.name == name && r.ttl == 300 && r.kind == "TXT"));
    p.cleanup(&apex).await.unwrap();
    let mut lost = wild.clone();
    lost.id = None;
    p.cleanup(&lost).await.unwrap();
    p.cleanup(&wild).await.unwrap();
    let left: Vec<u64> = fake.records().iter().map(|r| r.id).collect();
    assert_eq!(left, [own]);
    assert_eq!(fake.open_sessions(), 0, "{:?}", fake.methods());
    let err = p
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no zone of the INWX account moatuser holds _acme-challenge.nowhere.test"),
        "{err}"
    );
    assert_eq!(fake.open_sessions(), 0);
}

#[tokio::test]
async fn inwx_names_the_template_a_wrong_password_and_a_missing_secret() {
    let (d, p) = with_ini("inwx", include_str!("../dns-conf/inwx.ini"));
    assert_eq!(
        p.err().unwrap().to_string(),
        format!(
            "inwx: {}/dns-conf/inwx.ini:4: dns_inwx_username still holds the template's \
             placeholder value: replace it with your INWX user name",
            d.path().display()
        )
    );
    let fake = FakeInwx::start(
        "moatuser",
        "inwx-pass",
        Some(b"12345678901234567890"),
        &["example.test"],
        None,
    )
    .await;
    let (_d, p) = with_ini("inwx", &ini(&fake.url, "wrong-secret-value", None));
    let err = p.unwrap().preflight(&[]).await.unwrap_err().to_string();
    assert!(
        err.contains("account.login: code 2200: Authentication error; check dns_inwx_username and dns_inwx_password in inwx.ini"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret-value"), "{err}");
    let (_d, p) = with_ini("inwx", &ini(&fake.url, "inwx-pass", None));
    let err = p.unwrap().preflight(&[]).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "two-factor authentication (GOOGLE-AUTH): set dns_inwx_shared_secret in inwx.ini"
        ),
        "{err}"
    );
    let (_d, p) = with_ini(
        "inwx",
        &ini(&fake.url, "inwx-pass", Some("AAAAAAAAAAAAAAAA")),
    );
    let err = p.unwrap().preflight(&[]).await.unwrap_err().to_string();
    assert!(
        err.contains("account.unlock: code 2200") && err.contains("check dns_inwx_shared_secret"),
        "{err}"
    );
    assert_eq!(fake.open_sessions(), 0);
    let (_d, p) = with_ini(
        "inwx",
        &ini(&fake.url, "inwx-pass", Some("your_shared_secret optional")),
    );
    assert!(p
        .err()
        .unwrap()
        .to_string()
        .contains("inwx.ini:4: dns_inwx_shared_secret still holds the template's placeholder"));
}
