//! `underscores_in_headers` and `ignore_invalid_headers` against Debian's
//! nginx, over the wire: the same server blocks (defaults, each switch, both)
//! run in nginx and in the moat binary in front of one recording upstream
//! (`moat-echo`), and the header names that reached the upstream must be the
//! same from both. A header nginx ignores must never reach an app (or an
//! auth server) through moat.

#[path = "support/echo.rs"]
mod echo;
#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/nginx_wire.rs"]
mod nginx_wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use foundation::{free_port, moat_bin, moat_command, temp_config, Running};
use nginx_wire::{ask, moat_http_port, nginx_conf, start_nginx};

/// The server blocks both run; `LISTEN` and `ECHO` are filled in per side.
const SERVERS: &str = r#"
server {
    listen LISTEN;
    server_name default.names.test;
    location / { proxy_pass http://ECHO; }
}
server {
    listen LISTEN;
    server_name under.names.test;
    underscores_in_headers on;
    location / { proxy_pass http://ECHO; }
}
server {
    listen LISTEN;
    server_name loose.names.test;
    ignore_invalid_headers off;
    location / { proxy_pass http://ECHO; }
}
server {
    listen LISTEN;
    server_name both.names.test;
    underscores_in_headers on;
    ignore_invalid_headers off;
    location / { proxy_pass http://ECHO; }
}
"#;

/// Header names the probes send, beside Host (sent first, as clients do).
const SENT: [(&str, &str); 5] = [
    ("X_Under", "1"),
    ("X.Dot", "2"),
    ("X-Plain", "3"),
    ("Under_Score.Dot", "4"),
    ("X~Tilde", "5"),
];

fn servers(listen: &str, echo: SocketAddr) -> String {
    SERVERS
        .replace("LISTEN", listen)
        .replace("ECHO", &echo.to_string())
}

/// The sent names (lowercased) that reached the upstream, sorted: which
/// names pass is compared here; the order of the forwarded lines is the
/// oracle's business (moat's header removal may move later lines forward).
fn received(json: &Option<serde_json::Value>) -> Vec<String> {
    let sent: Vec<String> = SENT.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    json.as_ref()
        .and_then(|j| j["headers"].as_array())
        .map(|hs| {
            hs.iter()
                .filter_map(|p| p[0].as_str().map(str::to_ascii_lowercase))
                .filter(|n| sent.contains(n))
                .collect::<Vec<_>>()
        })
        .map(|mut names| {
            names.sort();
            names
        })
        .unwrap_or_default()
}

#[test]
fn header_name_switches_match_nginx() {
    let test = "header_name_switches_match_nginx";
    let Some(nginx_bin) = env::require_program(test, "nginx") else {
        return;
    };
    let upstream = echo::Echo::start(&["--listen", "127.0.0.1:0"], &[]);
    let echo_addr = upstream.addr();

    let ntmp = tempfile::tempdir().unwrap();
    let nroot = ntmp.path();
    for d in ["nginx", "log/nginx", "tmp"] {
        std::fs::create_dir_all(nroot.join(d)).unwrap();
    }
    let nport = free_port();
    std::fs::write(
        nroot.join("nginx/nginx.conf"),
        nginx_conf(
            nroot,
            "stderr warn",
            &servers(&format!("127.0.0.1:{nport}"), echo_addr),
        ),
    )
    .unwrap();
    let _nginx = start_nginx(&nginx_bin, nroot, nport);

    let mtmp = temp_config();
    let mroot = mtmp.path();
    std::fs::create_dir_all(mroot.join("nginx/proxy-confs")).unwrap();
    std::fs::write(
        mroot.join("nginx/proxy-confs/names.subdomain.conf"),
        servers("80", echo_addr),
    )
    .unwrap();
    let cmd = moat_command(moat_bin(), mroot, &[]);
    let mport = moat_http_port(&cmd);
    let moat = Running::spawn(cmd);
    moat.wait_for(&["proxy listening"], Duration::from_secs(20));
    moat.wait_for(&["configuration reloaded"], Duration::from_secs(20));

    let client = Ipv4Addr::new(127, 0, 0, 1);
    let nginx_at = SocketAddr::from(([127, 0, 0, 1], nport));
    let moat_at = SocketAddr::from(([127, 0, 0, 1], mport));
    let mut differences = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for host in ["default", "under", "loose", "both"] {
        let host = format!("{host}.names.test");
        let (ns, nj) = ask(client, nginx_at, &host, "/", &SENT);
        let (ms, mj) = ask(client, moat_at, &host, "/", &SENT);
        assert!(
            nj.is_some() && mj.is_some(),
            "{host}: not proxied ({ns} / {ms})"
        );
        let (n, m) = (received(&nj), received(&mj));
        eprintln!("PROBE {host}: nginx {ns} {n:?} / moat {ms} {m:?}");
        kinds.insert(n.clone());
        if (ns, &n) != (ms, &m) {
            differences.push(format!("{host}\n  nginx: {ns} {n:?}\n  moat:  {ms} {m:?}"));
        }
    }
    assert!(
        differences.is_empty(),
        "moat forwards other header names than nginx:\n{}\nmoat log:\n{}",
        differences.join("\n"),
        moat.log()
    );
    // The four servers must not all forward the same set, or the switches
    // were never exercised.
    assert!(kinds.len() >= 3, "nginx forwarded {kinds:?}");
}
