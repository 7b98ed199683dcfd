//! Test harness: Debian's pebble and pebble-challtestsrv on free loopback
//! ports, with a listener certificate made here (Debian ships none), plus
//! small helpers to talk to them. Include with
//! `#[path = "support/pebble.rs"] mod pebble;` next to `support/env.rs`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::env;

/// Knobs for one pebble instance.
#[derive(Debug, Clone, Default)]
pub struct PebbleOpts {
    /// `PEBBLE_WFE_NONCEREJECT` (percent of nonces rejected).
    pub nonce_reject: u32,
    /// `PEBBLE_AUTHZREUSE` (percent of valid authorizations reused).
    pub authz_reuse: u32,
}

/// A running pebble + challtestsrv pair; killed on drop.
pub struct Pebble {
    /// Keeps config files alive.
    pub dir: tempfile::TempDir,
    children: Vec<Child>,
    /// ACME directory URL.
    pub directory_url: String,
    /// PEM of the CA that signed pebble's listener certificate (ACME_CA_ROOT).
    pub listener_ca: PathBuf,
    /// pebble management address.
    pub mgmt: SocketAddr,
    /// challtestsrv management address (plain HTTP).
    pub challtest_mgmt: SocketAddr,
    /// challtestsrv DNS address (UDP+TCP).
    pub dns: SocketAddr,
    /// The port pebble connects to for HTTP-01 (our responder listens here).
    pub http_port: u16,
    /// pebble's stdout+stderr log file.
    pub log: PathBuf,
}

/// A free TCP port on 127.0.0.1 (released before return).
pub fn free_tcp_port() -> u16 {
    stable_tcp_port()
}

include!("ports.rs");

/// A port free for both UDP and TCP on 127.0.0.1.
pub fn free_udp_tcp_port() -> u16 {
    loop {
        let port = stable_tcp_port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Poll `cond` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

impl Pebble {
    /// Start pebble and challtestsrv, or return `None` after a loud SKIP
    /// when they are not installed (a panic under CI).
    pub fn start(test: &str, opts: PebbleOpts) -> Option<Pebble> {
        let pebble = env::require_program(test, "pebble")?;
        let challtest = env::require_program(test, "pebble-challtestsrv")?;
        // The ports are found free and then released before pebble binds
        // them, so another process on the machine can take one first: a
        // start that lost that race is tried again with fresh ports.
        let mut attempt = 1;
        loop {
            match Self::start_once(&pebble, &challtest, &opts) {
                Ok(p) => return Some(p),
                Err(log) if attempt < 4 && log.contains("address already in use") => attempt += 1,
                Err(log) => panic!("pebble did not start: {log}"),
            }
        }
    }

    /// One start with freshly picked ports; `Err` carries both logs.
    fn start_once(pebble: &Path, challtest: &Path, opts: &PebbleOpts) -> Result<Pebble, String> {
        let dir = tempfile::tempdir().unwrap();
        let (ca_pem, cert_pem, key_pem) = listener_cert();
        let listener_ca = dir.path().join("listener-ca.pem");
        std::fs::write(&listener_ca, &ca_pem).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), key_pem).unwrap();

        let dns_port = free_udp_tcp_port();
        let challtest_mgmt_port = free_tcp_port();
        let listen_port = free_tcp_port();
        let mgmt_port = free_tcp_port();
        let http_port = stable_tcp_port();
        let tls_port = free_tcp_port();
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{listen_port}"),
                "managementListenAddress": format!("127.0.0.1:{mgmt_port}"),
                "certificate": dir.path().join("cert.pem"),
                "privateKey": dir.path().join("key.pem"),
                "httpPort": http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        let config_path = dir.path().join("pebble-config.json");
        std::fs::write(&config_path, config.to_string()).unwrap();

        let log = dir.path().join("pebble.log");
        let ct_log = std::fs::File::create(dir.path().join("challtestsrv.log")).unwrap();
        let ct = Command::new(challtest)
            .args([
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                &format!("127.0.0.1:{dns_port}"),
                "-management",
                &format!("127.0.0.1:{challtest_mgmt_port}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
            ])
            .stdout(ct_log.try_clone().unwrap())
            .stderr(ct_log)
            .spawn()
            .expect("start pebble-challtestsrv");
        let pb_log = std::fs::File::create(&log).unwrap();
        let pb = Command::new(pebble)
            .arg("-config")
            .arg(&config_path)
            .arg("-dnsserver")
            .arg(format!("127.0.0.1:{dns_port}"))
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_VA_ALWAYS_VALID", "0")
            .env("PEBBLE_WFE_NONCEREJECT", opts.nonce_reject.to_string())
            .env("PEBBLE_AUTHZREUSE", opts.authz_reuse.to_string())
            .stdout(pb_log.try_clone().unwrap())
            .stderr(pb_log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start pebble");
        let p = Pebble {
            children: vec![ct, pb],
            directory_url: format!("https://127.0.0.1:{listen_port}/dir"),
            listener_ca,
            mgmt: SocketAddr::from(([127, 0, 0, 1], mgmt_port)),
            challtest_mgmt: SocketAddr::from(([127, 0, 0, 1], challtest_mgmt_port)),
            dns: SocketAddr::from(([127, 0, 0, 1], dns_port)),
            http_port,
            log,
            dir,
        };
        // pebble generates its CA keys at start: slow on a loaded machine.
        let mut lost_a_port = false;
        let up = wait_until(Duration::from_secs(90), || {
            let log = std::fs::read_to_string(&p.log).unwrap_or_default();
            lost_a_port = log.contains("address already in use");
            lost_a_port
                || TcpStream::connect(("127.0.0.1", listen_port)).is_ok()
                    && TcpStream::connect(p.challtest_mgmt).is_ok()
                    && TcpStream::connect(p.mgmt).is_ok()
        });
        if !up || lost_a_port {
            let ct =
                std::fs::read_to_string(p.dir.path().join("challtestsrv.log")).unwrap_or_default();
            return Err(format!(
                "{}{ct}",
                std::fs::read_to_string(&p.log).unwrap_or_default()
            ));
        }
        Ok(p)
    }

    /// pebble's issuing root (management `/roots/0`), PEM.
    pub fn issuing_root(&self) -> String {
        https_get(self.mgmt, "/roots/0", &self.listener_ca)
    }

    /// challtestsrv: add a TXT value at `host`.
    pub fn set_txt(&self, host: &str, value: &str) {
        let body = serde_json::json!({"host": fqdn_dot(host), "value": value}).to_string();
        http_post(self.challtest_mgmt, "/set-txt", &body);
    }

    /// challtestsrv: remove every TXT value at `host`.
    pub fn clear_txt(&self, host: &str) {
        let body = serde_json::json!({"host": fqdn_dot(host)}).to_string();
        http_post(self.challtest_mgmt, "/clear-txt", &body);
    }

    /// The TXT values challtestsrv serves at `host`, by a real DNS query.
    pub fn dns_txt(&self, host: &str) -> Vec<String> {
        dig_txt(self.dns, host)
    }

    /// pebble's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn fqdn_dot(host: &str) -> String {
    format!("{}.", host.trim_end_matches('.'))
}

/// A CA and a certificate for 127.0.0.1/localhost signed by it.
fn listener_cert() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "moat test listener CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "pebble");
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// Minimal HTTP/1.1 POST over plain TCP; panics on a non-2xx answer.
pub fn http_post(addr: SocketAddr, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 2"), "POST {path}: {out}");
    out
}

/// HTTPS GET trusting only `ca`; returns the body.
pub fn https_get(addr: SocketAddr, path: &str, ca: &Path) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    use rustls_pki_types::pem::PemObject;
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// TXT values at `host` from the DNS server at `server`, by a real query
/// (for synchronous tests).
pub fn dig_txt(server: SocketAddr, host: &str) -> Vec<String> {
    let host = host.to_owned();
    // Its own thread and runtime, so async tests can call it too.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(dig_txt_async(server, &host))
    })
    .join()
    .unwrap()
}

/// TXT values at `host` from the DNS server at `server`, by a real query.
pub async fn dig_txt_async(server: SocketAddr, host: &str) -> Vec<String> {
    use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    let mut ns = NameServerConfig::udp_and_tcp(server.ip());
    for c in &mut ns.connections {
        c.port = server.port();
    }
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    let r = hickory_resolver::TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![ns]),
        hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    .unwrap();
    match r.txt_lookup(fqdn_dot(host)).await {
        Ok(l) => l
            .answers()
            .iter()
            .filter_map(|rec| match &rec.data {
                hickory_resolver::proto::rr::RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect(),
                ),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Verify that `fullchain_pem` chains to `root_pem` and is valid for every
/// name in `names` (wildcards checked with a label under them).
pub fn verify_chain(fullchain_pem: &str, root_pem: &str, names: &[String]) {
    use rustls::client::danger::ServerCertVerifier;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::client::WebPkiServerVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let chain: Vec<CertificateDer> = CertificateDer::pem_slice_iter(fullchain_pem.as_bytes())
        .map(|c| c.unwrap())
        .collect();
    assert!(chain.len() >= 2, "fullchain holds leaf and intermediate");
    for name in names {
        let probe = name.replace("*.", "anything.");
        let sn = ServerName::try_from(probe.clone()).unwrap();
        verifier
            .verify_server_cert(&chain[0], &chain[1..], &sn, &[], UnixTime::now())
            .unwrap_or_else(|e| panic!("chain not valid for {probe}: {e}"));
    }
}

impl Pebble {
    /// pebble's view of a certificate by serial (management
    /// `/cert-status-by-serial/<hex>`), the raw JSON body.
    pub fn cert_status(&self, leaf_pem: &str) -> String {
        let (_, pem) = x509_parser::pem::parse_x509_pem(leaf_pem.as_bytes()).unwrap();
        let cert = pem.parse_x509().unwrap();
        let serial = cert.tbs_certificate.raw_serial_as_string().replace(':', "");
        let serial = serial.trim_start_matches('0');
        https_get(
            self.mgmt,
            &format!("/cert-status-by-serial/{serial}"),
            &self.listener_ca,
        )
    }
}

/// moat's HTTP-01 responder, running for one test.
pub struct Http01Server {
    /// The token map the ACME client fills.
    pub tokens: moat::acme::Http01Tokens,
    /// Send `true` to stop it.
    pub stop: tokio::sync::watch::Sender<bool>,
    /// Its task, done once stopped.
    pub task: tokio::task::JoinHandle<()>,
}

impl Pebble {
    /// moat's HTTP-01 responder on this pebble's validation port
    /// (127.0.0.1:`http_port`), where the proxy's port 80 would answer.
    pub async fn serve_http01(&self) -> Http01Server {
        let tokens = moat::acme::Http01Tokens::new();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.http_port))
            .await
            .unwrap();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(moat::acme::serve_http01(listener, tokens.clone(), rx));
        Http01Server { tokens, stop, task }
    }
}
