//! Client certificates (issue 17 item 3): `ssl_verify_client on`,
//! `optional` and `optional_no_ca` with `ssl_client_certificate` /
//! `ssl_trusted_certificate`, `$ssl_client_verify` and `$ssl_client_s_dn`,
//! differential against Debian's nginx on the same server blocks. Each
//! request goes over a real TLS socket (with no certificate, one from the
//! servers' CA, one from another CA, one through an intermediate) to moat
//! and to nginx, each proxying to its own recording upstream: statuses
//! must agree, and so must what the upstream received (the variables as
//! headers), or that nothing reached it.

#[path = "support/env.rs"]
mod env;
#[path = "support/oracle.rs"]
mod oracle;
#[path = "support/oracle_conf.rs"]
mod oracle_conf;
#[path = "support/recorder.rs"]
mod recorder;
#[path = "support/proxy.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use recorder::Recorder;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

struct Ca {
    cert: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        cert,
        issuer: rcgen::Issuer::new(params, key),
    }
}

fn intermediate(parent: &Ca, name: &str) -> Ca {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &parent.issuer).unwrap();
    Ca {
        cert,
        issuer: rcgen::Issuer::new(params, key),
    }
}

/// A client identity: chain (leaf first) and key.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

fn client(issuer: &Ca, extra: &[&Ca], cn: &str) -> Identity {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Moat Test");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer.issuer).unwrap();
    let mut chain = vec![cert.der().clone()];
    chain.extend(extra.iter().map(|c| c.cert.der().clone()));
    Identity {
        chain,
        key: key.serialize_der(),
    }
}

fn tls_config(id: Option<&Identity>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(support::NoVerify));
    Arc::new(match id {
        Some(id) => builder
            .with_client_auth_cert(
                id.chain.clone(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key.clone())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

/// One request over TLS with `sni`; the status (0: no HTTP answer).
fn ask(addr: SocketAddr, sni: &str, host: &str, id: Option<&Identity>) -> u16 {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = rustls_pki_types::ServerName::try_from(sni.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(tls_config(id), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let raw = format!("GET /{host} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if tls
        .write_all(raw.as_bytes())
        .and_then(|_| tls.flush())
        .is_err()
    {
        return 0;
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `X-Verify` and `X-Dn` of the last head `up` received for `/host`.
fn seen(up: &Recorder, host: &str) -> Option<(String, String)> {
    let line = format!("GET /{host} ");
    let heads = up.heads();
    let head = heads.iter().rev().find(|h| h.starts_with(&line))?;
    let value = |name: &str| {
        head.split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    Some((value("x-verify"), value("x-dn")))
}

/// The server blocks both proxies run (`LISTEN` and `UP` filled in).
fn servers(dir: &Path) -> String {
    let d = dir.display();
    let location = "location / { proxy_pass http://UP; proxy_set_header X-Verify $ssl_client_verify; proxy_set_header X-Dn $ssl_client_s_dn; }";
    format!(
        "server {{ listen LISTEN ssl default_server; server_name on.test; ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key;
    ssl_verify_client on; ssl_client_certificate {d}/ca.pem; ssl_verify_depth 0; {location} }}
server {{ listen LISTEN ssl; server_name opt.test; ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key;
    ssl_verify_client optional; ssl_client_certificate {d}/ca.pem; ssl_trusted_certificate {d}/ca.pem; {location} }}
server {{ listen LISTEN ssl; server_name noca.test; ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key;
    ssl_verify_client optional_no_ca; ssl_client_certificate {d}/ca.pem; {location} }}
server {{ listen LISTEN ssl; server_name plain.test; ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key; {location} }}
"
    )
}

/// moat, in process, serving `blocks` on its port 443, and its upstream.
fn start_moat(dir: &Path, blocks: &str) -> (support::Moat, Recorder) {
    support::init();
    let up = Recorder::start();
    let text = format!(
        "events {{}}\nhttp {{\n{}}}\n",
        blocks
            .replace("LISTEN", "443")
            .replace("UP", &up.addr.to_string())
    );
    let (table, _) = moat::conf::load_str(dir, &dir.join("nginx.conf"), &text)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let moat = support::start_moat(Arc::new(ArcSwap::from_pointee(table)), None);
    (moat, up)
}

/// Debian's nginx serving `blocks` on a port of its own, its address and
/// its upstream; `None` (said loudly) where nginx is not installed.
fn start_nginx(dir: &Path, blocks: &str) -> Option<(oracle::Nginx, SocketAddr, Recorder)> {
    env::require_program("client_certs_nginx", "nginx").map(|bin| {
        let up = Recorder::start();
        let (n, addr) = oracle::Nginx::serve_http(&bin, dir, |port| {
            blocks
                .replace("LISTEN", &format!("127.0.0.1:{port}"))
                .replace("UP", &up.addr.to_string())
        })
        .expect("nginx starts");
        (n, addr, up)
    })
}

/// (SNI, Host, identity, moat's status, what the upstream sees).
type Case<'a> = (
    &'a str,
    &'a str,
    Option<&'a Identity>,
    u16,
    Option<(&'a str, &'a str)>,
);

#[test]
fn client_certificates_are_verified_as_nginx_verifies_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = ca("Moat Test Root");
    let other = ca("Some Other Root");
    let mid = intermediate(&root, "Moat Test Intermediate");
    std::fs::write(dir.path().join("ca.pem"), root.cert.pem()).unwrap();
    let server = rcgen::generate_simple_self_signed(vec!["on.test".to_string()]).unwrap();
    std::fs::write(dir.path().join("server.pem"), server.cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("server.key"),
        server.signing_key.serialize_pem(),
    )
    .unwrap();
    let good = client(&root, &[], "alice");
    let foreign = client(&other, &[], "mallory");
    let chained = client(&mid, &[&mid], "bob");
    let blocks = servers(dir.path());

    let (moat, moat_up) = start_moat(dir.path(), &blocks);
    let nginx = start_nginx(dir.path(), &blocks);

    let none: Option<&Identity> = None;
    let cases: Vec<Case<'_>> = vec![
        ("on.test", "on.test", none, 400, None),
        (
            "on.test",
            "on.test",
            Some(&good),
            200,
            Some(("SUCCESS", "CN=alice,O=Moat Test")),
        ),
        ("on.test", "on.test", Some(&foreign), 400, None),
        // ssl_verify_depth 0: no intermediate CA.
        ("on.test", "on.test", Some(&chained), 400, None),
        ("opt.test", "opt.test", none, 200, Some(("NONE", ""))),
        (
            "opt.test",
            "opt.test",
            Some(&good),
            200,
            Some(("SUCCESS", "CN=alice,O=Moat Test")),
        ),
        ("opt.test", "opt.test", Some(&foreign), 400, None),
        // ssl_verify_depth 1 (the default) admits one intermediate CA.
        (
            "opt.test",
            "opt.test",
            Some(&chained),
            200,
            Some(("SUCCESS", "CN=bob,O=Moat Test")),
        ),
        ("noca.test", "noca.test", none, 200, Some(("NONE", ""))),
        (
            "noca.test",
            "noca.test",
            Some(&good),
            200,
            Some(("SUCCESS", "CN=alice,O=Moat Test")),
        ),
        (
            "noca.test",
            "noca.test",
            Some(&foreign),
            200,
            Some((
                "FAILED:unable to verify the first certificate",
                "CN=mallory,O=Moat Test",
            )),
        ),
        (
            "plain.test",
            "plain.test",
            Some(&good),
            200,
            Some(("NONE", "")),
        ),
        // A Host other than the SNI, to a server that verifies: 421.
        ("plain.test", "on.test", Some(&good), 421, None),
        // The SNI's server asked for (and verified) the certificate; the
        // Host's server does not verify, and sees that verdict.
        (
            "on.test",
            "plain.test",
            Some(&good),
            200,
            Some(("SUCCESS", "CN=alice,O=Moat Test")),
        ),
    ];
    for (i, (sni, host, id, want, upstream)) in cases.iter().enumerate() {
        let name = format!(
            "case {i}: SNI {sni}, Host {host}, {}",
            match id {
                None => "no certificate".to_string(),
                Some(id) => format!("{} certificates", id.chain.len()),
            }
        );
        let before = moat_up.heads().len();
        let got = ask(moat.https, sni, host, *id);
        assert_eq!(got, *want, "{name}: moat");
        let moat_seen = (moat_up.heads().len() > before)
            .then(|| seen(&moat_up, host))
            .flatten();
        let expected = upstream.map(|(v, dn)| (v.to_string(), dn.to_string()));
        assert_eq!(moat_seen, expected, "{name}: what moat's upstream got");
        if let Some((_, addr, up)) = &nginx {
            let before = up.heads().len();
            let status = ask(*addr, sni, host, *id);
            let nginx_seen = (up.heads().len() > before)
                .then(|| seen(up, host))
                .flatten();
            assert_eq!(status, got, "{name}: nginx {status}, moat {got}");
            // On a 421 nginx logs the mismatch; the upstream must see the same.
            assert_eq!(nginx_seen, moat_seen, "{name}: upstreams differ");
        }
    }
}

/// A client certificate chooser that keeps the CA names of each
/// certificate request and offers no certificate.
#[derive(Debug, Default)]
struct NamesSeen(std::sync::Mutex<Vec<Vec<Vec<u8>>>>);

impl rustls::client::ResolvesClientCert for NamesSeen {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let names = root_hint_subjects.iter().map(|n| n.to_vec()).collect();
        self.0.lock().unwrap().push(names);
        None
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The CA names of the certificate request a TLS 1.2 or 1.3 handshake
/// with `sni` got (`None`: the server asked for no certificate).
fn request_names(addr: SocketAddr, sni: &str, tls12: bool) -> Option<Vec<Vec<u8>>> {
    let seen = Arc::new(NamesSeen::default());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(support::NoVerify))
        .with_client_cert_resolver(seen.clone());
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = rustls_pki_types::ServerName::try_from(sni.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .unwrap_or_else(|e| panic!("handshake with {addr} for {sni}: {e}"));
    }
    let mut requests = seen.0.lock().unwrap().clone();
    assert!(
        requests.len() <= 1,
        "{sni}: {} certificate requests",
        requests.len()
    );
    requests.pop()
}

/// Whether the DER name `der` holds the text `cn` (rcgen writes a common
/// name as a UTF8String, its bytes as they are).
fn names_cn(der: &[u8], cn: &str) -> bool {
    der.windows(cn.len()).any(|w| w == cn.as_bytes())
}

#[test]
fn certificate_requests_name_the_sni_servers_cas_as_nginx_does() {
    let dir = tempfile::tempdir().unwrap();
    let root = ca("Moat Test Root");
    let other = ca("Some Other Root");
    let d = dir.path();
    std::fs::write(d.join("root.pem"), root.cert.pem()).unwrap();
    std::fs::write(d.join("other.pem"), other.cert.pem()).unwrap();
    std::fs::write(
        d.join("both.pem"),
        format!("{}{}", root.cert.pem(), other.cert.pem()),
    )
    .unwrap();
    let server = rcgen::generate_simple_self_signed(vec!["one.test".to_string()]).unwrap();
    std::fs::write(d.join("server.pem"), server.cert.pem()).unwrap();
    std::fs::write(d.join("server.key"), server.signing_key.serialize_pem()).unwrap();
    let dd = d.display();
    // nginx 1.22's default ssl_protocols stop at TLS 1.2.
    let tls = format!(
        "ssl_certificate {dd}/server.pem; ssl_certificate_key {dd}/server.key; ssl_protocols TLSv1.2 TLSv1.3;"
    );
    let location = "location / { proxy_pass http://UP; }";
    let blocks = format!(
        "server {{ listen LISTEN ssl default_server; server_name one.test; {tls}
    ssl_verify_client on; ssl_client_certificate {dd}/root.pem; {location} }}
server {{ listen LISTEN ssl; server_name two.test; {tls}
    ssl_verify_client optional; ssl_client_certificate {dd}/both.pem; {location} }}
server {{ listen LISTEN ssl; server_name trusted.test; {tls}
    ssl_verify_client optional; ssl_client_certificate {dd}/other.pem; ssl_trusted_certificate {dd}/root.pem; {location} }}
server {{ listen LISTEN ssl; server_name plain.test; {tls} {location} }}
"
    );
    let (moat, moat_up) = start_moat(d, &blocks);
    let nginx = start_nginx(d, &blocks);

    // SNI, the common names the request must carry (None: no request).
    let cases: [(&str, Option<&[&str]>); 5] = [
        ("one.test", Some(&["Moat Test Root"])),
        ("two.test", Some(&["Moat Test Root", "Some Other Root"])),
        // ssl_trusted_certificate's CAs verify but are not named.
        ("trusted.test", Some(&["Some Other Root"])),
        ("plain.test", None),
        // An SNI no server names goes to the default server, which asks.
        ("elsewhere.test", Some(&["Moat Test Root"])),
    ];
    for tls12 in [false, true] {
        for (sni, want) in cases {
            let what = format!("{sni} over TLS 1.{}", if tls12 { 2 } else { 3 });
            let got = request_names(moat.https, sni, tls12);
            match (want, &got) {
                (None, None) => {}
                (Some(cns), Some(names)) => {
                    assert_eq!(names.len(), cns.len(), "{what}: moat named {names:?}");
                    for (name, cn) in names.iter().zip(cns) {
                        assert!(names_cn(name, cn), "{what}: {cn} not in {name:?}");
                    }
                }
                _ => panic!("{what}: moat's certificate request {got:?}, want {want:?}"),
            }
            if let Some((_, addr, _)) = &nginx {
                let nginx_names = request_names(*addr, sni, tls12);
                assert_eq!(
                    got, nginx_names,
                    "{what}: moat's CA names differ from nginx's"
                );
            }
        }
    }
    assert!(
        moat_up.heads().is_empty(),
        "no request was sent, none reached the app"
    );
}
