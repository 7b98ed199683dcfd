//! The Namecheap provider against a fake XML API whose setHosts replaces
//! the whole host list, as Namecheap's does: both challenge values are
//! added and removed with every other host (A, MX, CAA) and the domain's
//! EmailType kept as they were; the domain is found by SLD/TLD; a wrong key
//! and an address off the whitelist are named with the ini file and key.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/fake_namecheap.rs"]
mod fake_namecheap;

use dns_ini::with_ini;
use fake_namecheap::FakeNamecheap;

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";

fn ini(key: &str, ip: &str, endpoint: &str) -> String {
    format!(
        "dns_namecheap_username=moatuser\ndns_namecheap_api_key={key}\n\
         dns_namecheap_client_ip={ip}\ndns_namecheap_endpoint={endpoint}\n"
    )
}

#[tokio::test]
async fn namecheap_keeps_every_other_host_when_it_rewrites_the_list() {
    let fake = FakeNamecheap::start(
        "moatuser",
        "nc-key-123",
        "203.0.113.7",
        &["example.co.uk"],
        None,
    )
    .await;
    let before = fake.hosts();
    let (_d, p) = with_ini(
        "namecheap",
        &ini("nc-key-123", "203.0.113.7", &fake.endpoint),
    );
    let p = p.unwrap();
    let line = p.preflight(&["*.www.example.co.uk".into()]).await.unwrap();
    assert_eq!(
        line,
        "namecheap: API key accepted for moatuser; www.example.co.uk in domain example.co.uk (3 hosts)"
    );
    assert!(fake
        .commands()
        .iter()
        .all(|c| c == "namecheap.domains.dns.getHosts"));
    let name = "_acme-challenge.www.example.co.uk";
    let apex = p.present(name, APEX_VALUE).await.unwrap();
    let wild = p.present(name, WILDCARD_VALUE).await.unwrap();
    let txt = fake.txt();
    assert_eq!(txt.len(), 2, "{txt:?}");
    assert!(txt
        .iter()
        .all(|h| h.name == "_acme-challenge.www" && h.ttl == "60"));
    assert_eq!(
        &fake.hosts()[..3],
        &before[..],
        "other hosts kept as they were"
    );
    assert_eq!(fake.email_type("example.co.uk").as_deref(), Some("MX"));
    p.cleanup(&apex).await.unwrap();
    assert_eq!(fake.txt().len(), 1);
    assert_eq!(fake.txt()[0].address, WILDCARD_VALUE);
    let mut lost = wild.clone();
    lost.zone = None;
    p.cleanup(&lost).await.unwrap();
    p.cleanup(&wild).await.unwrap();
    assert_eq!(fake.hosts(), before);
    assert_eq!(fake.email_type("example.co.uk").as_deref(), Some("MX"));
    let err = p
        .present("_acme-challenge.nowhere.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "no domain of the Namecheap account moatuser holds _acme-challenge.nowhere.test"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn namecheap_names_the_template_a_wrong_key_and_the_whitelist() {
    let (d, p) = with_ini("namecheap", include_str!("../dns-conf/namecheap.ini"));
    assert_eq!(
        p.err().unwrap().to_string(),
        format!(
            "namecheap: {}/dns-conf/namecheap.ini:3: dns_namecheap_username still holds the \
             template's placeholder value: replace it with your Namecheap user name",
            d.path().display()
        )
    );
    let fake = FakeNamecheap::start(
        "moatuser",
        "nc-key-123",
        "203.0.113.7",
        &["example.test"],
        None,
    )
    .await;
    let (_d, p) = with_ini(
        "namecheap",
        &ini("wrong-secret-value", "203.0.113.7", &fake.endpoint),
    );
    let err = p
        .unwrap()
        .preflight(&["example.test".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("error 1011102: API Key is invalid")
            && err.contains("check dns_namecheap_api_key in namecheap.ini"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret-value"), "{err}");
    let (_d, p) = with_ini(
        "namecheap",
        &ini("nc-key-123", "198.51.100.1", &fake.endpoint),
    );
    let err = p
        .unwrap()
        .preflight(&["example.test".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("add 198.51.100.1 to the API whitelist")
            && err.contains("set dns_namecheap_client_ip in namecheap.ini"),
        "{err}"
    );
}
