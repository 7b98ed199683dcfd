//! PROXY protocol on `listen ... proxy_protocol` sockets, over real loopback
//! sockets, against Debian's nginx: the same server blocks run in nginx and
//! in the moat binary in front of one recording upstream, and a raw client
//! writes v1 and v2 headers (before the TLS handshake on the `ssl` socket)
//! from a trusted and an untrusted loopback address. What reached the
//! upstream (`X-Real-IP`, `X-Forwarded-For` as SWAG's proxy.conf sets them,
//! `$proxy_protocol_*`) and each status, or the closed connection, must be
//! what the probe expects, from both. A missing or broken header closes the
//! connection and reaches no upstream; a socket without the flag answers
//! 400 to a PROXY line. The header timeout is tested in-process.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/nginx_wire.rs"]
mod nginx_wire;
#[path = "support/recorder.rs"]
mod recorder;
#[path = "support/proxy.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use foundation::{free_port, moat_bin, moat_command, temp_config, Running};
use nginx_wire::{moat_http_port, nginx_conf, NginxChild};
use recorder::Recorder;

// ------------------------------------------------------------- headers

const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

fn v1(src: &str, sport: u16) -> Vec<u8> {
    let fam = if src.contains(':') { "TCP6" } else { "TCP4" };
    let dst = if src.contains(':') {
        "2001:db8::1"
    } else {
        "203.0.113.1"
    };
    format!("PROXY {fam} {src} {dst} {sport} 443\r\n").into_bytes()
}

/// A v2 PROXY header for `src:sport` → a fixed destination, with one TLV.
fn v2(src: IpAddr, sport: u16) -> Vec<u8> {
    let mut body = Vec::new();
    let fam = match src {
        IpAddr::V4(a) => {
            body.extend_from_slice(&a.octets());
            body.extend_from_slice(&Ipv4Addr::new(203, 0, 113, 1).octets());
            0x11
        }
        IpAddr::V6(a) => {
            body.extend_from_slice(&a.octets());
            body.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
            0x21
        }
    };
    body.extend_from_slice(&sport.to_be_bytes());
    body.extend_from_slice(&443u16.to_be_bytes());
    // PP2_TYPE_AUTHORITY, skipped by both.
    body.extend_from_slice(&[0x02, 0x00, 0x07]);
    body.extend_from_slice(b"pp.test");
    v2_raw(0x21, fam, &body)
}

fn v2_raw(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut v = V2_SIG.to_vec();
    v.push(ver_cmd);
    v.push(fam);
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

// -------------------------------------------------------------- client

/// What a probe got back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Closed without a response (or the TLS handshake failed).
    Closed,
    /// A response: status and, when the upstream answered, what it saw.
    Answered {
        status: u16,
        real_ip: String,
        xff: String,
        pp: String,
        pp_server: String,
    },
}

/// Connect from `from`, write `preamble` on the raw socket, then (over TLS
/// when `tls`) one request for `path`.
fn probe(
    from: Ipv4Addr,
    to: SocketAddr,
    tls: bool,
    preamble: &[u8],
    path: &str,
    extra: &str,
) -> Outcome {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    sock.connect_timeout(&to.into(), Duration::from_secs(5))
        .unwrap();
    let mut tcp: TcpStream = sock.into();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n{extra}\r\n");
    let mut out = Vec::new();
    if tcp.write_all(preamble).is_err() {
        return Outcome::Closed;
    }
    if tls {
        let name = rustls_pki_types::ServerName::try_from("pp.test").unwrap();
        let conn = rustls::ClientConnection::new(support::raw_tls_config(), name).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        if s.write_all(req.as_bytes()).and_then(|_| s.flush()).is_err() {
            return Outcome::Closed;
        }
        let _ = s.read_to_end(&mut out);
    } else {
        let _ = tcp.write_all(req.as_bytes());
        let _ = tcp.read_to_end(&mut out);
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let Some(status) = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
    else {
        assert!(text.is_empty(), "not a response: {text:?}");
        return Outcome::Closed;
    };
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let field = |name: &str| {
        body.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| "-".into())
    };
    Outcome::Answered {
        status,
        real_ip: field("x-real-ip"),
        xff: field("x-forwarded-for"),
        pp: field("x-pp"),
        pp_server: field("x-pp-server"),
    }
}

fn ok(real_ip: &str, xff: &str, pp: &str, pp_server: &str) -> Outcome {
    Outcome::Answered {
        status: 200,
        real_ip: real_ip.into(),
        xff: xff.into(),
        pp: pp.into(),
        pp_server: pp_server.into(),
    }
}

fn refused(status: u16) -> Outcome {
    Outcome::Answered {
        status,
        real_ip: "-".into(),
        xff: "-".into(),
        pp: "-".into(),
        pp_server: "-".into(),
    }
}

// --------------------------------------------------------------- confs

/// `PLAIN`, `TLS`, `NOPP` (listen arguments), `CERT`/`KEY`, `HEADERS`.
const SERVERS: &str = r#"
server {
    listen PLAIN proxy_protocol;
    listen TLS ssl proxy_protocol;
    server_name pp.test;
    ssl_certificate CERT;
    ssl_certificate_key KEY;
    set_real_ip_from 127.0.0.1;
    real_ip_header proxy_protocol;
    location / {
        include HEADERS;
    }
}
server {
    listen NOPP;
    server_name pp.test;
    set_real_ip_from 127.0.0.1;
    real_ip_header proxy_protocol;
    location / {
        include HEADERS;
    }
}
"#;

/// SWAG's proxy.conf lines for the client address, and the PROXY variables.
const HEADERS_CONF: &str = "proxy_pass http://UPSTREAM;\n\
    proxy_set_header X-Real-IP $remote_addr;\n\
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
    proxy_set_header X-PP \"$proxy_protocol_addr:$proxy_protocol_port\";\n\
    proxy_set_header X-PP-Server \"$proxy_protocol_server_addr:$proxy_protocol_server_port\";\n";

struct Listeners {
    plain: String,
    tls: String,
    nopp: String,
}

fn servers(l: &Listeners, dir: &Path, headers: &Path) -> String {
    SERVERS
        .replace("PLAIN", &l.plain)
        .replace("TLS", &l.tls)
        .replace("NOPP", &l.nopp)
        .replace("CERT", &dir.join("pp.crt").display().to_string())
        .replace("KEY", &dir.join("pp.key").display().to_string())
        .replace("HEADERS", &headers.display().to_string())
}

fn write_cert(dir: &Path) {
    let ck = rcgen::generate_simple_self_signed(vec!["pp.test".to_string()]).unwrap();
    std::fs::write(dir.join("pp.crt"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("pp.key"), ck.signing_key.serialize_pem()).unwrap();
}

/// The three sockets of one side.
#[derive(Clone, Copy)]
struct Side {
    plain: SocketAddr,
    tls: SocketAddr,
    nopp: SocketAddr,
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn start_moat(upstream: SocketAddr) -> (Running, Side, tempfile::TempDir) {
    let tmp = temp_config();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("nginx/proxy-confs")).unwrap();
    write_cert(root);
    let headers = root.join("nginx/pp-headers.conf");
    std::fs::write(
        &headers,
        HEADERS_CONF.replace("UPSTREAM", &upstream.to_string()),
    )
    .unwrap();
    let (plain, tls) = (free_port(), free_port());
    let l = Listeners {
        plain: plain.to_string(),
        tls: tls.to_string(),
        nopp: "80".into(),
    };
    std::fs::write(
        root.join("nginx/proxy-confs/pp.subdomain.conf"),
        servers(&l, root, &headers),
    )
    .unwrap();
    let cmd = moat_command(moat_bin(), root, &[]);
    let http = moat_http_port(&cmd);
    let moat = Running::spawn(cmd);
    moat.wait_for(&["proxy listening"], Duration::from_secs(20));
    let side = Side {
        plain: local(plain),
        tls: local(tls),
        nopp: local(http),
    };
    // The conf's own ports open with the confs (at start or on the first load).
    assert!(
        foundation::wait_until(Duration::from_secs(20), || {
            [side.plain, side.tls, side.nopp]
                .iter()
                .all(|a| TcpStream::connect(a).is_ok())
        }),
        "moat did not open the conf's ports:\n{}",
        moat.log()
    );
    (moat, side, tmp)
}

fn start_nginx(bin: &Path, upstream: SocketAddr) -> (NginxChild, Side, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for d in ["nginx", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    write_cert(root);
    let headers = root.join("nginx/headers.conf");
    std::fs::write(
        &headers,
        HEADERS_CONF.replace("UPSTREAM", &upstream.to_string()),
    )
    .unwrap();
    let side = Side {
        plain: local(free_port()),
        tls: local(free_port()),
        nopp: local(free_port()),
    };
    let l = Listeners {
        plain: side.plain.to_string(),
        tls: side.tls.to_string(),
        nopp: side.nopp.to_string(),
    };
    std::fs::write(
        root.join("nginx/nginx.conf"),
        nginx_conf(root, "stderr warn", &servers(&l, root, &headers)),
    )
    .unwrap();
    let n = nginx_wire::start_nginx(bin, root, side.plain.port());
    assert!(
        foundation::wait_until(Duration::from_secs(15), || {
            [side.tls, side.nopp]
                .iter()
                .all(|a| TcpStream::connect(a).is_ok())
        }),
        "nginx did not listen"
    );
    (n, side, tmp)
}

// --------------------------------------------------------------- tests

#[derive(Clone, Copy, Debug)]
enum To {
    Plain,
    Tls,
    NoPp,
}

/// Name, client address, listener, PROXY header, request, expected outcome.
type Probe<'a> = (&'a str, Ipv4Addr, To, Vec<u8>, &'a str, Outcome);
#[test]
fn proxy_protocol_headers_give_the_client_address_as_in_nginx() {
    let up = Recorder::start();
    let (moat, moat_side, _mtmp) = start_moat(up.addr);
    let nginx = env::require_program(
        "proxy_protocol_headers_give_the_client_address_as_in_nginx",
        "nginx",
    )
    .map(|bin| start_nginx(&bin, up.addr));

    let trusted = Ipv4Addr::LOCALHOST;
    let stranger = Ipv4Addr::new(127, 0, 0, 5);
    let client4: IpAddr = "198.51.100.7".parse().unwrap();
    let client6: IpAddr = "2001:db8::7".parse().unwrap();
    let via = "198.51.100.7:40000";
    let dst4 = "203.0.113.1:443";
    let get = b"GET /early HTTP/1.1\r\nHost: pp.test\r\n\r\n".to_vec();
    #[rustfmt::skip]
    let probes: Vec<Probe> = vec![
        ("v1 plain", trusted, To::Plain, v1("198.51.100.7", 40000), "",
            ok("198.51.100.7", "198.51.100.7", via, dst4)),
        ("v1 tls", trusted, To::Tls, v1("198.51.100.7", 40000), "",
            ok("198.51.100.7", "198.51.100.7", via, dst4)),
        ("v2 plain", trusted, To::Plain, v2(client4, 40000), "",
            ok("198.51.100.7", "198.51.100.7", via, dst4)),
        ("v2 tls", trusted, To::Tls, v2(client4, 40000), "",
            ok("198.51.100.7", "198.51.100.7", via, dst4)),
        ("v1 tcp6 plain", trusted, To::Plain, v1("2001:db8::7", 4711), "",
            ok("2001:db8::7", "2001:db8::7", "2001:db8::7:4711", "2001:db8::1:443")),
        ("v2 tcp6 tls", trusted, To::Tls, v2(client6, 4711), "",
            ok("2001:db8::7", "2001:db8::7", "2001:db8::7:4711", "2001:db8::1:443")),
        ("v1 with a forwarded chain", trusted, To::Plain, v1("198.51.100.7", 40000),
            "X-Forwarded-For: 10.1.1.1\r\n",
            ok("198.51.100.7", "10.1.1.1, 198.51.100.7", via, dst4)),
        ("v1 from an untrusted hop", stranger, To::Plain, v1("198.51.100.7", 40000), "",
            ok("127.0.0.5", "127.0.0.5", via, dst4)),
        ("v2 from an untrusted hop over tls", stranger, To::Tls, v2(client4, 40000), "",
            ok("127.0.0.5", "127.0.0.5", via, dst4)),
        ("v2 LOCAL", trusted, To::Tls, v2_raw(0x20, 0x00, &[]), "",
            ok("127.0.0.1", "127.0.0.1", ":", ":")),
        ("v1 UNKNOWN", trusted, To::Plain, b"PROXY UNKNOWN\r\n".to_vec(), "",
            ok("127.0.0.1", "127.0.0.1", ":", ":")),
        ("no header, plain", trusted, To::Plain, vec![], "", Outcome::Closed),
        ("no header, tls", trusted, To::Tls, vec![], "", Outcome::Closed),
        ("a request where the header goes", trusted, To::Plain, get, "", Outcome::Closed),
        ("garbled v1", trusted, To::Plain, b"PROXY TCP4 junk\r\n".to_vec(), "", Outcome::Closed),
        ("garbled v1 before tls", trusted, To::Tls, b"PROXY TCP9 1.1.1.1 1.1.1.1 1 2\r\n".to_vec(), "",
            Outcome::Closed),
        ("v2 with a bad version", trusted, To::Tls, v2_raw(0x11, 0x11, &[0; 12]), "", Outcome::Closed),
        ("v2 with a short address block", trusted, To::Plain, v2_raw(0x21, 0x11, &[0; 6]), "",
            Outcome::Closed),
        ("plain request without the flag", trusted, To::NoPp, vec![], "",
            ok("127.0.0.1", "127.0.0.1", ":", ":")),
        ("v1 line without the flag", trusted, To::NoPp, v1("198.51.100.7", 40000), "", refused(400)),
    ];
    let mut failures = Vec::new();
    for (i, (name, from, to, preamble, extra, want)) in probes.iter().enumerate() {
        let mut sides = vec![("moat", moat_side)];
        if let Some((_, side, _)) = &nginx {
            sides.push(("nginx", *side));
        }
        for (who, side) in sides {
            let (addr, tls) = match to {
                To::Plain => (side.plain, false),
                To::Tls => (side.tls, true),
                To::NoPp => (side.nopp, false),
            };
            let path = format!("/{who}/{i}");
            let got = probe(*from, addr, tls, preamble, &path, extra);
            eprintln!("PROBE {who} {name}: {got:?}");
            if &got != want {
                failures.push(format!("{who}, {name}:\n  want {want:?}\n  got  {got:?}"));
            }
            let reached = up.saw(&path);
            let proxied = matches!(want, Outcome::Answered { status: 200, .. });
            if reached != proxied {
                failures.push(format!(
                    "{who}, {name}: the upstream {} the request",
                    if reached {
                        "received"
                    } else {
                        "did not receive"
                    }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}\nmoat log:\n{}",
        failures.len(),
        failures.join("\n"),
        moat.log()
    );
    // The access log names the client the PROXY header gave.
    moat.wait_for(&["198.51.100.7 - - ["], Duration::from_secs(10));
    moat.wait_for(&["2001:db8::7 - - ["], Duration::from_secs(10));
}

/// The header gets `client_header_timeout` to arrive, on plain and TLS
/// sockets; a connection that sends part of one is closed at the deadline
/// while a complete one is served.
#[tokio::test]
async fn a_header_that_does_not_arrive_in_time_closes_the_connection() {
    use moat::conf::{Action, Listen};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listen = |port, ssl| Listen {
        addr: None,
        port,
        ipv6: false,
        ssl,
        proxy_protocol: true,
    };
    let routes =
        support::FnRoutes::with_listens(vec![listen(80, false), listen(443, true)], |req| {
            support::decision(Action::Return {
                status: 200,
                location: None,
                body: Some(format!(
                    "pp={:?}",
                    req.proxy_protocol.map(|p| p.source.to_string())
                )),
            })
        });
    let moat = support::start_moat_with(routes, None, |c| {
        c.header_timeout = Duration::from_secs(1);
    });
    for addr in [moat.http, moat.https] {
        let started = Instant::now();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"PROXY TCP4 198.51.100.7 ").await.unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
        let elapsed = started.elapsed();
        assert!(read.is_ok(), "{addr}: still open after 10 s");
        assert!(buf.is_empty(), "{addr}: answered {buf:?}");
        assert!(
            elapsed >= Duration::from_millis(900),
            "{addr}: closed after {elapsed:?}, before the timeout"
        );
    }
    // A complete header on the plain socket is served, with its address.
    let mut s = tokio::net::TcpStream::connect(moat.http).await.unwrap();
    s.write_all(b"PROXY TCP4 198.51.100.7 203.0.113.1 40000 80\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("pp=Some(\"198.51.100.7:40000\")"), "{text}");
}
