//! The RFC 2136 provider against a real BIND 9.

#[path = "support/bind.rs"]
mod bind;
#[path = "support/env.rs"]
mod env;

use std::time::Duration;

use bind::{Bind, MD5_KEY, SHA256_KEY};
use hickory_proto::rr::Name;
use moat::dns::propagation::{query_txt, wait_for_txt, PropagationOptions};
use moat::dns::{provider_for, DnsProvider};

const NAME: &str = "_acme-challenge.example.com";
const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";

async fn named(test: &str) -> Option<Bind> {
    let program = env::require_program(test, "named")?;
    Some(Bind::start(&program).await)
}

fn provider(
    bind: &Bind,
    key: (&str, &str),
    algorithm: &str,
) -> (tempfile::TempDir, Box<dyn DnsProvider>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dns-conf")).unwrap();
    std::fs::write(
        dir.path().join("dns-conf/rfc2136.ini"),
        format!(
            "dns_rfc2136_server = {}\ndns_rfc2136_port = {}\ndns_rfc2136_name = {}\ndns_rfc2136_secret = {}\ndns_rfc2136_algorithm = {algorithm}\n",
            bind.addr.ip(),
            bind.addr.port(),
            key.0,
            key.1
        ),
    )
    .unwrap();
    let p = provider_for("rfc2136", dir.path()).expect("valid ini");
    (dir, p)
}

async fn served(bind: &Bind) -> Vec<String> {
    let mut v = query_txt(
        bind.addr,
        &Name::from_ascii(format!("{NAME}.")).unwrap(),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    v.sort();
    v
}

async fn add_two_delete_one(key: (&str, &str), algorithm: &str, test: &str) {
    let Some(bind) = named(test).await else {
        return;
    };
    let (_dir, p) = provider(&bind, key, algorithm);
    let apex = p.present(NAME, APEX_VALUE).await.unwrap();
    let wild = p.present(NAME, WILDCARD_VALUE).await.unwrap();
    assert_eq!(apex.zone.as_deref(), Some("example.com."));
    let mut opts = PropagationOptions::with_timeout(Duration::from_secs(5));
    opts.max_wait = Duration::from_secs(5);
    opts.interval = Duration::from_millis(100);
    opts.nameservers = Some(vec![bind.addr]);
    wait_for_txt(NAME, &[APEX_VALUE.into(), WILDCARD_VALUE.into()], &opts)
        .await
        .unwrap();
    p.cleanup(&apex).await.unwrap();
    assert_eq!(served(&bind).await, vec![WILDCARD_VALUE.to_owned()]);
    p.cleanup(&wild).await.unwrap();
    assert!(served(&bind).await.is_empty());
}

#[tokio::test]
async fn hmac_sha256_adds_two_values_and_deletes_exactly_one() {
    add_two_delete_one(SHA256_KEY, "HMAC-SHA256", "hmac_sha256_adds_two_values").await;
}

#[tokio::test]
async fn hmac_md5_swag_default_is_accepted_by_bind() {
    add_two_delete_one(
        MD5_KEY,
        "HMAC-MD5",
        "hmac_md5_swag_default_is_accepted_by_bind",
    )
    .await;
}

#[tokio::test]
async fn wrong_key_is_reported_as_notauth_naming_the_ini_keys() {
    let Some(bind) = named("wrong_key_is_reported_as_notauth").await else {
        return;
    };
    let wrong = (SHA256_KEY.0, "d3JvbmctYnV0LXZhbGlkLWJhc2U2NC1zZWNyZXQhIQ==");
    let (_dir, p) = provider(&bind, wrong, "HMAC-SHA256");
    let err = p.present(NAME, APEX_VALUE).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "rfc2136: {} rejected the update (add) with NOTAUTH",
            bind.addr
        )),
        "{text}"
    );
    assert!(
        text.contains("check dns_rfc2136_name, dns_rfc2136_secret and dns_rfc2136_algorithm"),
        "{text}"
    );
    assert!(!text.contains(wrong.1) && !format!("{err:?}").contains(wrong.1));
    assert!(!err.retryable());
    assert!(served(&bind).await.is_empty());
    let pre = p
        .preflight(&["example.com".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(pre.contains("NOTAUTH"), "{pre}");
}

#[tokio::test]
async fn preflight_signs_a_soa_query_and_names_the_zone() {
    let Some(bind) = named("preflight_signs_a_soa_query").await else {
        return;
    };
    let (_dir, p) = provider(&bind, SHA256_KEY, "hmac-sha256");
    let line = p.preflight(&["www.example.com".into()]).await.unwrap();
    assert_eq!(
        line,
        format!(
            "rfc2136: {} accepts key acme-key.; www.example.com in zone example.com",
            bind.addr
        )
    );
}

#[tokio::test]
async fn a_name_outside_the_update_policy_is_refused_clearly() {
    let Some(bind) = named("a_name_outside_the_update_policy_is_refused").await else {
        return;
    };
    let (_dir, p) = provider(&bind, SHA256_KEY, "HMAC-SHA256");
    let err = p
        .present("_acme-challenge.www.example.com", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("refused the update (add): its update-policy does not let key acme-key."),
        "{err}"
    );
}

#[tokio::test]
async fn propagation_finds_the_zone_name_servers_through_a_resolver() {
    let Some(bind) = named("propagation_finds_the_zone_name_servers").await else {
        return;
    };
    let (_dir, p) = provider(&bind, SHA256_KEY, "HMAC-SHA256");
    p.present(NAME, APEX_VALUE).await.unwrap();
    // No server list: the check asks BIND for the NS of the zone
    // (ns.example.com → 127.0.0.1) and queries it directly.
    let mut opts = PropagationOptions::with_timeout(Duration::from_secs(5));
    opts.max_wait = Duration::from_secs(5);
    opts.interval = Duration::from_millis(100);
    opts.resolver = Some(bind.addr);
    opts.nameserver_port = bind.addr.port();
    let servers = moat::dns::propagation::authoritative_servers(
        &Name::from_ascii(format!("{NAME}.")).unwrap(),
        opts.resolver,
        opts.nameserver_port,
    )
    .await
    .unwrap();
    assert_eq!(servers, vec![bind.addr]);
    wait_for_txt(NAME, &[APEX_VALUE.into()], &opts)
        .await
        .unwrap();
    let err = wait_for_txt(NAME, &["absent-value".into()], &{
        let mut o = opts.clone();
        o.timeout = Duration::from_millis(200);
        o.max_wait = Duration::from_millis(400);
        o
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!("{}: absent-value", bind.addr)),
        "{err}"
    );
}
