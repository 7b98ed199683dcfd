//! realip against Debian's nginx, over the wire: the same server blocks run
//! in nginx and in the moat binary, in front of one recording upstream
//! (`moat-echo`); clients connect from different loopback addresses
//! (127.0.0.2 trusted, 127.0.0.3 trusted by one location only, 127.0.0.4
//! never) with spoofed and chained forwarding headers, and what reached the
//! upstream (`$remote_addr`, `$realip_remote_addr`,
//! `$proxy_add_x_forwarded_for`, `$remote_port`, `$realip_remote_port`) and
//! each status must be the same from both.

#[path = "support/echo.rs"]
mod echo;
#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/nginx_wire.rs"]
mod nginx_wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use foundation::{free_port, moat_bin, moat_command, temp_config, Running};
use nginx_wire::{ask, header, moat_http_port, nginx_conf, start_nginx};

/// The server blocks both run; `LISTEN` and `ECHO` are filled in per side.
const SERVERS: &str = r#"
server {
    listen LISTEN;
    server_name srv.realip.test;
    set_real_ip_from 127.0.0.2;
    set_real_ip_from 10.0.0.0/8;
    real_ip_header X-Forwarded-For;
    real_ip_recursive on;
    location / {
        include HEADERS;
    }
    location /guarded {
        deny 203.0.113.7;
        allow all;
        include HEADERS;
    }
}
server {
    listen LISTEN;
    server_name loc.realip.test;
    location / {
        set_real_ip_from 127.0.0.3;
        real_ip_header CF-Connecting-IP;
        include HEADERS;
    }
    location /nonrecursive {
        set_real_ip_from 127.0.0.0/8;
        set_real_ip_from 10.0.0.0/8;
        real_ip_header X-Forwarded-For;
        include HEADERS;
    }
    location /default-header {
        set_real_ip_from 127.0.0.2;
        include HEADERS;
    }
    location /inner {
        set_real_ip_from 127.0.0.2;
        real_ip_header X-Forwarded-For;
        location /inner/denied {
            deny 198.51.100.0/24;
            include HEADERS;
        }
    }
}
"#;

const HEADERS_CONF: &str = "proxy_pass http://ECHO;\n\
    proxy_set_header X-Seen $remote_addr;\n\
    proxy_set_header X-Conn $realip_remote_addr;\n\
    proxy_set_header X-Fwd $proxy_add_x_forwarded_for;\n\
    proxy_set_header X-Port $remote_port;\n\
    proxy_set_header X-Conn-Port $realip_remote_port;\n";

fn servers(listen: &str, headers_file: &Path, echo: SocketAddr) -> String {
    SERVERS
        .replace("LISTEN", listen)
        .replace("HEADERS", &headers_file.display().to_string())
        .replace("ECHO", &echo.to_string())
}

/// One probe: client address, Host, path and extra request headers.
type Probe<'a> = (Ipv4Addr, &'a str, &'a str, Vec<(&'a str, &'a str)>);

#[test]
fn realip_matches_nginx_for_every_probe() {
    let test = "realip_matches_nginx_for_every_probe";
    let Some(nginx_bin) = env::require_program(test, "nginx") else {
        return;
    };
    let upstream = echo::Echo::start(&["--listen", "127.0.0.1:0"], &[]);
    let echo_addr = upstream.addr();

    // nginx, unprivileged, in the foreground.
    let ntmp = tempfile::tempdir().unwrap();
    let nroot = ntmp.path();
    for d in ["nginx", "log/nginx", "tmp"] {
        std::fs::create_dir_all(nroot.join(d)).unwrap();
    }
    let nport = free_port();
    let nheaders = nroot.join("nginx/headers.conf");
    std::fs::write(
        &nheaders,
        HEADERS_CONF.replace("ECHO", &echo_addr.to_string()),
    )
    .unwrap();
    std::fs::write(
        nroot.join("nginx/nginx.conf"),
        nginx_conf(
            nroot,
            "stderr warn",
            &servers(&format!("127.0.0.1:{nport}"), &nheaders, echo_addr),
        ),
    )
    .unwrap();
    let _nginx = start_nginx(&nginx_bin, nroot, nport);

    // moat, on a SWAG tree with the same blocks as a proxy-conf.
    let mtmp = temp_config();
    let mroot = mtmp.path();
    std::fs::create_dir_all(mroot.join("nginx/proxy-confs")).unwrap();
    let mheaders = mroot.join("nginx/realip-headers.conf");
    std::fs::write(
        &mheaders,
        HEADERS_CONF.replace("ECHO", &echo_addr.to_string()),
    )
    .unwrap();
    std::fs::write(
        mroot.join("nginx/proxy-confs/realip.subdomain.conf"),
        servers("80", &mheaders, echo_addr),
    )
    .unwrap();
    let cmd = moat_command(moat_bin(), mroot, &[]);
    let mport = moat_http_port(&cmd);
    let moat = Running::spawn(cmd);
    moat.wait_for(&["proxy listening"], Duration::from_secs(20));
    moat.wait_for(&["configuration reloaded"], Duration::from_secs(20));

    let trusted = Ipv4Addr::new(127, 0, 0, 2);
    let loc_trusted = Ipv4Addr::new(127, 0, 0, 3);
    let stranger = Ipv4Addr::new(127, 0, 0, 4);
    let srv = "srv.realip.test";
    let loc = "loc.realip.test";
    let xff = "X-Forwarded-For";
    #[rustfmt::skip]
    let probes: Vec<Probe> = vec![
        (trusted, srv, "/", vec![(xff, "198.51.100.9")]),
        (trusted, srv, "/", vec![(xff, "198.51.100.9, 10.1.2.3, 10.0.0.4")]),
        (trusted, srv, "/", vec![(xff, "10.9.9.9, 10.1.2.3")]),
        (trusted, srv, "/", vec![(xff, "198.51.100.9"), (xff, "10.3.3.3")]),
        (trusted, srv, "/", vec![(xff, "not-an-ip")]),
        (trusted, srv, "/", vec![(xff, "junk, 10.2.2.2")]),
        (trusted, srv, "/", vec![(xff, "198.51.100.9:4711")]),
        (trusted, srv, "/", vec![(xff, "[2001:db8::5]:443")]),
        (trusted, srv, "/", vec![(xff, "2001:db8::5")]),
        (trusted, srv, "/", vec![]),
        (stranger, srv, "/", vec![(xff, "198.51.100.9")]),
        (trusted, srv, "/guarded", vec![(xff, "203.0.113.7")]),
        (stranger, srv, "/guarded", vec![(xff, "203.0.113.7")]),
        (trusted, srv, "/guarded", vec![(xff, "203.0.113.8")]),
        (loc_trusted, loc, "/", vec![("CF-Connecting-IP", "198.51.100.20"), (xff, "1.1.1.1")]),
        (trusted, loc, "/", vec![("CF-Connecting-IP", "198.51.100.20")]),
        (loc_trusted, loc, "/", vec![("CF-Connecting-IP", "garbage")]),
        (stranger, loc, "/nonrecursive", vec![(xff, "198.51.100.1, 10.0.0.1")]),
        (stranger, loc, "/nonrecursive", vec![(xff, "198.51.100.1")]),
        (trusted, loc, "/default-header", vec![("X-Real-IP", "198.51.100.30"), (xff, "1.1.1.1")]),
        (stranger, loc, "/default-header", vec![("X-Real-IP", "198.51.100.30")]),
        (trusted, loc, "/inner/denied", vec![(xff, "198.51.100.44")]),
        (trusted, loc, "/inner/denied", vec![(xff, "192.0.2.44")]),
        (stranger, loc, "/inner/denied", vec![(xff, "198.51.100.44")]),
    ];
    let nginx_at = SocketAddr::from(([127, 0, 0, 1], nport));
    let moat_at = SocketAddr::from(([127, 0, 0, 1], mport));
    let mut differences = Vec::new();
    let mut proxied = 0;
    for (from, host, path, headers) in &probes {
        let (ns, nj) = ask(*from, nginx_at, host, path, headers);
        let (ms, mj) = ask(*from, moat_at, host, path, headers);
        // A connection's own source port differs between the two sides:
        // ports from the ephemeral range read as "conn"; a port written in
        // the header (4711, 443) or none at all must match exactly.
        let port = |j: &Option<serde_json::Value>, name: &str| {
            let p = header(j, name);
            match p.parse::<u16>() {
                Ok(n) if n >= 32768 => "conn".to_string(),
                _ => p,
            }
        };
        let view = |s: u16, j: &Option<serde_json::Value>| {
            format!(
                "{s} seen={} conn={} fwd={} port={} conn_port={}",
                header(j, "x-seen"),
                header(j, "x-conn"),
                header(j, "x-fwd"),
                port(j, "x-port"),
                port(j, "x-conn-port")
            )
        };
        let (n, m) = (view(ns, &nj), view(ms, &mj));
        if nj.is_some() {
            proxied += 1;
        }
        eprintln!("PROBE {from} {host}{path}: {n} / {m}");
        if n != m {
            differences.push(format!(
                "{from} {host}{path} {headers:?}\n  nginx: {n}\n  moat:  {m}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} probes differ from nginx:\n{}\nmoat log:\n{}",
        differences.len(),
        probes.len(),
        differences.join("\n"),
        moat.log()
    );
    // The access log names the client realip found, as nginx's does.
    moat.wait_for(&["198.51.100.20 - - ["], Duration::from_secs(10));
    // The probes must exercise both outcomes, or the comparison proves little.
    assert!(
        proxied >= 18 && proxied < probes.len(),
        "{proxied} of {} proxied",
        probes.len()
    );
}
