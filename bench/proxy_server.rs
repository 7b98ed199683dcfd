//! `bench-proxy`: moat's proxy engine routing by a real conf, for
//! `bench/proxy.sh`: TLS termination for one name, HTTP/1.1 keep-alive to
//! one backend. The location block is the one `bench/proxy.sh` gives nginx,
//! word for word, so both proxies are told the same thing and moat's conf
//! evaluator runs for every request as it does in production.
//!
//! Usage: `bench-proxy <https-port> <cert.pem> <key.pem> <backend host:port> [workers]`;
//! `MOAT_BENCH_AUTH=1` adds the `auth_request` step.
//! Prints `ready` once listening; stops on SIGTERM/SIGINT.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use moat::proxy::{CertStore, ProxyConfig};

/// The server block of bench/proxy.sh's nginx.conf (keep them alike). It
/// listens on 443 as SWAG's confs do; moat serves that on `<https-port>`.
/// With `auth`, every request first asks the backend as its auth server
/// (`auth_request`, SWAG's Authelia shape), as `AUTH=1 bench/proxy.sh`
/// tells nginx.
///
/// With `guard`, the abuse controls a SWAG user switches on: realip from
/// X-Forwarded-For of a trusted hop and a `limit_req` zone that never
/// triggers (and, in moat, SWAG's fail2ban jails reading every request's
/// lines), as `GUARD=1` tells nginx.
///
/// With `swag`, the location is what a SWAG subdomain conf says: SWAG's
/// own proxy.conf included (its 20 `proxy_set_header` lines, timeouts and
/// buffers) with nginx.conf's `$connection_upgrade` map, as `SWAG=1` tells
/// nginx. It replaces the six forwarding lines of the plain route.
fn conf(backend: &str, auth: bool, guard: bool, swag: bool) -> String {
    let (auth_location, auth_line) = if auth {
        (
            format!(
                r#"
        location = /auth {{
            internal;
            proxy_pass http://{backend};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL https://$http_host$request_uri;
        }}"#
            ),
            "auth_request /auth;",
        )
    } else {
        (String::new(), "")
    };
    let (zone, guard_lines) = if guard {
        (
            "limit_req_zone $binary_remote_addr zone=bench:10m rate=1000000r/s;",
            "set_real_ip_from 127.0.0.1;\n        real_ip_header X-Forwarded-For;\n        limit_req zone=bench burst=100000 nodelay;",
        )
    } else {
        ("", "")
    };
    let (map, forwarding) = if swag {
        (
            "map $http_upgrade $connection_upgrade { default upgrade; '' close; }",
            SWAG_PROXY_CONF.to_string(),
        )
    } else {
        ("", PLAIN_FORWARDING.to_string())
    };
    format!(
        r#"http {{
    {zone}
    {map}
    server {{
        listen 443 ssl default_server;
        server_name bench.test;
        {guard_lines}{auth_location}
        location / {{
            {auth_line}
            proxy_pass http://{backend};
            {forwarding}
        }}
    }}
}}
"#
    )
}

/// The plain route's forwarding lines (bench/common.sh's nginx conf says the same).
const PLAIN_FORWARDING: &str = r#"proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Real-IP $remote_addr;"#;

/// SWAG's proxy.conf, the file moat writes into /config/nginx/ (nginx
/// includes the same file in the `SWAG=1` conf).
const SWAG_PROXY_CONF: &str = include_str!("../defaults/nginx/proxy.conf");

fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == "1")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        return Err(
            "usage: bench-proxy <https-port> <cert.pem> <key.pem> <backend host:port> [workers]"
                .into(),
        );
    }
    moat::supervisor::tune_allocator();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = CertStore::new();
    let chain = std::fs::read_to_string(&args[2])?;
    let key = std::fs::read_to_string(&args[3])?;
    certs.set_default_pem(&chain, &key, &args[2])?;
    let https_port: u16 = args[1].parse()?;
    let dir = tempfile::tempdir()?;
    let origin = dir.path().join("nginx.conf");
    let (table, _) = moat::conf::load_str(
        dir.path(),
        &origin,
        &conf(
            &args[4],
            flag("MOAT_BENCH_AUTH"),
            flag("MOAT_BENCH_GUARD"),
            flag("MOAT_BENCH_SWAG"),
        ),
    )
    .map_err(|errors| format!("bench conf: {errors:?}"))?;
    let routes = Arc::new(ArcSwap::from_pointee(table));
    let mut config = ProxyConfig::new(routes, certs, moat::acme::Http01Tokens::new());
    config.https_port = https_port;
    config.http_port = 0;
    config.addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    if let Some(workers) = args.get(5) {
        config.workers = workers.parse()?;
    }
    // SWAG's default jails (no jail.local in the empty dir) see every line.
    let jails = tempfile::tempdir()?;
    if flag("MOAT_BENCH_GUARD") {
        config.bans = Some(moat::bans::BanHandle::start(moat::bans::Bans::start(
            jails.path(),
        )?)?);
    }
    let handle = moat::proxy::spawn(config)?;
    println!("ready");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        handle.shutdown().await;
        Ok::<_, std::io::Error>(())
    })?;
    Ok(())
}
