//! The nginx oracle: real Debian nginx on loopback with a SWAG-layout config
//! tree made of the corpus, every upstream name resolved by a stub DNS server
//! to its own loopback address where `moat-echo` listens, so whatever nginx
//! forwards is reported back exactly as the upstream received it.
//!
//! Two trees are written from the same sources:
//! - `moat/` is what a SWAG user has in `/config` (absolute `/config/...`
//!   includes, `listen 443`), loaded with `moat::conf::load`;
//! - `nginx/` is a copy with `/config/` mapped onto the temp dir, `listen`
//!   ports mapped onto free loopback ports, IPv6 listens dropped, and an
//!   `nginx.conf` adapted for nginx 1.22 running unprivileged in the
//!   foreground (see [`nginx_conf_for_oracle`]).
//!
//! Include with `#[path = "support/oracle.rs"] mod oracle;` next to
//! `oracle_conf.rs`, `echo.rs` and `env.rs`.
#![allow(dead_code)]

#[path = "static_paths.rs"]
mod static_paths;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::oracle_conf::{self, Scope, UpstreamUse};

/// Where the corpus lives: `MOAT_CORPUS`, else the copy in the repository
/// (`tests/corpus/`); `None` only when that folder has been removed.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("MOAT_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus"),
    };
    dir.join("reverse-proxy-confs").is_dir().then_some(dir)
}

/// The host name every request uses for subfolder files (the default server).
pub const DEFAULT_HOST: &str = "example.test";

/// Files left out of the activated set, with the reason (all documented in
/// the test's report). Anything else that qualifies is activated.
pub const EXCLUDED: &[(&str, &str)] = &[
    (
        "_template.subdomain.conf.sample",
        "placeholders; nginx rejects it",
    ),
    (
        "_template.subfolder.conf.sample",
        "placeholders; nginx rejects it",
    ),
    (
        "dnsdist.subdomain.conf.sample",
        "grpcs upstream: moat-echo speaks no HTTP/2",
    ),
    (
        "heimdall.subfolder.conf.sample",
        "`location /` duplicates default.conf's (nginx refuses to start)",
    ),
    (
        "organizr.subfolder.conf.sample",
        "`location /` duplicates default.conf's (nginx refuses to start)",
    ),
    (
        "wordpress.subfolder.conf.sample",
        "`location /` duplicates default.conf's (nginx refuses to start)",
    ),
    (
        "calibre.subfolder.conf.sample",
        "`^~ /websockify` duplicates boinc.subfolder (nginx refuses to start)",
    ),
];

/// One corpus file chosen for activation.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// `name.subdomain.conf.sample`.
    pub sample: String,
    /// Its text.
    pub text: String,
    /// Servers (subdomain) or the top level (subfolder).
    pub scopes: Vec<Scope>,
    /// Upstreams it proxies to.
    pub upstreams: Vec<UpstreamUse>,
    /// `true` for `*.subfolder.conf.sample`.
    pub subfolder: bool,
    /// Host names generated for regex `server_name`s: (scope index, host).
    pub regex_hosts: Vec<(usize, String)>,
}

impl Chosen {
    /// The active file name (`.sample` dropped).
    pub fn active_name(&self) -> String {
        self.sample.trim_end_matches(".sample").to_string()
    }
}

/// Picks every corpus file that nginx can run in this harness; returns the
/// chosen files and the left-out ones with reasons.
pub fn choose(corpus: &Path) -> (Vec<Chosen>, Vec<(String, String)>) {
    let dir = corpus.join("reverse-proxy-confs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".conf.sample"))
        .collect();
    names.sort();
    let mut chosen = Vec::new();
    let mut left = Vec::new();
    let mut seen_names: BTreeMap<String, String> = BTreeMap::new();
    // Without root, files whose upstream port is below 1024 are left out:
    // a loud skip locally, a failure under CI (which runs as root).
    let root = crate::env::require_root("nginx oracle: files with upstream ports below 1024");
    for name in names {
        if let Some((_, why)) = EXCLUDED.iter().find(|(n, _)| *n == name) {
            left.push((name, why.to_string()));
            continue;
        }
        let text = std::fs::read_to_string(dir.join(&name)).expect("corpus file is UTF-8");
        let stmts = match oracle_conf::parse(&text) {
            Ok(s) => s,
            Err(e) => {
                left.push((name, format!("oracle tokenizer: {e}")));
                continue;
            }
        };
        let mut upstreams = oracle_conf::upstreams(&stmts);
        let scopes = oracle_conf::scopes(&stmts);
        let regex_hosts = regex_server_hosts(&name, &scopes, &mut upstreams);
        if upstreams.is_empty() && !text.contains("internal;") {
            left.push((name, "no complete $upstream_app/port/proto".into()));
            continue;
        }
        if let Some(u) = upstreams
            .iter()
            .find(|u| u.app.contains('<') || !matches!(u.proto.as_str(), "http" | "https"))
        {
            left.push((
                name,
                format!(
                    "upstream `{}://{}` is a placeholder or not HTTP",
                    u.proto, u.app
                ),
            ));
            continue;
        }
        if !root {
            if let Some(u) = upstreams.iter().find(|u| u.port < 1024) {
                left.push((
                    name,
                    format!("upstream port {} needs root for moat-echo to bind", u.port),
                ));
                continue;
            }
        }
        let subfolder = name.ends_with(".subfolder.conf.sample");
        // Two files claiming the same server_name: nginx warns and keeps the
        // first; the second file's probes would test nothing of its own.
        let mut clash = None;
        for s in &scopes {
            for n in &s.names {
                if let Some(other) = seen_names.get(n) {
                    clash = Some(format!("server_name `{n}` already claimed by {other}"));
                }
            }
        }
        if let Some(c) = clash {
            left.push((name, c));
            continue;
        }
        for s in &scopes {
            for n in &s.names {
                seen_names.insert(n.clone(), name.clone());
            }
        }
        chosen.push(Chosen {
            sample: name,
            text,
            scopes,
            upstreams,
            subfolder,
            regex_hosts,
        });
    }
    (chosen, left)
}

/// For each regex `server_name`, a host it matches, of the form
/// `<digits>[s].<stem>.example.test` (the corpus's regex names are all
/// `<port>.<app>.*` shapes). When the regex captures `upstream_port`, the
/// digits are a port of our choosing and the scope's upstream is completed
/// with it, so moat-echo listens there.
fn regex_server_hosts(
    file: &str,
    scopes: &[Scope],
    upstreams: &mut Vec<UpstreamUse>,
) -> Vec<(usize, String)> {
    let stem = file.split('.').next().unwrap_or(file);
    let mut out = Vec::new();
    for (i, scope) in scopes.iter().enumerate() {
        for name in scope.names.iter().filter(|n| n.starts_with('~')) {
            let Ok(re) = regex::Regex::new(&format!("(?i){}", &name[1..])) else {
                continue;
            };
            let digits = 4101 + i as u16;
            let Some(host) = ["", "s"]
                .iter()
                .map(|suffix| format!("{digits}{suffix}.{stem}.{DEFAULT_HOST}"))
                .find(|h| re.is_match(h))
            else {
                continue;
            };
            if name.contains("(?<upstream_port>") || name.contains("(?P<upstream_port>") {
                for (app, port, proto) in &scope.sets {
                    if let (None, Some(proto)) = (port, proto) {
                        upstreams.push(UpstreamUse {
                            app: app.clone(),
                            port: digits,
                            proto: proto.clone(),
                        });
                    }
                }
            }
            out.push((i, host));
        }
    }
    out
}

/// Loopback address of the `i`th upstream name (127.66.0.0/16, away from
/// what other tests bind on 127.0.0.1).
pub fn app_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 66, (i / 200) as u8, (i % 200 + 10) as u8)
}

/// A port nobody listens on right now (below the ephemeral range).
pub fn free_port() -> u16 {
    stable_tcp_port()
}

include!("ports.rs");

/// A UDP DNS responder: A queries for known names get their address,
/// anything else NXDOMAIN (AAAA for a known name: no answers).
pub struct DnsStub {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl DnsStub {
    /// Starts answering from `names` (lower-case, no trailing dot).
    pub fn start(names: BTreeMap<String, Ipv4Addr>) -> DnsStub {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind the DNS stub");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(resp) = dns_answer(&buf[..n], &names) {
                    let _ = sock.send_to(&resp, peer);
                }
            }
        });
        DnsStub { addr, stop }
    }
}

impl Drop for DnsStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Builds the answer to one query (RFC 1035 §4.1), or `None` if malformed.
fn dns_answer(q: &[u8], names: &BTreeMap<String, Ipv4Addr>) -> Option<Vec<u8>> {
    if q.len() < 12 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question = &q[12..i + 4];
    let name = labels.join(".");
    let ip = names.get(&name);
    let mut r = Vec::with_capacity(64);
    r.extend_from_slice(&q[0..2]);
    let rd = q[2] & 0x01;
    r.push(0x84 | rd); // QR, AA, RD copied
    r.push(if ip.is_some() { 0x80 } else { 0x83 }); // RA, NOERROR / NXDOMAIN
    let answers = u16::from(ip.is_some() && qtype == 1);
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&answers.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(question);
    if let (Some(ip), 1) = (ip, answers) {
        r.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
        r.extend_from_slice(&ip.octets());
    }
    Some(r)
}

/// The two config trees and what they were built with.
pub struct Trees {
    /// The SWAG-layout tree moat loads (`CONFIG_DIR`).
    pub moat: PathBuf,
    /// The same tree with paths and ports adapted for nginx.
    pub nginx: PathBuf,
    /// Original `listen` port → loopback port nginx listens on.
    pub ports: BTreeMap<u16, u16>,
}

/// Writes both trees under `root`.
pub fn write_trees(
    root: &Path,
    corpus: &Path,
    chosen: &[Chosen],
    dns: SocketAddr,
    cert_pem: &str,
    key_pem: &str,
) -> Trees {
    let moat = root.join("moat");
    let defaults = corpus.join("swag-defaults/nginx");
    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    let read =
        |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    for entry in std::fs::read_dir(&defaults).unwrap() {
        let p = entry.unwrap().path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if p.is_file() && name.ends_with(".conf.sample") {
            files.insert(
                PathBuf::from("nginx").join(name.trim_end_matches(".sample")),
                read(&p),
            );
        }
    }
    files.insert(
        "nginx/site-confs/default.conf".into(),
        read(&defaults.join("site-confs/default.conf.sample")),
    );
    files.insert(
        "nginx/worker_processes.conf".into(),
        "worker_processes 1;\n".into(),
    );
    files.insert(
        "nginx/resolver.conf".into(),
        format!("# oracle: the test's DNS stub\nresolver {dns} valid=30s ipv6=off;\n"),
    );
    let samples = corpus.join("reverse-proxy-confs");
    for entry in std::fs::read_dir(&samples).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        files.insert(PathBuf::from("nginx/proxy-confs").join(&name), read(&p));
    }
    for c in chosen {
        files.insert(
            PathBuf::from("nginx/proxy-confs").join(c.active_name()),
            c.text.clone(),
        );
    }
    for (rel, _) in STATIC_FILES {
        files.insert(PathBuf::from("www").join(rel), static_body(rel));
    }
    files.insert("keys/cert.crt".into(), cert_pem.to_string());
    files.insert("keys/cert.key".into(), key_pem.to_string());

    // Listen ports nginx needs, each mapped to a free loopback port.
    let mut ports = BTreeMap::new();
    for text in files.values() {
        for line in text.lines() {
            if let Some(p) = listen_port(line) {
                ports.entry(p).or_insert_with(free_port);
            }
        }
    }

    let nginx = root.join("nginx");
    let nginx_prefix = format!("{}/", nginx.display());
    for (rel, text) in &files {
        write(&moat.join(rel), text);
        let active = rel.extension().is_some_and(|e| e == "conf");
        let mut adapted = if active {
            text.lines()
                .map(|l| adapt_listen(l, &ports))
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        } else {
            text.clone()
        };
        adapted = adapted.replace("/config/", &nginx_prefix);
        if rel == Path::new("nginx/ssl.conf") {
            // No dhparams file in the test tree; only DHE suites need one.
            adapted = adapted.replace("ssl_dhparam", "# oracle: ssl_dhparam");
        }
        if rel == Path::new("nginx/nginx.conf") {
            adapted = nginx_conf_for_oracle(&adapted, &nginx);
        }
        write(&nginx.join(rel), &adapted);
    }
    for d in ["log/nginx", "tmp"] {
        std::fs::create_dir_all(nginx.join(d)).unwrap();
    }
    Trees { moat, nginx, ports }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The port of an active `listen` line.
fn listen_port(line: &str) -> Option<u16> {
    let t = line.trim_start();
    let rest = t.strip_prefix("listen")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let first = rest.split_whitespace().next()?.trim_end_matches(';');
    first.rsplit(':').next()?.parse().ok()
}

/// `listen 443 ssl` → `listen 127.0.0.1:P http2 ssl`; `[::]:443` lines are dropped
/// (kept as a comment so line numbers stay the same in both trees).
fn adapt_listen(line: &str, ports: &BTreeMap<u16, u16>) -> String {
    let Some(port) = listen_port(line) else {
        return line.to_string();
    };
    let t = line.trim_start();
    let indent = &line[..line.len() - t.len()];
    let first = t["listen".len()..].split_whitespace().next().unwrap();
    if first.starts_with('[') {
        return format!("{indent}# oracle: IPv6 listen dropped: {t}");
    }
    let to = ports[&port];
    let rest = t["listen".len()..].trim_start()[first.len()..].to_string();
    let semi = if first.ends_with(';') { ";" } else { "" };
    // nginx 1.22 enables HTTP/2 per listen (SWAG's `http2 on` is 1.25's).
    let h2 = if rest.split([' ', ';']).any(|w| w == "ssl") {
        " http2"
    } else {
        ""
    };
    format!("{indent}listen 127.0.0.1:{to}{h2}{semi}{rest}")
}

/// SWAG's nginx.conf adapted for the oracle: nginx 1.22 (Debian) lacks
/// `http2 on`, `http3` and `quic_retry`; the process runs in the foreground
/// as a single process (no workers to orphan), with its pid, logs and temp
/// files in the test's directory, and without the system's `/etc/nginx`
/// snippet directories (only `mime.types` and `fastcgi_params` stay).
pub fn nginx_conf_for_oracle(text: &str, nginx_root: &Path) -> String {
    let root = nginx_root.display();
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim();
        let comment = |why: &str| format!("# oracle ({why}): {t}");
        let new = if t.starts_with("user ") {
            comment("single process")
        } else if t.starts_with("http2 ") || t.starts_with("http3 ") || t.starts_with("quic_retry ")
        {
            comment("not in nginx 1.22")
        } else if t.starts_with("include /etc/nginx/") && t.contains('*') {
            comment("system snippets")
        } else if t.starts_with("pid ") {
            format!("pid {root}/nginx.pid;")
        } else if t.contains("_temp_path /tmp/") || t.contains("_cache_path /tmp/") {
            line.replacen(" /tmp/", &format!(" {root}/tmp/"), 1)
        } else {
            line.to_string()
        };
        out.push_str(&new);
        out.push('\n');
    }
    out.push_str("master_process off;\n");
    out
}

/// A running nginx; killed on drop.
pub struct Nginx {
    child: Child,
    /// Its error log.
    pub error_log: PathBuf,
}

impl Nginx {
    /// nginx serving `http` (the body of an `http {}` block, made for the
    /// port it is given) from a tree of its own under `dir`, on
    /// 127.0.0.1 at that port: a test's server blocks, without SWAG's tree.
    #[allow(dead_code)]
    pub fn serve_http(
        nginx_bin: &Path,
        dir: &Path,
        http: impl FnOnce(u16) -> String,
    ) -> Result<(Nginx, std::net::SocketAddr), String> {
        let port = free_port();
        let tree = dir.join(format!("nginx-tree-{port}"));
        for sub in ["nginx", "log/nginx", "tmp"] {
            std::fs::create_dir_all(tree.join(sub)).map_err(|e| e.to_string())?;
        }
        let t = tree.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\npid {t}/nginx.pid;\nerror_log {t}/log/nginx/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{\n access_log off;\n client_body_temp_path {t}/tmp/body;\n proxy_temp_path {t}/tmp/proxy;\n fastcgi_temp_path {t}/tmp/fastcgi;\n uwsgi_temp_path {t}/tmp/uwsgi;\n scgi_temp_path {t}/tmp/scgi;\n{}}}\n",
            http(port)
        );
        std::fs::write(tree.join("nginx/nginx.conf"), conf).map_err(|e| e.to_string())?;
        let n = Nginx::start(nginx_bin, &tree, port)?;
        Ok((n, std::net::SocketAddr::from(([127, 0, 0, 1], port))))
    }

    /// `nginx -t`, then runs it and waits until `port` accepts connections.
    pub fn start(nginx_bin: &Path, tree: &Path, port: u16) -> Result<Nginx, String> {
        let conf = tree.join("nginx/nginx.conf");
        let error_log = tree.join("log/nginx/error.log");
        let args = |t: bool| {
            let mut v: Vec<String> = vec![];
            if t {
                v.push("-t".into());
            }
            v.extend([
                "-p".into(),
                format!("{}/", tree.display()),
                "-c".into(),
                conf.display().to_string(),
                "-e".into(),
                error_log.display().to_string(),
            ]);
            v
        };
        let check = Command::new(nginx_bin)
            .args(args(true))
            .output()
            .map_err(|e| format!("run nginx -t: {e}"))?;
        if !check.status.success() {
            return Err(format!(
                "nginx -t rejects the oracle tree:\n{}",
                String::from_utf8_lossy(&check.stderr)
            ));
        }
        let child = Command::new(nginx_bin)
            .args(args(false))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("start nginx: {e}"))?;
        let mut n = Nginx { child, error_log };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(n);
            }
            if let Ok(Some(status)) = n.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = n.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return Err(format!("nginx exited ({status}): {err}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "nginx did not listen on 127.0.0.1:{port} within 15 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for every name the probes use: the default
/// host, its wildcard, and a wildcard for each regex-generated host's parent.
pub fn test_cert(chosen: &[Chosen]) -> (String, String) {
    let mut names = vec![DEFAULT_HOST.to_string(), format!("*.{DEFAULT_HOST}")];
    for c in chosen {
        for (_, host) in &c.regex_hosts {
            if let Some((_, parent)) = host.split_once('.') {
                names.push(format!("*.{parent}"));
            }
        }
    }
    names.sort();
    names.dedup();
    let ck =
        rcgen::generate_simple_self_signed(names).expect("rcgen makes a self-signed certificate");
    (ck.cert.pem(), ck.signing_key.serialize_pem())
}

/// One request the oracle sends to nginx and asks moat about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Probe {
    /// The corpus file it was generated from.
    pub file: String,
    /// `https` (port 443) or `http` (port 80).
    pub tls: bool,
    /// The original listen port the request goes to.
    pub port: u16,
    /// `Host` and SNI.
    pub host: String,
    /// Method.
    pub method: String,
    /// Raw request target.
    pub target: String,
    /// Extra headers after `Host`.
    pub headers: Vec<(String, String)>,
    /// Last octet of the client's loopback address (`127.0.0.<client>`),
    /// so `allow`/`deny` branches see different clients.
    pub client: u8,
    /// Request body (sent when non-empty, or framed as empty for `POST`).
    pub body: Vec<u8>,
    /// Send the body chunked (two chunks) instead of with `Content-Length`.
    pub chunked: bool,
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        let port = match (self.tls, self.port) {
            (true, 443) | (false, 80) => String::new(),
            (_, p) => format!(":{p}"),
        };
        write!(
            f,
            "{} {scheme}://{}{port}{}",
            self.method, self.host, self.target
        )?;
        for (n, v) in &self.headers {
            write!(f, " [{n}: {v}]")?;
        }
        if self.client != 1 {
            write!(f, " from 127.0.0.{}", self.client)?;
        }
        if !self.body.is_empty() {
            let framing = if self.chunked { "chunked" } else { "length" };
            write!(f, " body {} bytes {framing}", self.body.len())?;
        }
        Ok(())
    }
}

impl Probe {
    /// The header list both sides see, in order.
    pub fn wire_headers(&self) -> Vec<(String, String)> {
        let mut h = vec![("Host".to_string(), self.host.clone())];
        h.extend(self.headers.iter().cloned());
        if self.chunked {
            h.push(("Transfer-Encoding".into(), "chunked".into()));
        } else if self.method == "POST" || !self.body.is_empty() {
            h.push(("Content-Length".into(), self.body.len().to_string()));
        }
        h.push(("Connection".into(), "close".into()));
        h
    }
}

/// The probes for one file: each declared location, sub-paths, queries,
/// encoded characters, regex samples, header-conditioned rewrites, POSTs,
/// and the port-80 redirect for subdomain hosts.
pub fn probes_for(c: &Chosen) -> Vec<Probe> {
    let mut out = BTreeSet::new();
    for (i, scope) in c.scopes.iter().enumerate() {
        let mut hosts = Vec::new();
        if c.subfolder {
            hosts.push(DEFAULT_HOST.to_string());
        } else if let Some(n) = scope
            .names
            .iter()
            .find(|n| n.ends_with(".*") && !n.starts_with('~'))
        {
            hosts.push(format!("{}.{DEFAULT_HOST}", n.trim_end_matches(".*")));
        }
        hosts.extend(
            c.regex_hosts
                .iter()
                .filter(|(s, _)| *s == i)
                .map(|(_, h)| h.clone()),
        );
        for (k, host) in hosts.iter().enumerate() {
            scope_probes(c, scope, host, k == 0, &mut out);
        }
    }
    out.into_iter().collect()
}

fn scope_probes(c: &Chosen, scope: &Scope, host: &str, first: bool, out: &mut BTreeSet<Probe>) {
    {
        let port = if c.subfolder {
            443
        } else {
            scope.ports.first().copied().unwrap_or(443)
        };
        let tls = port != 80;
        let mk = |method: &str, target: String, headers: Vec<(String, String)>| Probe {
            file: c.sample.clone(),
            tls,
            port,
            host: host.to_string(),
            method: method.to_string(),
            target,
            headers,
            client: 1,
            body: vec![],
            chunked: false,
        };
        if first {
            // Client headers: duplicates kept, `Proxy` removed by proxy.conf,
            // X-Forwarded-For appended to, Connection/Upgrade rewritten.
            let h = |n: &str, v: &str| (n.to_string(), v.to_string());
            let path = scope
                .locations
                .iter()
                .find(|l| l.modifier == "^~" || l.modifier.is_empty())
                .map(|l| l.pattern.clone())
                .unwrap_or_else(|| "/".into());
            // An Upgrade that is not a WebSocket handshake: the echo answers
            // 200, and the map `$connection_upgrade` shows in Connection.
            out.insert(mk(
                "GET",
                path.clone(),
                vec![h("Upgrade", "oracle-proto"), h("X-Upgrade-Probe", "1")],
            ));
            out.insert(mk(
                "GET",
                path,
                vec![
                    h("X-Dup", "one"),
                    h("x-dup", "two"),
                    h("Proxy", "http://evil.test"),
                    h("X-Forwarded-For", "10.9.9.9"),
                    h("Cookie", "session=abc; other=1"),
                    h("Accept-Encoding", "gzip"),
                ],
            ));
        }
        if first {
            // nginx matches locations on the normalised, decoded path
            // (dot segments resolved, slashes merged, %XX decoded) but
            // forwards the raw request URI.
            for l in scope
                .locations
                .iter()
                .filter(|l| (l.modifier == "^~" || l.modifier.is_empty()) && l.pattern.len() > 2)
                .take(2)
            {
                let p = &l.pattern;
                let sep = if p.ends_with('/') { "" } else { "/" };
                out.insert(mk("GET", format!("/oracle/..{p}{sep}dot"), vec![]));
                out.insert(mk("GET", format!("/{p}{sep}double-slash"), vec![]));
                let second = p.as_bytes()[1];
                if second.is_ascii_alphanumeric() {
                    out.insert(mk(
                        "GET",
                        format!("/%{second:02X}{}{sep}enc?e=%41", &p[2..]),
                        vec![],
                    ));
                }
            }
        }
        if first && !c.subfolder {
            // The server's other `listen` ports (synapse's 8448): the same
            // server answers there, with that port in `$server_port`.
            for &other in scope
                .ports
                .iter()
                .skip(1)
                .filter(|&&p| p != 80 && p != port)
            {
                out.insert(Probe {
                    port: other,
                    tls: true,
                    ..mk("GET", "/own-port?x=1".into(), vec![])
                });
            }
        }
        if first && !c.subfolder {
            // Names match case-insensitively.
            out.insert(Probe {
                host: host.to_ascii_uppercase(),
                ..mk("GET", "/Upper/Case?Q=1".into(), vec![])
            });
        }
        if first && c.subfolder {
            // A name no server claims lands on the default server too.
            if let Some(l) = scope.locations.iter().find(|l| l.modifier == "^~") {
                out.insert(Probe {
                    host: format!("nomatch.{DEFAULT_HOST}"),
                    ..mk("GET", format!("{}x", l.pattern), vec![])
                });
            }
        }
        let mut paths = Vec::new();
        if !c.subfolder {
            paths.push("/".to_string());
            paths.push("/oracle/a%20b.txt?x=1&y=%2F".to_string());
            out.insert(mk("POST", "/oracle/post?z=9".into(), vec![]));
            if tls {
                out.insert(Probe {
                    tls: false,
                    port: 80,
                    ..mk("GET", "/from-http?q=1".into(), vec![])
                });
            }
        }
        for loc in &scope.locations {
            match loc.modifier.as_str() {
                "@" => {}
                "=" => paths.push(loc.pattern.clone()),
                "" | "^~" => {
                    let p = &loc.pattern;
                    paths.push(p.clone());
                    let sub = if p.ends_with('/') { "sub/x" } else { "/sub/x" };
                    paths.push(format!("{p}{sub}"));
                    paths.push(format!("{p}{sub}?a=1&b=two%20words"));
                    paths.push(format!("{p}{sub}/%7Euser/a%2Fb"));
                }
                m @ ("~" | "~*") => {
                    if let Some(samples) = oracle_conf::regex_samples(&loc.pattern, m == "~*") {
                        for s in samples {
                            let s = if s.starts_with('/') {
                                s
                            } else {
                                format!("/{s}")
                            };
                            paths.push(format!("{s}?q=r"));
                            paths.push(s);
                        }
                    }
                }
                _ => {}
            }
        }
        for p in &paths {
            out.insert(mk("GET", p.clone(), vec![]));
        }
        // Every fourth path again as a POST: the method must pass through.
        for p in paths.iter().step_by(4) {
            out.insert(mk("POST", p.clone(), vec![]));
        }
        // grpc_pass needs an HTTP/2 upstream, which moat-echo is not.
        for hif in scope.header_ifs.iter().filter(|h| !h.grpc) {
            let ci = hif.op == "~*";
            let value = match hif.op.as_str() {
                "=" => hif.value.clone(),
                _ => oracle_conf::regex_samples(&hif.value, ci)
                    .and_then(|v| v.into_iter().next())
                    .unwrap_or_else(|| hif.value.clone()),
            };
            let value = if hif.header == "referer" {
                format!(
                    "https://{host}{}{value}",
                    if value.starts_with('/') { "" } else { "/" }
                )
            } else {
                value
            };
            let header = vec![(hif.header.clone(), value)];
            let mut targets = vec!["/".to_string()];
            for rw in &hif.rewrites {
                if let Some(s) = oracle_conf::regex_samples(rw, false) {
                    targets.extend(s.into_iter().map(|t| format!("{t}?dropped=1")));
                }
            }
            for t in targets {
                out.insert(mk("GET", t, header.clone()));
            }
        }
    }
}

/// Requests for default.conf's own locations (no corpus file): the static
/// `location /` (no `/config/www/index.html` in the test tree, so a
/// missing file's `try_files` ends in the PHP location's `return 404`), the
/// PHP regex, and `~ /\.ht` (`deny all`).
pub fn default_server_probes() -> Vec<Probe> {
    let mk = |target: &str| Probe {
        file: "site-confs/default.conf".into(),
        tls: true,
        port: 443,
        host: DEFAULT_HOST.into(),
        method: "GET".into(),
        target: target.into(),
        headers: vec![],
        client: 1,
        body: vec![],
        chunked: false,
    };
    vec![
        mk("/oracle-static/missing.html"),
        mk("/oracle-static/dir/"),
        mk("/index.php"),
        mk("/app/info.php/extra?x=1"),
        mk("/.htaccess"),
        mk("/sub/.htpasswd"),
    ]
}

/// What happened to a request, in terms both sides can produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded to an upstream.
    Proxied {
        /// Upstream name (`$upstream_app`).
        app: String,
        /// Upstream port.
        port: u16,
        /// TLS to the upstream.
        tls: bool,
        /// Method the upstream got.
        method: String,
        /// Request target the upstream got.
        target: String,
        /// Every `Host` header the upstream got, in order.
        host: Vec<String>,
    },
    /// A redirect with its normalised `Location`.
    Redirect {
        /// 301, 302, ...
        status: u16,
        /// Absolute URL with default ports dropped.
        location: String,
    },
    /// Answered locally with this status.
    Status(u16),
    /// A 200 whose body is one of [`STATIC_FILES`]: the file the static
    /// handler served, by its contents.
    File(String),
    /// The harness failed to get an answer.
    Failed(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Proxied {
                app,
                port,
                tls,
                method,
                target,
                host,
            } => {
                let s = if *tls { "https" } else { "http" };
                write!(
                    f,
                    "proxy {method} {s}://{app}:{port}{target} Host: {host:?}"
                )
            }
            Outcome::Redirect { status, location } => write!(f, "{status} -> {location}"),
            Outcome::Status(s) => write!(f, "status {s}"),
            Outcome::File(c) => write!(f, "file {c:?}"),
            Outcome::Failed(e) => write!(f, "FAILED: {e}"),
        }
    }
}

/// The `Host` values in a JSON list of `[name, value]` pairs (the echo
/// backend's record of a request, `moat explain`'s `upstream_headers`).
pub fn host_values(headers: &serde_json::Value) -> Vec<String> {
    headers
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| {
            h[0].as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("host"))
        })
        .map(|h| h[1].as_str().unwrap_or("").to_string())
        .collect()
}

/// Makes a `Location` comparable: relative → absolute on the probe's scheme
/// and host (nginx's `absolute_redirect on`), the oracle's loopback ports
/// mapped back to the original ones, default ports dropped.
pub fn normalize_location(loc: &str, probe: &Probe, ports: &BTreeMap<u16, u16>) -> String {
    if loc.starts_with('/') {
        let scheme = if probe.tls { "https" } else { "http" };
        return normalize_location(&format!("{scheme}://{}{loc}", probe.host), probe, ports);
    }
    let Some((scheme, rest)) = loc.split_once("://") else {
        return loc.to_string();
    };
    let split = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h, Some(p.parse::<u16>().unwrap())),
        _ => (authority, None),
    };
    let port = port.map(|p| {
        ports
            .iter()
            .find(|(_, mapped)| **mapped == p)
            .map(|(orig, _)| *orig)
            .unwrap_or(p)
    });
    let port = match (scheme, port) {
        ("https", Some(443)) | ("http", Some(80)) | (_, None) => String::new(),
        (_, Some(p)) => format!(":{p}"),
    };
    format!("{scheme}://{}{port}{path}", host.to_ascii_lowercase())
}

/// The pseudo header [`ask_nginx`] appends to a proxied probe's header
/// list: the length and SHA-256 of the body the upstream read.
pub const BODY_LEN: &str = "(body-len)";

/// Sends `probe` to nginx and classifies its answer; when it was proxied,
/// also returns the header list the upstream received.
pub fn ask_nginx(
    probe: &Probe,
    ports: &BTreeMap<u16, u16>,
    apps_by_ip: &BTreeMap<Ipv4Addr, String>,
    tls: &Arc<rustls::ClientConfig>,
) -> (Outcome, Vec<(String, String)>) {
    let port = ports[&probe.port];
    let mut req = format!("{} {} HTTP/1.1\r\n", probe.method, probe.target);
    for (n, v) in probe.wire_headers() {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut req = req.into_bytes();
    if probe.chunked {
        let (a, b) = probe.body.split_at(probe.body.len() / 2);
        for part in [a, b].into_iter().filter(|c| !c.is_empty()) {
            req.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            req.extend_from_slice(part);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
    } else {
        req.extend_from_slice(&probe.body);
    }
    let raw = match exchange(port, probe, &req, tls) {
        Ok(r) => r,
        Err(e) => return (Outcome::Failed(e), vec![]),
    };
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (
            Outcome::Failed("response has no complete head".into()),
            vec![],
        );
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    let body = &raw[head_end + 4..];
    let mut lines = head.lines();
    let status: u16 = match lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::parse)
    {
        Some(Ok(s)) => s,
        _ => {
            return (
                Outcome::Failed(format!("bad status line in {head:?}")),
                vec![],
            )
        }
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    classify(status, &headers, &body, probe, ports, apps_by_ip)
}

/// An answer (status, response headers, body without framing) in the
/// oracle's terms: a redirect, the echo's record of a proxied request (its
/// JSON body, or for a WebSocket upgrade its `X-Echo-Request` header), or a
/// local status. For a proxied request, also the header list the upstream
/// received, with [`BODY_LEN`] last.
pub fn classify(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    probe: &Probe,
    ports: &BTreeMap<u16, u16>,
    apps_by_ip: &BTreeMap<Ipv4Addr, String>,
) -> (Outcome, Vec<(String, String)>) {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if (300..400).contains(&status) {
        if let Some(loc) = header("location") {
            return (
                Outcome::Redirect {
                    status,
                    location: normalize_location(&loc, probe, ports),
                },
                vec![],
            );
        }
    }
    let record = match (status, header("x-echo-request")) {
        (101, Some(b64)) => {
            use base64::Engine as _;
            match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
                Ok(json) => json,
                Err(e) => return (Outcome::Failed(format!("X-Echo-Request: {e}")), vec![]),
            }
        }
        (200, _) if header("x-echo-name").is_some() => body.to_vec(),
        (200, None) if body.starts_with(STATIC_MARK.as_bytes()) => {
            let file = String::from_utf8_lossy(body).trim().to_string();
            return (Outcome::File(file), vec![]);
        }
        _ => return (Outcome::Status(status), vec![]),
    };
    let v: serde_json::Value = match serde_json::from_slice(&record) {
        Ok(v) => v,
        Err(e) => {
            return (
                Outcome::Failed(format!("echo record is not JSON: {e}")),
                vec![],
            )
        }
    };
    let local: SocketAddr = v["local_addr"].as_str().unwrap_or("").parse().unwrap();
    let app = match local.ip() {
        std::net::IpAddr::V4(ip) => apps_by_ip.get(&ip).cloned(),
        _ => None,
    }
    .unwrap_or_else(|| format!("?{}", local.ip()));
    let mut headers: Vec<(String, String)> = v["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            (
                h[0].as_str().unwrap_or("").to_string(),
                h[1].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    // What the upstream counted, as a pseudo header (see BODY_LEN).
    headers.push((
        BODY_LEN.into(),
        format!(
            "{} sha256 {}",
            v["body_len"],
            v["body_sha256"].as_str().unwrap_or("?")
        ),
    ));
    let outcome = Outcome::Proxied {
        app,
        port: local.port(),
        tls: v["tls"].as_bool().unwrap_or(false),
        method: v["method"].as_str().unwrap_or("").to_string(),
        target: v["target"].as_str().unwrap_or("").to_string(),
        host: host_values(&v["headers"]),
    };
    (outcome, headers)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
}

/// A connection to `127.0.0.1:port` from `127.0.0.<client>`. The source
/// port is picked at connect time (`IP_BIND_ADDRESS_NO_PORT`), as for an
/// unbound client, so a bound client never holds a port another test's
/// listener was just given by `free_port`.
pub fn connect_from(client: u8, port: u16) -> std::io::Result<TcpStream> {
    use std::os::fd::AsRawFd;
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket, and a pointer to an int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    sock.bind(&SocketAddr::from((Ipv4Addr::new(127, 0, 0, client), 0)).into())?;
    sock.connect(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    Ok(sock.into())
}

/// Writes `req` and reads until the server closes.
fn exchange(
    port: u16,
    probe: &Probe,
    req: &[u8],
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Vec<u8>, String> {
    let mut tcp = connect_from(probe.client, port).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut out = Vec::new();
    if probe.tls {
        let name = rustls_pki_types::ServerName::try_from(probe.host.clone())
            .map_err(|e| format!("SNI {}: {e}", probe.host))?;
        let conn = rustls::ClientConnection::new(tls.clone(), name).map_err(|e| e.to_string())?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        s.write_all(req).map_err(|e| format!("TLS write: {e}"))?;
        match s.read_to_end(&mut out) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {}
            Err(e) => return Err(format!("TLS read: {e}")),
        }
    } else {
        tcp.write_all(req).map_err(|e| format!("write: {e}"))?;
        tcp.read_to_end(&mut out)
            .map_err(|e| format!("read: {e}"))?;
    }
    Ok(out)
}

/// A TLS client that trusts the oracle's own certificate.
pub fn client_config(cert_pem: &str) -> Arc<rustls::ClientConfig> {
    let der = pem_to_der(cert_pem);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(der))
        .expect("the oracle's certificate is a valid trust anchor");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("rcgen writes valid PEM")
}

/// The same request as moat's [`moat::conf::RequestInfo`].
pub fn request_info(probe: &Probe) -> moat::conf::RequestInfo {
    moat::conf::RequestInfo {
        method: probe.method.clone(),
        tls: probe.tls,
        server_port: probe.port,
        host: Some(probe.host.clone()),
        sni: probe.tls.then(|| probe.host.clone()),
        uri: probe.target.clone(),
        headers: probe.wire_headers(),
        remote: SocketAddr::from((Ipv4Addr::new(127, 0, 0, probe.client), 50000)),
        proxy_protocol: None,
        client_certs: None,
    }
}

/// moat's decision in the oracle's terms. `Static` counts as 404: the
/// probes compared in process never name a file the test tree's `www/`
/// holds (those are the wire-only `static` class), so nginx's `try_files`
/// ends in the PHP location's `return 404`.
pub fn moat_outcome(
    table: &moat::conf::RouteTable,
    probe: &Probe,
    ports: &BTreeMap<u16, u16>,
) -> Outcome {
    use moat::conf::Action;
    let info = request_info(probe);
    let d = table.decide(&info);
    match d.action {
        // An `error_page ... =code` (or without `=`) answers the upstream's
        // response with its own status.
        Action::Proxy(_) | Action::Grpc(_) if d.status_override.is_some() => {
            Outcome::Status(d.status_override.unwrap_or_default())
        }
        Action::Proxy(t) | Action::Grpc(t) => Outcome::Proxied {
            app: t.host.clone(),
            port: t.port,
            tls: t.scheme == "https" || t.scheme == "grpcs",
            method: t.method.clone().unwrap_or_else(|| probe.method.clone()),
            target: t.path_and_query.clone(),
            host: t
                .headers
                .list(&info.headers)
                .into_iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
                .map(|(_, v)| v)
                .collect(),
        },
        Action::Return {
            status,
            location: Some(l),
            ..
        } if (300..400).contains(&status) => Outcome::Redirect {
            status,
            location: normalize_location(&l, probe, ports),
        },
        Action::Return { status, .. } => Outcome::Status(status),
        Action::Deny { status } => Outcome::Status(status),
        Action::Static { .. } | Action::NotFound => Outcome::Status(404),
        Action::Unauthorized { .. } => Outcome::Status(401),
        Action::Unavailable { .. } | Action::Unsupported { .. } => Outcome::Status(503),
        #[allow(unreachable_patterns)]
        _ => Outcome::Failed("unknown moat action".into()),
    }
}

/// The oracle's own conf for request classes the corpus never exercises
/// (issue 18): `internal` locations reached by rewrites and refused from
/// outside, `rewrite ... break` URIs re-escaped for `proxy_pass` (a decoded
/// `?`, `%`, space, `#` or `"` captured into the new URI), and bytes that
/// are not UTF-8. Activated like a corpus file, probed by [`parity_probes`].
pub const PARITY_SAMPLE: &str = "oracle-parity.subdomain.conf.sample";

const PARITY_CONF: &str = r#"## moat oracle: request classes the corpus does not exercise
server {
    listen 443 ssl;
    server_name parity.*;
    include /config/nginx/ssl.conf;

    set $upstream_app parity-app;
    set $upstream_port 8080;
    set $upstream_proto http;

    rewrite ^/srv-secret(.*)$ /secret$1;

    location / {
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location = /secret {
        internal;
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location /hidden/ {
        internal;
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location ~ ^/rx-hidden/ {
        internal;
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location /auto/ {
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location = /exact-auto/ {
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location /to-secret {
        rewrite ^ /secret last;
    }
    location /to-hidden/ {
        rewrite ^/to-hidden/(.*)$ /hidden/$1 last;
    }
    location /to-rx/ {
        rewrite ^/to-rx/(.*)$ /rx-hidden/$1 last;
    }
    location /flagless/ {
        rewrite ^/flagless/(.*)$ /hidden/$1;
    }
    location /brk/ {
        rewrite ^/brk/(.*)$ /b/$1 break;
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location /brkq/ {
        rewrite ^/brkq/(.*)$ /b/$1?from=brkq break;
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location /brkdrop/ {
        rewrite ^/brkdrop/(.*)$ /b/$1? break;
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location /acl-allow/ {
        allow 127.0.0.3;
        allow 127.0.0.4/31;
        deny all;
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location /acl-deny/ {
        deny 127.0.0.5;
        allow all;
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location ~ ^/acl-rx/ {
        deny 127.0.0.6/31;
        allow 127.0.0.0/29;
        deny all;
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location /acl-to-hidden/ {
        allow 127.0.0.2;
        deny all;
        rewrite ^/acl-to-hidden/(.*)$ /hidden/$1 last;
    }
    location /last-a/ {
        rewrite ^/last-a/(.*)$ /last-b/$1 last;
    }
    location /last-b/ {
        rewrite ^/last-b/(.*)$ /b/$1?via=last-b last;
    }
    location ~ ^/last-rx/(\w+) {
        rewrite ^/last-rx/(\w+)(.*)$ /last-a/$1$2 last;
    }
    location /last-int/ {
        rewrite ^/last-int/(.*)$ /secret last;
    }
    location /last-chain/ {
        rewrite ^/last-chain/(.*)$ /to-hidden/$1 last;
    }
    location /last-loop/ {
        rewrite ^/last-loop/(.*)$ /last-pool/$1 last;
    }
    location /last-pool/ {
        rewrite ^/last-pool/(.*)$ /last-loop/$1 last;
    }
    location = /last-self {
        rewrite ^ /last-self last;
    }
    location /ep-ret/ {
        error_page 404 = /hidden/from-error-page;
        return 404;
    }
    location /ep-code/ {
        error_page 404 =202 /hidden/with-code;
        return 404;
    }
    location /ep-deny/ {
        deny all;
        error_page 403 = /secret;
    }
    location /ep-named/ {
        error_page 418 = @parity_named;
        return 418;
    }
    location /ep-plain/ {
        error_page 410 /hidden/plain;
        return 410;
    }
    location @parity_named {
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }
    location /tf-named/ {
        try_files $uri @parity_named;
    }
    location /tf-int/ {
        try_files $uri /secret;
    }
    location /tf-hidden/ {
        try_files $uri $uri/ /hidden/tf$uri?via=tf;
    }
    location /tf-rx/ {
        try_files /nothing-here /rx-hidden/tf$uri;
    }
}
"#;

/// [`PARITY_CONF`] as a chosen file.
pub fn parity_chosen() -> Chosen {
    let stmts = oracle_conf::parse(PARITY_CONF).expect("the parity conf parses");
    Chosen {
        sample: PARITY_SAMPLE.into(),
        text: PARITY_CONF.into(),
        scopes: oracle_conf::scopes(&stmts),
        upstreams: oracle_conf::upstreams(&stmts),
        subfolder: false,
        regex_hosts: vec![],
    }
}

/// The classes [`parity_probes`] generates, each with the least number of
/// probes that must be compared with nginx in a run.
pub const PARITY_CLASSES: &[(&str, usize)] = &[
    ("internal", 15),
    ("escape", 14),
    ("bytes", 8),
    ("access", 60),
    ("last", 80),
    ("fallback", 30),
];

/// Probe classes only the wire comparison checks, with their floors: what
/// the proxy's edge drops or rewrites before the route table sees a
/// request (the in-process comparisons skip them). `underscore`: header
/// names with `_`, which nginx ignores; `absolute`: absolute-form request
/// targets; `malformed`: a header line nginx refuses with 400; `body`:
/// `POST` bodies with `Content-Length` or chunked (the framing headers and
/// body length the upstream got are compared); `static`: SWAG's default
/// server serving [`STATIC_FILES`] under every spelling of their paths
/// (see [`static_probes`]).
pub const WIRE_CLASSES: &[(&str, usize)] = &[
    ("underscore", 20),
    ("absolute", 20),
    ("malformed", 5),
    ("body", 30),
    ("static", 250),
];

/// How every [`STATIC_FILES`] body starts, so [`classify`] can tell a
/// served file from any other 200.
pub const STATIC_MARK: &str = "oracle-static-file:";

/// Files under both trees' `www/` for the `static` class: `(path under
/// www, base request paths that reach or circle it)`. All sit under `s/`,
/// so default.conf's `location /` finds no `index.html` at the root and a
/// missing file still ends in the PHP location's 404 (which
/// [`default_server_probes`] and the in-process comparisons rely on).
/// `.ht*` files are what SWAG's `location ~ /\.ht { deny all; }` keeps
/// from being served; `noindex/` is a directory without an index (403);
/// `a%2Fb` has a percent sign in its name. No `.php` file: where one
/// exists, default.conf's PHP location passes it to FastCGI (nginx 502
/// without php-fpm), which moat refuses with 503 by design.
pub const STATIC_FILES: &[(&str, &[&str])] = &[
    ("s/index.html", &["/s/", "/s/index.html", "/s"]),
    ("s/file.txt", &["/s/file.txt", "/s/file.txt?x=1&y=%2F"]),
    ("s/.htpasswd", &["/s/.htpasswd"]),
    ("s/.htaccess", &["/s/.htaccess"]),
    ("s/sub/index.html", &["/s/sub/", "/s/sub"]),
    ("s/sub/f.txt", &["/s/sub/f.txt"]),
    ("s/noindex/f.txt", &["/s/noindex/", "/s/noindex/f.txt"]),
    ("s/a%2Fb", &["/s/a%2Fb", "/s/a%252Fb"]),
    ("s/.hidden/x.txt", &["/s/.hidden/x.txt"]),
];

/// The contents of the static file at `rel` under `www/`.
pub fn static_body(rel: &str) -> String {
    format!("{STATIC_MARK} {rel}\n")
}

/// (Re)writes [`STATIC_FILES`] under `config`'s `www/`, as `write_trees`
/// did; for a tree whose `www/` moat replaced at its first start.
pub fn write_static_www(config: &Path) {
    for (rel, _) in STATIC_FILES {
        write(&config.join("www").join(rel), &static_body(rel));
    }
}

/// The `static` class: every spelling [`static_paths::variants`] makes of
/// every base path in [`STATIC_FILES`], to the default server, with `GET`
/// (and `HEAD` and `POST` on the bases themselves: nginx's static module
/// answers `POST` to a file with 405), from clients 127.0.0.1..=4.
pub fn static_probes() -> Vec<Probe> {
    let mk = |method: &str, target: String, client: u8| Probe {
        file: "static:site-confs/default.conf".into(),
        tls: true,
        port: 443,
        host: DEFAULT_HOST.into(),
        method: method.into(),
        target,
        headers: vec![],
        client,
        body: vec![],
        chunked: false,
    };
    let mut targets = BTreeSet::new();
    let mut out = Vec::new();
    for (_, bases) in STATIC_FILES {
        for base in *bases {
            for method in ["HEAD", "POST"] {
                out.push(mk(method, base.to_string(), 1));
            }
            targets.extend(static_paths::variants(base));
        }
    }
    for (i, t) in targets.into_iter().enumerate() {
        out.push(mk("GET", t, 1 + (i % 4) as u8));
    }
    out
}

/// The wire-only class of a probe (its `file` is `<class>:<sample>`).
pub fn wire_class(p: &Probe) -> Option<&'static str> {
    WIRE_CLASSES.iter().map(|(c, _)| *c).find(|c| {
        p.file
            .strip_prefix(c)
            .is_some_and(|rest| rest.starts_with(':'))
    })
}

/// [`WIRE_CLASSES`] probes made from the first plain HTTPS `GET` of up to
/// 40 files in `base`, and the `static` class ([`static_probes`]).
pub fn wire_probes(base: &[Probe]) -> Vec<Probe> {
    let mut files = BTreeSet::new();
    let picked: Vec<&Probe> = base
        .iter()
        .filter(|p| p.tls && p.port == 443 && p.method == "GET" && p.headers.is_empty())
        .filter(|p| p.target.starts_with('/') && parity_class(p).is_none())
        .filter(|p| files.insert(p.file.clone()))
        .take(40)
        .collect();
    let h = |n: &str, v: &str| (n.to_string(), v.to_string());
    let mut out = Vec::new();
    for (i, p) in picked.into_iter().enumerate() {
        let variant = |class: &str| Probe {
            file: format!("{class}:{}", p.file),
            ..p.clone()
        };
        let mut under = variant("underscore");
        under.headers = vec![h("X_Under_Score", "1"), h("X-Normal", "2")];
        out.push(under);
        let mut absolute = variant("absolute");
        absolute.target = format!("https://{}{}", p.host, p.target);
        out.push(absolute);
        let mut post = variant("body");
        post.method = "POST".into();
        post.body = format!("oracle body {i}: a=1&b=%20\n")
            .repeat(1 + i % 7)
            .into_bytes();
        post.chunked = i % 2 == 1;
        out.push(post);
        if i % 5 == 0 {
            let mut bad = variant("malformed");
            bad.headers = vec![h("Bad Header", "1")];
            out.push(bad);
        }
    }
    out.extend(static_probes());
    out
}

/// The parity class a probe belongs to, if any.
pub fn parity_class(p: &Probe) -> Option<&'static str> {
    if p.file != PARITY_SAMPLE {
        return None;
    }
    let t = p.target.as_str();
    let bytes = ["%FF", "%ff", "%FE", "%C3", "%E9"];
    if t.starts_with("/acl-") {
        Some("access")
    } else if t.starts_with("/last-") {
        Some("last")
    } else if t.starts_with("/ep-") || t.starts_with("/tf-") {
        Some("fallback")
    } else if bytes.iter().any(|b| t.contains(b)) {
        Some("bytes")
    } else if ["/brk", "/to-hidden/a%"].iter().any(|s| t.starts_with(s)) {
        Some("escape")
    } else {
        Some("internal")
    }
}

/// Requests for [`PARITY_CONF`]; see [`PARITY_CLASSES`].
pub fn parity_probes() -> Vec<Probe> {
    let mk = |target: &str| Probe {
        file: PARITY_SAMPLE.into(),
        tls: true,
        port: 443,
        host: format!("parity.{DEFAULT_HOST}"),
        method: "GET".into(),
        target: target.into(),
        headers: vec![],
        client: 1,
        body: vec![],
        chunked: false,
    };
    [
        // internal: refused from outside, reached by rewrites.
        "/secret",
        "/secret?x=1",
        "/%73ecret",
        "/hidden/",
        "/hidden/x",
        "/rx-hidden/x",
        "/HIDDEN/x",
        "/hidden",
        "/hidden?x=1",
        "/auto",
        "/auto?x=1",
        "/%61uto",
        "/auto/x",
        "/exact-auto",
        "/exact-auto/",
        "/to-hidden",
        "/to-secret",
        "/to-secret?a=b",
        "/to-hidden/x",
        "/to-hidden/a/b?q=1",
        "/to-rx/y",
        "/flagless/z",
        "/flagless/z?k=v",
        "/srv-secret",
        "/srv-secretx",
        "/srv-secret?s=1",
        // escape: what a rewrite captured goes upstream escaped again.
        "/brk/a%3Fb",
        "/brk/a%3Fb?q=1",
        "/brk/a%25b",
        "/brk/a%20b",
        "/brk/a%23b",
        "/brk/a%22b",
        "/brk/%3F",
        "/brk/a+b",
        "/brk/%7E/x",
        "/brk/a%26b=c",
        "/brkq/a%3Fb",
        "/brkq/a%3Fb?orig=1",
        "/brkq/x%26y",
        "/brkdrop/a%3Fb?orig=1",
        "/to-hidden/a%3Fb",
        "/to-hidden/a%23b?z=1",
        // bytes that are not UTF-8, with and without a rewrite.
        "/brk/%FF",
        "/brk/a%FFb%FE",
        "/brk/%C3%A9",
        "/brk/%C3",
        "/brk/%E9t%E9",
        "/to-hidden/%FF",
        "/plain/%FF",
        "/plain/%ff?x=%FF",
        "/brkq/%FF?o=%FE",
    ]
    .into_iter()
    .map(mk)
    .chain(fallback_probes(mk))
    .chain(class_probes(mk))
    .collect()
}

/// The `fallback` probes: `error_page` into an `internal` location (with
/// `=`, `=code`, without, into a named location, after `deny`) and
/// `try_files` falling back to a named or an `internal` location, with
/// `GET` and `POST` (an `error_page` redirect makes a `POST` a `GET`).
fn fallback_probes(mk: impl Fn(&str) -> Probe) -> Vec<Probe> {
    let targets = [
        "/ep-ret/x",
        "/ep-ret/x?q=1",
        "/ep-code/y",
        "/ep-deny/z",
        "/ep-deny/z?k=v",
        "/ep-named/n",
        "/ep-named/n?a=b",
        "/ep-plain/p",
        "/tf-named/a",
        "/tf-named/a?b=c",
        "/tf-int/i",
        "/tf-hidden/h",
        "/tf-hidden/h?orig=1",
        "/tf-hidden/",
        "/tf-rx/r",
        "/tf-rx/r%20s",
        "/tf-named/%FF",
    ];
    let mut out = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let mut p = mk(t);
        p.client = 1 + (i % 9) as u8;
        out.push(p.clone());
        p.method = "POST".into();
        p.body = format!("fallback {t}").into_bytes();
        out.push(p);
    }
    out
}

/// The `access` probes (`allow`/`deny` seen from clients 127.0.0.1..=9)
/// and the `last` probes (`rewrite ... last` re-entering location
/// matching, into `internal` locations, and loops nginx ends with 500),
/// each path from every client.
fn class_probes(mk: impl Fn(&str) -> Probe) -> Vec<Probe> {
    let access = [
        "/acl-allow/x",
        "/acl-allow/?q=1",
        "/acl-deny/y",
        "/acl-rx/z?a=b",
        "/acl-to-hidden/h",
    ];
    let last = [
        "/last-a/x",
        "/last-a/x?q=1",
        "/last-b/y",
        "/last-rx/abc/d?e=f",
        "/last-int/s",
        "/last-chain/c?k=v",
        "/last-loop/l",
        "/last-pool/p",
        "/last-self",
        "/last-self?x=1",
    ];
    let mut out = Vec::new();
    for client in 1..=9u8 {
        for t in access.iter().chain(&last) {
            let mut p = mk(t);
            p.client = client;
            out.push(p);
        }
    }
    out
}
