//! The shared propagation check against real DNS servers (pebble-challtestsrv),
//! and a challenge name delegated by CNAME (acme-dns) against a fake server.

#[path = "support/challtestsrv.rs"]
mod challtestsrv;
#[path = "support/env.rs"]
mod env;
#[path = "support/fake_cname_dns.rs"]
mod fake_cname_dns;

use std::time::Duration;

use challtestsrv::ChallTestSrv;
use moat::dns::propagation::{wait_for_txt, PropagationOptions};
use moat::dns::DnsError;

const NAME: &str = "_acme-challenge.example.test";
const HOST: &str = "_acme-challenge.example.test.";

async fn server(test: &str) -> Option<ChallTestSrv> {
    let bin = env::require_program(test, "pebble-challtestsrv")?;
    Some(ChallTestSrv::start(&bin).await)
}

fn opts(servers: Vec<std::net::SocketAddr>, timeout_ms: u64, max_ms: u64) -> PropagationOptions {
    let mut o = PropagationOptions::with_timeout(Duration::from_millis(timeout_ms));
    o.max_wait = Duration::from_millis(max_ms);
    o.interval = Duration::from_millis(50);
    o.query_timeout = Duration::from_millis(300);
    o.nameservers = Some(servers);
    o
}

#[tokio::test]
async fn slow_records_are_awaited_past_the_expected_time_up_to_the_cap() {
    let Some(srv) = server("slow_records_are_awaited_past_the_expected_time").await else {
        return;
    };
    srv.set_txt(HOST, "first").await;
    let mgmt = srv.management;
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        reqwest::Client::new()
            .post(format!("http://{mgmt}/set-txt"))
            .json(&serde_json::json!({"host": HOST, "value": "second"}))
            .send()
            .await
            .unwrap();
    });
    let took = wait_for_txt(
        NAME,
        &["first".into(), "second".into()],
        &opts(vec![srv.dns], 200, 10_000),
    )
    .await
    .expect("the late value is accepted within the extension");
    late.await.unwrap();
    assert!(
        took >= Duration::from_millis(700),
        "returned before the value existed: {took:?}"
    );
}

#[tokio::test]
async fn every_server_must_serve_every_value_and_the_laggard_is_named() {
    let Some(a) = server("every_server_must_serve_every_value").await else {
        return;
    };
    let Some(b) = server("every_server_must_serve_every_value (second)").await else {
        return;
    };
    a.set_txt(HOST, "v1").await;
    a.set_txt(HOST, "v2").await;
    b.set_txt(HOST, "v1").await;
    let err = wait_for_txt(
        NAME,
        &["v1".into(), "v2".into()],
        &opts(vec![a.dns, b.dns], 100, 400),
    )
    .await
    .unwrap_err();
    let DnsError::Propagation { missing, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(missing, &vec![format!("{}: v2", b.dns)]);
    b.set_txt(HOST, "v2").await;
    wait_for_txt(
        NAME,
        &["v1".into(), "v2".into()],
        &opts(vec![a.dns, b.dns], 100, 2_000),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_silent_server_is_reported_not_waited_on_forever() {
    // A UDP port nobody answers on (bound, never read) and no TCP listener.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = std::time::Instant::now();
    let err = wait_for_txt(NAME, &["v".into()], &opts(vec![addr], 100, 500))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{addr}: no answer over UDP")),
        "{err}"
    );
    assert!(!err.contains(&format!("{addr}: {addr}")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

mod cname {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::fake_cname_dns::{a, cname, ns, txt, FakeCnameDns};
    use hickory_proto::rr::RecordType;
    use moat::dns::propagation::{wait_for_txt, PropagationOptions};

    const TARGET: &str = "d420c923-bbd7-4056-ab64-c3ca54c9b3cf.auth.test";

    /// example.test delegates its challenge to acme-dns's zone auth.test; one
    /// fake server plays both zones' name servers and a resolver.
    async fn world(values: &[&str]) -> FakeCnameDns {
        let lo = Ipv4Addr::LOCALHOST;
        let mut records = vec![
            ns("example.test", "ns.example.test"),
            a("ns.example.test", lo),
            ns("auth.test", "ns.auth.test"),
            a("ns.auth.test", lo),
            cname("_acme-challenge.example.test", TARGET),
        ];
        records.extend(values.iter().map(|v| txt(TARGET, v)));
        FakeCnameDns::start(records).await
    }

    fn opts(ms: u64) -> PropagationOptions {
        let mut o = PropagationOptions::with_timeout(Duration::from_millis(ms));
        o.max_wait = Duration::from_millis(ms);
        o.interval = Duration::from_millis(50);
        o.query_timeout = Duration::from_millis(300);
        o
    }

    #[tokio::test]
    async fn a_challenge_cname_is_followed_to_the_target_zones_servers() {
        let dns = world(&["v-apex", "v-wild"]).await;
        let mut o = opts(2000);
        o.resolver = Some(dns.addr);
        o.nameserver_port = dns.addr.port();
        wait_for_txt(
            "_acme-challenge.example.test",
            &["v-apex".to_owned(), "v-wild".to_owned()],
            &o,
        )
        .await
        .unwrap();
        // The target was asked directly, without recursion.
        assert!(dns
            .queries()
            .contains(&(format!("{TARGET}."), RecordType::TXT, false)));
    }

    #[tokio::test]
    async fn a_resolver_named_in_propagation_nameservers_answers_through_the_cname() {
        let dns = world(&["v-apex"]).await;
        let mut o = opts(2000);
        o.nameservers = Some(vec![dns.addr]);
        wait_for_txt("_acme-challenge.example.test", &["v-apex".to_owned()], &o)
            .await
            .unwrap();
        // A value the target does not hold is still missing.
        let err = wait_for_txt(
            "_acme-challenge.example.test",
            &["other".to_owned()],
            &opts_with(&dns, 300),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("still missing"), "{err}");
    }

    fn opts_with(dns: &FakeCnameDns, ms: u64) -> PropagationOptions {
        let mut o = opts(ms);
        o.nameservers = Some(vec![dns.addr]);
        o
    }
}

mod fallback {
    use std::net::Ipv4Addr;
    use std::time::{Duration, Instant};

    use super::fake_cname_dns::{a, ns, txt, FakeCnameDns};
    use moat::dns::propagation::{wait_for_txt, PropagationOptions};

    fn opts(timeout_ms: u64, max_ms: u64) -> PropagationOptions {
        let mut o = PropagationOptions::with_timeout(Duration::from_millis(timeout_ms));
        o.max_wait = Duration::from_millis(max_ms);
        o.interval = Duration::from_millis(50);
        o.query_timeout = Duration::from_millis(200);
        o
    }

    #[tokio::test]
    async fn a_resolver_that_refuses_ns_queries_makes_the_check_wait_the_expected_time() {
        // The resolver refuses every NS query: nothing to ask.
        let dns = FakeCnameDns::start_with(
            vec![
                ns("example.test", "ns.example.test"),
                txt("_acme-challenge.example.test", "v"),
            ],
            true,
        )
        .await;
        let mut o = opts(400, 5_000);
        o.resolver = Some(dns.addr);
        o.nameserver_port = dns.addr.port();
        let start = Instant::now();
        let waited = wait_for_txt("_acme-challenge.example.test", &["v".to_owned()], &o)
            .await
            .unwrap();
        assert_eq!(waited, Duration::from_millis(400));
        assert!(start.elapsed() >= Duration::from_millis(400));
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "no longer than expected"
        );
    }

    #[tokio::test]
    async fn unreachable_authoritative_servers_make_the_check_wait_the_expected_time() {
        // NS found, but its address answers nothing (port 53 blocked).
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dns = FakeCnameDns::start(vec![
            ns("example.test", "ns.example.test"),
            a("ns.example.test", Ipv4Addr::LOCALHOST),
        ])
        .await;
        let mut o = opts(500, 5_000);
        o.resolver = Some(dns.addr);
        o.nameserver_port = silent.local_addr().unwrap().port();
        let start = Instant::now();
        wait_for_txt("_acme-challenge.example.test", &["v".to_owned()], &o)
            .await
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(500));
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "not the hard deadline"
        );
    }

    #[tokio::test]
    async fn a_server_that_answers_another_value_is_still_waited_on_and_fails() {
        let dns = FakeCnameDns::start(vec![
            ns("example.test", "ns.example.test"),
            a("ns.example.test", Ipv4Addr::LOCALHOST),
            txt("_acme-challenge.example.test", "old"),
        ])
        .await;
        let mut o = opts(200, 600);
        o.resolver = Some(dns.addr);
        o.nameserver_port = dns.addr.port();
        let err = wait_for_txt("_acme-challenge.example.test", &["new".to_owned()], &o)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("still missing") && err.contains("new"),
            "{err}"
        );
    }
}
