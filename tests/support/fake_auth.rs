//! Fake forward-auth servers and recording apps for the auth_request tests,
//! written from each project's published nginx contract:
//!
//! - Authelia's AuthRequest endpoint (`/api/authz/auth-request`): 200 with
//!   `Remote-User`, `Remote-Groups`, `Remote-Name`, `Remote-Email` for a
//!   valid session cookie; 401 with `Location` (the portal, `rd` = the
//!   percent-encoded `X-Original-URL`, `rm` = `X-Original-Method`) otherwise.
//! - Authentik's proxy outpost: `/outpost.goauthentik.io/auth/nginx` (200 with
//!   `X-authentik-*` or 401 with the outpost's session cookie), `/start` (302
//!   to the authorize URL), `/ping` (204).
//! - Tinyauth's `/api/auth/nginx`: 200 with `Remote-*` for a session cookie
//!   or good basic credentials, 401 otherwise.
//! - nginx-ldap-auth's daemon (port 8888): 200 for good basic credentials in
//!   `Authorization` or in the cookie `X-CookieName` names (base64
//!   `user:pass`), else 401 with `WWW-Authenticate: Basic realm="Restricted"`;
//!   its login page (port 9000) answers 200 with a form.
//! - An app: 200 with what it received, as JSON.
//!
//! Every server records every request it got (method, target, headers with
//! duplicates, body bytes) so a test asserts what reached it. Each answers
//! with `Connection: close` and keeps reading until the peer closes, so a
//! request counts as settled only when nothing more can arrive: bytes a
//! proxy sent after the head (a body it should not have sent) are seen.
//! [`Mode::Slow`] reads the request and never answers; [`Mode::Down`] closes
//! the listening socket (connections are refused) until the mode changes.
//!
//! Include with `#[path = "support/fake_auth.rs"] mod fake_auth;`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

/// One request a fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Which fake (`authelia`, `sonarr`, ...).
    pub server: String,
    /// Request method.
    pub method: String,
    /// Raw request target.
    pub target: String,
    /// HTTP version from the request line.
    pub version: String,
    /// Headers in order, duplicates kept, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body bytes after the head (chunked bodies decoded).
    pub body: Vec<u8>,
    /// The peer closed (or the fake gave up waiting): nothing more arrives.
    pub done: bool,
    /// The fake answered (false for [`Mode::Slow`]).
    pub answered: bool,
    /// [`Mode::Slow`] held the request for [`SLOW_HOLD`] and the peer was
    /// still waiting (it has no timeout shorter than that).
    pub outwaited: bool,
}

impl Seen {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query part of the target (without `?`).
    pub fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    /// A cookie's value from every `Cookie` header.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.all("cookie")
            .iter()
            .flat_map(|h| h.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// `user:pass` from an `Authorization: Basic` header.
    pub fn basic(&self) -> Option<String> {
        let v = self.header("authorization")?;
        let (scheme, b64) = v.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        String::from_utf8(raw).ok()
    }
}

/// What a fake answers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers besides Content-Length and Connection.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl Reply {
    /// A reply with no headers.
    pub fn new(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// How a fake behaves right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answers.
    Up,
    /// Reads the request, never answers (a timeout for the proxy).
    Slow,
    /// Not listening: connections are refused.
    Down,
    /// Up, every open connection closed first (a restart: pooled
    /// connections are dead).
    Restarted,
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// A running fake on one address.
pub struct Fake {
    /// Its name in records.
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// How long a fake waits for more bytes from a peer that keeps the
/// connection open after the answer (a proxy ignoring `Connection: close`).
const LINGER: Duration = Duration::from_secs(2);
/// How long [`Mode::Slow`] holds a request before giving up: longer than
/// the tests' `proxy_read_timeout 3`, short enough to keep a proxy that
/// ignores it from stalling the test.
pub const SLOW_HOLD: Duration = Duration::from_secs(8);

impl Fake {
    /// Binds `addr` and serves `handler`, one request per connection
    /// (`Connection: close`). With `read_body`, a `Content-Length` body is
    /// read before answering (an app); without, the answer goes out after
    /// the head and whatever follows is recorded (an auth server, which
    /// should never get a body).
    pub fn start(
        name: &str,
        addr: SocketAddr,
        read_body: bool,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Fake {
        Fake::spawn(name, addr, read_body, false, Arc::new(handler))
    }

    /// [`Fake::start`] for a server that keeps connections open between
    /// requests (HTTP/1.1 keep-alive, as Go's net/http does), so a proxy's
    /// pooled connections are used; bodies are framed by Content-Length or
    /// chunking and read before answering.
    pub fn start_keep_alive(
        name: &str,
        addr: SocketAddr,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Fake {
        Fake::spawn(name, addr, false, true, Arc::new(handler))
    }

    fn spawn(
        name: &str,
        addr: SocketAddr,
        read_body: bool,
        keep_alive: bool,
        handler: Handler,
    ) -> Fake {
        let listener =
            TcpListener::bind(addr).unwrap_or_else(|e| panic!("fake {name} binds {addr}: {e}"));
        let fake = Fake {
            name: name.into(),
            addr,
            mode: Arc::new(Mutex::new(Mode::Up)),
            seen: Arc::default(),
            conns: Arc::default(),
            accepted: Arc::default(),
            stop: Arc::default(),
        };
        let sh = Shared {
            name: name.to_string(),
            read_body,
            keep_alive,
            handler,
            mode: fake.mode.clone(),
            seen: fake.seen.clone(),
        };
        let (conns, accepted, stop) =
            (fake.conns.clone(), fake.accepted.clone(), fake.stop.clone());
        std::thread::spawn(move || accept_loop(listener, addr, sh, conns, accepted, stop));
        fake
    }

    /// Closes every open connection (a server restart, or its idle
    /// timeout): a proxy's pooled connections are dead from now on.
    pub fn close_connections(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Changes the mode; waits until a `Down` fake refuses connections or an
    /// `Up` one accepts them again.
    pub fn set_mode(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
        if matches!(m, Mode::Down | Mode::Restarted) {
            self.close_connections();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let listening = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200))
                .map(|s| {
                    // A probe connection only: closed at once, never recorded
                    // (no head arrives).
                    let _ = s.shutdown(Shutdown::Both);
                })
                .is_ok();
            if listening == (m != Mode::Down) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("fake {} did not switch to {m:?}", self.name);
    }

    /// How many connections it accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Every request recorded so far, cleared.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// `true` when every recorded request is settled.
    pub fn settled(&self) -> bool {
        self.seen.lock().unwrap().iter().all(|s| s.done)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    sh: Shared,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut listener = Some(listener);
    while !stop.load(Ordering::Relaxed) {
        let m = *sh.mode.lock().unwrap();
        match (m, listener.is_some()) {
            (Mode::Down, true) => {
                listener = None;
                continue;
            }
            (Mode::Down, false) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            (_, false) => match TcpListener::bind(addr) {
                Ok(l) => listener = Some(l),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            },
            _ => {}
        }
        let l = listener.as_ref().unwrap();
        l.set_nonblocking(true).unwrap();
        match l.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                accepted.fetch_add(1, Ordering::Relaxed);
                if let Ok(c) = stream.try_clone() {
                    conns.lock().unwrap().push(c);
                }
                let sh = sh.clone();
                std::thread::spawn(move || serve(stream, sh));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// What a connection thread shares with its fake.
#[derive(Clone)]
struct Shared {
    name: String,
    read_body: bool,
    keep_alive: bool,
    handler: Handler,
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn serve(mut stream: TcpStream, sh: Shared) {
    let mut buf = Vec::new();
    while serve_one(&mut stream, &mut buf, &sh) {}
    let _ = stream.shutdown(Shutdown::Both);
}

/// Serves one request from `stream` (`buf` holds bytes already read);
/// `true` when the connection stays open for another.
fn serve_one(stream: &mut TcpStream, buf: &mut Vec<u8>, sh: &Shared) -> bool {
    // An idle kept-alive connection waits for the peer (or for the fake to
    // close it); a fresh one gets 5 s to send its head.
    let idle = if buf.is_empty() && sh.keep_alive {
        None
    } else {
        Some(Duration::from_secs(5))
    };
    let _ = stream.set_read_timeout(idle);
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut rest = buf[head_end + 4..].to_vec();
    buf.clear();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let version = first.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut req = Seen {
        server: sh.name.clone(),
        method,
        target,
        version,
        headers,
        body: vec![],
        done: false,
        answered: false,
        outwaited: false,
    };
    let index = {
        let mut s = sh.seen.lock().unwrap();
        s.push(req.clone());
        s.len() - 1
    };
    let update = |r: &Seen| {
        if let Some(slot) = sh.seen.lock().unwrap().get_mut(index) {
            *slot = r.clone();
        }
    };
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    // A kept-alive connection is framed: the body is what Content-Length
    // or chunking says, read before answering.
    let framed = sh.read_body || sh.keep_alive;
    if chunked {
        // The end of a chunked body is in the stream itself.
        req.body = read_chunked(stream, &mut rest);
    } else if framed {
        let len: usize = req
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while rest.len() < len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
            }
        }
        let extra = rest.split_off(len.min(rest.len()));
        req.body = std::mem::replace(&mut rest, extra);
    } else {
        req.body = std::mem::take(&mut rest);
    }
    // Bytes past this request's body: the next request's (keep-alive).
    buf.extend_from_slice(&rest);
    update(&req);

    if *sh.mode.lock().unwrap() == Mode::Slow {
        // Hold the request unanswered until the proxy gives up (closes).
        let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
        let deadline = Instant::now() + SLOW_HOLD;
        req.outwaited = true;
        while Instant::now() < deadline {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) => {
                    req.outwaited = false;
                    break;
                }
                Ok(n) => req.body.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    req.outwaited = false;
                    break;
                }
            }
        }
        req.done = true;
        update(&req);
        return false;
    }

    let reply = (sh.handler)(&req);
    let wants_close = req
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        || req.version == "HTTP/1.0";
    let keep = sh.keep_alive && !wants_close;
    let mut out = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (n, v) in &reply.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if reply.status == 101 {
        // Switched: the tunnel ends at once (the app closes it).
        out.push_str("\r\n");
        let _ = stream.write_all(out.as_bytes());
        let _ = stream.flush();
        req.answered = true;
        req.done = true;
        update(&req);
        return false;
    }
    let bodyless = req.method == "HEAD" || reply.status == 204 || reply.status == 304;
    if reply.status != 204 && reply.status != 304 {
        out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    if keep {
        out.push_str("\r\n");
    } else {
        out.push_str("Connection: close\r\n\r\n");
    }
    if !bodyless {
        out.push_str(&reply.body);
    }
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
    req.answered = true;
    if keep {
        req.done = true;
        update(&req);
        return true;
    }
    update(&req);
    // Whatever the peer still sends (a body it should not have sent) is
    // recorded until it closes.
    let _ = stream.set_read_timeout(Some(LINGER));
    if !chunked {
        req.body.append(buf);
        loop {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => req.body.extend_from_slice(&chunk[..n]),
            }
        }
    }
    req.done = true;
    update(&req);
    false
}

fn read_chunked(stream: &mut TcpStream, rest: &mut Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let fill = |rest: &mut Vec<u8>, stream: &mut TcpStream| -> bool {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                rest.extend_from_slice(&chunk[..n]);
                true
            }
        }
    };
    loop {
        let eol = loop {
            if let Some(p) = rest.windows(2).position(|w| w == b"\r\n") {
                break p;
            }
            if !fill(rest, stream) {
                return out;
            }
        };
        let size_text = String::from_utf8_lossy(&rest[..eol]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        rest.drain(..eol + 2);
        if size == 0 {
            // Trailers end with an empty line.
            while !rest.windows(2).any(|w| w == b"\r\n") {
                if !fill(rest, stream) {
                    return out;
                }
            }
            return out;
        }
        while rest.len() < size + 2 {
            if !fill(rest, stream) {
                out.extend_from_slice(rest);
                return out;
            }
        }
        out.extend_from_slice(&rest[..size]);
        rest.drain(..size + 2);
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        418 => "I'm a teapot",
        _ => "Whatever",
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (Go's
/// `url.QueryEscape` without its `+` for space).
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Basic credentials both tinyauth and the LDAP daemon accept.
pub const GOOD_BASIC: &str = "alice:wonderland";

/// `Authorization` value for `user:pass`.
pub fn basic_header(user_pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

/// Authelia's portal.
pub const AUTHELIA_PORTAL: &str = "https://auth.example.test/";

/// Authelia's AuthRequest endpoint. `authelia_session` cookie: `good`
/// (identity), `bigbody` (identity, 100 KiB body), `rotate` (identity plus
/// a new session cookie), `expired`
/// (401 clearing the cookie), `multi` (401 with two cookies), `noloc` (401
/// without Location), `forbidden`
/// (403), `teapot` (418: an error for nginx); anything else 401.
pub fn authelia(req: &Seen) -> Reply {
    if req.path() != "/api/authz/auth-request" {
        return Reply::new(404, "not found");
    }
    let Some(url) = req.header("x-original-url") else {
        return Reply::new(400, "X-Original-URL missing");
    };
    let method = req.header("x-original-method").unwrap_or("");
    let location = format!("{AUTHELIA_PORTAL}?rd={}&rm={}", encode(url), encode(method));
    let identity = |r: Reply| {
        r.with("Remote-User", "alice")
            .with("Remote-Groups", "admins,dev")
            .with("Remote-Name", "Alice Liddell")
            .with("Remote-Email", "alice@example.test")
    };
    match req.cookie("authelia_session").as_deref() {
        Some("good") => identity(Reply::new(200, "")),
        // A body past what a proxy drains for reuse.
        Some("bigbody") => identity(Reply::new(200, &"x".repeat(100 * 1024))),
        Some("rotate") => identity(Reply::new(200, "")).with(
            "Set-Cookie",
            "authelia_session=rotated; Domain=example.test; Path=/; HttpOnly; Secure; SameSite=Lax",
        ),
        Some("expired") => Reply::new(401, "Unauthorized")
            .with("Location", &location)
            .with(
                "Set-Cookie",
                "authelia_session=; Domain=example.test; Path=/; Max-Age=0; HttpOnly; Secure",
            ),
        Some("multi") => Reply::new(401, "Unauthorized")
            .with("Location", &location)
            .with("Set-Cookie", "authelia_session=; Path=/; Max-Age=0")
            .with("Set-Cookie", "authelia_flash=login-required; Path=/"),
        Some("noloc") => Reply::new(401, "Unauthorized"),
        Some("forbidden") => Reply::new(403, "Forbidden"),
        Some("teapot") => Reply::new(418, "teapot"),
        _ => Reply::new(401, "Unauthorized").with("Location", &location),
    }
}

/// The Authentik outpost's cookie name.
pub const AUTHENTIK_COOKIE: &str = "authentik_proxy_test";

/// Authentik's proxy outpost.
pub fn authentik(req: &Seen) -> Reply {
    match req.path() {
        "/outpost.goauthentik.io/auth/nginx" => {
            if req.cookie(AUTHENTIK_COOKIE).as_deref() == Some("good") {
                Reply::new(200, "")
                    .with("X-authentik-username", "akadmin")
                    .with("X-authentik-groups", "authentik Admins|users")
                    .with("X-authentik-email", "root@example.test")
                    .with("X-authentik-name", "authentik Default Admin")
                    .with("X-authentik-uid", "5c2a6f1b0d")
            } else {
                Reply::new(401, "").with(
                    "Set-Cookie",
                    &format!("{AUTHENTIK_COOKIE}=pending; Path=/; HttpOnly; SameSite=Lax"),
                )
            }
        }
        "/outpost.goauthentik.io/start" => {
            let rd = req
                .query()
                .split('&')
                .find_map(|kv| kv.strip_prefix("rd="))
                .unwrap_or("");
            Reply::new(302, "").with(
                "Location",
                &format!("https://authentik.example.test/application/o/authorize/?state={rd}"),
            )
        }
        "/outpost.goauthentik.io/ping" => Reply::new(204, ""),
        _ => Reply::new(404, "not found"),
    }
}

/// Tinyauth's nginx endpoint: cookie `tinyauth-session=good` or basic
/// [`GOOD_BASIC`] → 200 with `Remote-User`, `Remote-Name`, `Remote-Email`
/// (no groups); else 401.
pub fn tinyauth(req: &Seen) -> Reply {
    if req.path() != "/api/auth/nginx" {
        return Reply::new(404, "not found");
    }
    let ok = req.cookie("tinyauth-session").as_deref() == Some("good")
        || req.basic().as_deref() == Some(GOOD_BASIC);
    if ok {
        Reply::new(200, "")
            .with("Remote-User", "bob")
            .with("Remote-Name", "Bob Builder")
            .with("Remote-Email", "bob@example.test")
    } else {
        Reply::new(401, r#"{"status":401,"message":"Unauthorized"}"#)
            .with("Content-Type", "application/json")
    }
}

/// nginx-ldap-auth's daemon (port 8888).
pub fn ldap_auth(req: &Seen) -> Reply {
    let cookie_name = req.header("x-cookiename").unwrap_or("nginxauth");
    let from_cookie = req.cookie(cookie_name).and_then(|v| {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v.trim_matches('"'))
            .ok()?;
        String::from_utf8(raw).ok()
    });
    if req.basic().as_deref() == Some(GOOD_BASIC) || from_cookie.as_deref() == Some(GOOD_BASIC) {
        Reply::new(200, "")
    } else {
        Reply::new(401, "")
            .with("WWW-Authenticate", r#"Basic realm="Restricted""#)
            .with("Cache-Control", "no-cache")
    }
}

/// The `nginxauth` cookie value for [`GOOD_BASIC`].
pub fn ldap_good_cookie() -> String {
    base64::engine::general_purpose::STANDARD.encode(GOOD_BASIC)
}

/// nginx-ldap-auth's login page (port 9000).
pub fn ldap_login(req: &Seen) -> Reply {
    let target = req.header("x-target").unwrap_or("/");
    Reply::new(
        200,
        &format!(
            "<form action=\"/login\" method=\"post\"><input type=\"hidden\" name=\"target\" value=\"{target}\"></form>"
        ),
    )
    .with("Content-Type", "text/html")
}

/// An app: 200 with its name and what it got; a WebSocket handshake gets
/// 101 (RFC 6455 §4.2.2), and the app closes the connection right after.
pub fn app(name: &'static str) -> impl Fn(&Seen) -> Reply + Send + Sync {
    move |req: &Seen| {
        if let (Some(up), Some(key)) = (req.header("upgrade"), req.header("sec-websocket-key")) {
            if up.eq_ignore_ascii_case("websocket") {
                use sha1::Digest as _;
                let digest =
                    sha1::Sha1::digest(format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
                let accept = base64::engine::general_purpose::STANDARD.encode(digest);
                return Reply::new(101, "")
                    .with("Upgrade", "websocket")
                    .with("Connection", "Upgrade")
                    .with("Sec-WebSocket-Accept", &accept)
                    .with("X-App", name);
            }
        }
        let v = serde_json::json!({
            "app": name,
            "method": req.method,
            "target": req.target,
            "headers": req.headers,
            "body_len": req.body.len(),
        });
        Reply::new(200, &v.to_string())
            .with("Content-Type", "application/json")
            .with("X-App", name)
    }
}
