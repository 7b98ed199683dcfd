//! Harness for the proxy tests: certificates, a DNS server whose answers
//! the test controls, echo backends (HTTP/1.1 + WebSocket, and h2c gRPC),
//! a route source built from a closure, and a running moat proxy on
//! ephemeral loopback ports.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use moat::acme::Http01Tokens;
use moat::conf::{Action, Decision, Listen, ProxyTarget, RequestInfo, ServerRef, UpstreamOptions};
use moat::proxy::{CertStore, ProxyConfig, ProxyHandle, RouteSource, UpstreamResolver};
use tokio::net::{TcpListener, UdpSocket};

/// Install the process-wide rustls provider once (the supervisor does it in production).
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .with_test_writer()
            .try_init();
    });
}

/// Wait for `cond` to hold, polling, up to `limit`.
pub async fn wait_for<F: FnMut() -> bool>(limit: Duration, mut cond: F) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- certificates

/// A self-signed certificate with a known serial.
#[derive(Clone)]
pub struct TestCert {
    /// PEM chain (one certificate).
    pub chain_pem: String,
    /// PEM key.
    pub key_pem: String,
    /// Serial, big-endian bytes as x509-parser reports them.
    pub serial: Vec<u8>,
}

/// A certificate for `names` with serial `serial`.
pub fn cert(names: &[&str], serial: u64) -> TestCert {
    let key = rcgen::KeyPair::generate().expect("P-256 key");
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("names");
    params.serial_number = Some(rcgen::SerialNumber::from(serial));
    let cert = params.self_signed(&key).expect("self-signed");
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.der()).expect("own cert parses");
    TestCert {
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        serial: parsed.raw_serial().to_vec(),
    }
}

/// A lineage as the ACME side would hand it over.
pub fn lineage(name: &str, names: &[&str], cert: &TestCert) -> moat::acme::CertLineage {
    moat::acme::CertLineage {
        name: name.to_owned(),
        names: names.iter().map(|s| s.to_string()).collect(),
        fullchain_pem: cert.chain_pem.clone(),
        key_pem: cert.key_pem.clone(),
        not_after: 0,
        dir: PathBuf::new(),
    }
}

/// Handshake with `addr` sending `sni`, and return the served leaf's serial
/// and the negotiated ALPN.
pub async fn handshake_serial(addr: SocketAddr, sni: &str) -> Result<Vec<u8>, String> {
    let config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (_, conn) = tls.get_ref();
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no certificate")?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf).map_err(|e| e.to_string())?;
    Ok(parsed.raw_serial().to_vec())
}

/// A raw rustls client configuration that accepts any certificate, for
/// tests that write bytes over TLS themselves.
pub fn raw_tls_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify))
            .with_no_client_auth(),
    )
}

/// A verifier that accepts any certificate (tests inspect it themselves).
#[derive(Debug)]
pub struct NoVerify;

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

// ---------------------------------------------------------------- DNS

/// A UDP DNS server standing in for Docker's 127.0.0.11: A records the test
/// sets and changes; other names get NXDOMAIN. Answers carry Docker's 600 s TTL.
pub struct TestDns {
    /// Where it listens.
    pub addr: SocketAddr,
    records: Arc<Mutex<HashMap<String, Ipv4Addr>>>,
    queries: Arc<AtomicUsize>,
}

impl TestDns {
    /// Start on an ephemeral loopback port.
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS");
        let addr = socket.local_addr().unwrap();
        let records: Arc<Mutex<HashMap<String, Ipv4Addr>>> = Arc::default();
        let queries = Arc::new(AtomicUsize::new(0));
        let (r, q) = (records.clone(), queries.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                q.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = answer(&buf[..n], &r) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        Self {
            addr,
            records,
            queries,
        }
    }

    /// Point `name` at `ip` (replacing any previous answer).
    pub fn set(&self, name: &str, ip: Ipv4Addr) {
        self.records
            .lock()
            .unwrap()
            .insert(name.trim_end_matches('.').to_ascii_lowercase(), ip);
    }

    /// Queries received so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

fn answer(query: &[u8], records: &Mutex<HashMap<String, Ipv4Addr>>) -> Option<Vec<u8>> {
    use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_proto::rr::{rdata::A, RData, Record, RecordType};
    let request = Message::from_vec(query).ok()?;
    let q = request.queries.first()?.clone();
    let mut reply = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(q.clone());
    let name = q
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let ip = records.lock().unwrap().get(&name).copied();
    match (ip, q.query_type()) {
        (Some(ip), RecordType::A) => {
            reply.add_answer(Record::from_rdata(q.name().clone(), 600, RData::A(A(ip))));
        }
        (Some(_), _) => {}
        (None, _) => reply.metadata.response_code = ResponseCode::NXDomain,
    }
    reply.to_vec().ok()
}

// ---------------------------------------------------------------- backends

/// An HTTP/1.1 backend that echoes the request as JSON (and WebSockets as
/// echo), counting the TCP connections it accepted.
pub struct EchoBackend {
    /// Where it listens.
    pub addr: SocketAddr,
    /// TCP connections accepted so far (keep-alive reuse keeps this low).
    pub connections: Arc<AtomicUsize>,
}

impl EchoBackend {
    /// Start on `ip` (any port), answering with `name` in the JSON.
    pub async fn start(ip: Ipv4Addr, name: &'static str) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind backend");
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = service_fn(move |req| echo(req, peer, name));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Self { addr, connections }
    }
}

async fn echo(
    req: Request<Incoming>,
    peer: SocketAddr,
    name: &'static str,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let is_ws = req
        .headers()
        .get("upgrade")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if is_ws {
        let key = req
            .headers()
            .get("sec-websocket-key")
            .cloned()
            .unwrap_or(hyper::header::HeaderValue::from_static(""));
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        tokio::spawn(async move {
            if let Ok(upgraded) = hyper::upgrade::on(req).await {
                use futures_util::{SinkExt, StreamExt};
                let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    tokio_tungstenite::tungstenite::protocol::Role::Server,
                    None,
                )
                .await;
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() || msg.is_binary() {
                        if ws.send(msg).await.is_err() {
                            break;
                        }
                    } else if msg.is_close() {
                        break;
                    }
                }
            }
        });
        let resp = Response::builder()
            .status(101)
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Accept", accept)
            .body(Full::new(Bytes::new()))
            .unwrap();
        return Ok(resp);
    }
    let method = req.method().to_string();
    let target = req.uri().to_string();
    if let Some(ms) = target
        .strip_prefix("/slow/")
        .and_then(|ms| ms.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let json = serde_json::json!({
        "backend": name,
        "method": method,
        "target": target,
        "headers": headers,
        "peer": peer.to_string(),
        "body_len": body.len(),
    });
    let mut resp = Response::new(Full::new(Bytes::from(json.to_string())));
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp.headers_mut()
        .insert("x-powered-by", "echo".parse().unwrap());
    if target.starts_with("/redirect") {
        *resp.status_mut() = hyper::StatusCode::FOUND;
        resp.headers_mut()
            .insert("location", format!("http://{name}/login").parse().unwrap());
        resp.headers_mut()
            .append("set-cookie", "sid=1; Path=/; HttpOnly".parse().unwrap());
    }
    Ok(resp)
}

/// The value of header `name` (lower-case) in an echo JSON.
pub fn echoed_header(json: &serde_json::Value, name: &str) -> Option<String> {
    json["headers"]
        .as_array()?
        .iter()
        .find(|pair| {
            pair[0]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .and_then(|pair| pair[1].as_str().map(str::to_owned))
}

/// An h2c (prior knowledge) gRPC-style backend: answers every call with
/// the request body, `content-type: application/grpc` and a
/// `grpc-status: 0` trailer, so the test sees trailers relayed.
pub async fn grpc_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind grpc backend");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    let path = req.uri().path().to_owned();
                    let te = req
                        .headers()
                        .get("te")
                        .map(|v| v.to_str().unwrap_or("").to_owned())
                        .unwrap_or_default();
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let mut trailers = hyper::HeaderMap::new();
                    trailers.insert("grpc-status", "0".parse().unwrap());
                    trailers.insert(
                        "grpc-message",
                        format!("path={path};te={te}").parse().unwrap(),
                    );
                    let frames: Vec<Result<Frame<Bytes>, Infallible>> =
                        vec![Ok(Frame::data(body)), Ok(Frame::trailers(trailers))];
                    let resp = Response::builder()
                        .header("content-type", "application/grpc")
                        .body(StreamBody::new(futures_util::stream::iter(frames)))
                        .unwrap();
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

// ---------------------------------------------------------------- routes

/// Routes from a closure, for tests of the engine independent of conf parsing.
pub struct FnRoutes {
    decide: Box<dyn Fn(&RequestInfo) -> Decision + Send + Sync>,
    /// What `listens()` reports (extra ports the "confs" ask for).
    pub listens: Vec<Listen>,
}

impl FnRoutes {
    /// Every request is decided by `f`.
    pub fn new(f: impl Fn(&RequestInfo) -> Decision + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            decide: Box::new(f),
            listens: Vec::new(),
        })
    }
}

impl FnRoutes {
    /// As [`FnRoutes::new`], also asking for `listens`.
    pub fn with_listens(
        listens: Vec<Listen>,
        f: impl Fn(&RequestInfo) -> Decision + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            decide: Box::new(f),
            listens,
        })
    }
}

impl FnRoutes {
    /// Every request proxied to `scheme://host:port` with SWAG's header set:
    /// what a one-line subdomain conf decides.
    pub fn proxy_all(
        scheme: &'static str,
        host: &'static str,
        port: u16,
        resolver: Option<SocketAddr>,
    ) -> Arc<Self> {
        Self::new(move |req| {
            decision(Action::Proxy(swag_target(
                scheme, host, port, req, resolver,
            )))
        })
    }
}

impl RouteSource for FnRoutes {
    fn decide(&self, req: &RequestInfo) -> Decision {
        (self.decide)(req)
    }
    fn listens(&self) -> Vec<Listen> {
        self.listens.clone()
    }
}

/// A decision from a test server block.
pub fn decision(action: Action) -> Decision {
    Decision {
        server: std::sync::Arc::new(ServerRef {
            file: PathBuf::from("/config/nginx/proxy-confs/test.subdomain.conf"),
            line: 1,
            names: vec!["test".into()],
        }),
        location: None,
        action,
        response_headers: vec![],
        max_body_size: None,
        request_buffering: true,
        client_addr: None,
        status_override: None,
        remote_user: None,
        errors: vec![],
        limits: Default::default(),
    }
}

/// Upstream options as SWAG's proxy.conf and resolver.conf set them.
pub fn swag_options(resolver: Option<SocketAddr>) -> UpstreamOptions {
    UpstreamOptions {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(240),
        send_timeout: Duration::from_secs(240),
        http11: true,
        resolver: resolver.into_iter().collect(),
        resolver_valid: Some(Duration::from_secs(30)),
        resolver_ipv6: false,
        ssl_verify: false,
        ssl_server_name: false,
    }
}

/// `proxy_pass scheme://host:port` with SWAG's proxy.conf header set, as the
/// conf layer would expand it for `req`.
pub fn swag_target(
    scheme: &str,
    host: &str,
    port: u16,
    req: &RequestInfo,
    resolver: Option<SocketAddr>,
) -> ProxyTarget {
    let client_xff = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, v)| v.clone());
    let remote = req.remote.ip().to_string();
    let xff = match client_xff {
        Some(prev) => format!("{prev}, {remote}"),
        None => remote.clone(),
    };
    let upgrade = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("upgrade"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let host_header = req.host.clone().unwrap_or_default();
    // The conf's entries, then the client's headers under the other names
    // (an empty `Upgrade` keeps the client's away, as proxy.conf's
    // `$http_upgrade` does).
    let headers = moat::conf::UpstreamHeaders::explicit([
        ("Host".to_string(), host_header.clone()),
        ("X-Forwarded-For".into(), xff),
        ("X-Forwarded-Host".into(), host_header),
        (
            "X-Forwarded-Proto".into(),
            if req.tls { "https" } else { "http" }.into(),
        ),
        ("X-Real-IP".into(), remote),
        ("Upgrade".into(), upgrade),
        (
            "Connection".into(),
            if upgrade_present(req) {
                "upgrade"
            } else {
                "close"
            }
            .into(),
        ),
    ])
    .with_client_headers();
    ProxyTarget {
        url: format!("{scheme}://{host}:{port}{}", req.uri),
        scheme: scheme.into(),
        host: host.into(),
        port,
        path_and_query: req.uri.clone(),
        method: None,
        headers,
        hide_headers: Default::default(),
        redirects: vec![],
        cookie_paths: vec![],
        body_filter: None,
        options: swag_options(resolver),
    }
}

fn upgrade_present(req: &RequestInfo) -> bool {
    req.headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("upgrade"))
}

/// Host of the request without port.
pub fn host_of(req: &RequestInfo) -> String {
    req.host
        .as_deref()
        .unwrap_or_default()
        .rsplit_once(':')
        .map_or_else(
            || req.host.clone().unwrap_or_default(),
            |(h, _)| h.to_owned(),
        )
}

// ---------------------------------------------------------------- moat

/// A running proxy on ephemeral 127.0.0.1 ports.
pub struct Moat {
    /// The handle (shutdown, addresses).
    pub handle: ProxyHandle,
    /// The certificate store it serves from.
    pub certs: CertStore,
    /// Its HTTP-01 map.
    pub tokens: Http01Tokens,
    /// Plain-HTTP address.
    pub http: SocketAddr,
    /// TLS address.
    pub https: SocketAddr,
}

/// Start moat with `routes`, a default certificate for `*`, and `dns` as the
/// system resolver (standing in for 127.0.0.11).
pub fn start_moat(routes: Arc<dyn RouteSource>, dns: Option<SocketAddr>) -> Moat {
    start_moat_with(routes, dns, |_| {})
}

/// As [`start_moat`], with a hook to adjust the config.
pub fn start_moat_with(
    routes: Arc<dyn RouteSource>,
    dns: Option<SocketAddr>,
    adjust: impl FnOnce(&mut ProxyConfig),
) -> Moat {
    init();
    let certs = CertStore::new();
    let default = cert(&["default.moat.test"], 1);
    certs
        .set_default_pem(&default.chain_pem, &default.key_pem, "test default")
        .unwrap();
    let tokens = Http01Tokens::new();
    let mut config = ProxyConfig::new(routes, certs.clone(), tokens.clone());
    config.http_port = 0;
    config.https_port = 0;
    config.addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    config.workers = 2;
    config.grace = Duration::from_secs(3);
    config.resolver = match dns {
        Some(addr) => UpstreamResolver::with_system_servers(vec![addr]),
        None => UpstreamResolver::with_system_servers(vec![]),
    };
    adjust(&mut config);
    let handle = moat::proxy::spawn(config).expect("proxy starts");
    let http = handle.http_addr().expect("http listener");
    let https = handle.https_addr().expect("https listener");
    Moat {
        handle,
        certs,
        tokens,
        http,
        https,
    }
}

/// A client that sends every listed name to `addr`, accepts any certificate,
/// and never follows redirects.
pub fn client(names: &[&str], addr: SocketAddr) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20));
    for name in names {
        builder = builder.resolve(name, addr);
    }
    builder.build().expect("client builds")
}

// ---------------------------------------------------------------- moat-echo

/// A `moat-echo` process (the shared test backend), killed on drop.
pub struct EchoProcess {
    child: std::process::Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl EchoProcess {
    /// Start `moat-echo --listen <listen>` named `name`; waits for its
    /// `listening on` line.
    pub fn start(listen: SocketAddr, name: &str) -> Self {
        Self::spawn("--listen", listen, name)
    }

    /// Start `moat-echo --tls-listen <listen>` (self-signed certificate).
    pub fn start_tls(listen: SocketAddr, name: &str) -> Self {
        Self::spawn("--tls-listen", listen, name)
    }

    fn spawn(flag: &str, listen: SocketAddr, name: &str) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_moat-echo"))
            .args([flag, &listen.to_string()])
            .env("ECHO_NAME", name)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("moat-echo starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("moat-echo prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected moat-echo output {line:?}"));
        Self { child, addr }
    }
}

impl Drop for EchoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
