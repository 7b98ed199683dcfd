//! Forward auth (issue 11) against Debian's nginx, over the wire: one
//! SWAG-layout /config tree runs in nginx and in the moat binary, with the
//! four SWAG auth integrations enabled exactly as a SWAG user enables them:
//! `nginx/{authelia,authentik,tinyauth,ldap}-{server,location}.conf` are the
//! `.sample` files copied (as SWAG's init does), and in four proxy-conf
//! samples the two commented `include` lines are uncommented, one app per
//! integration: sonarr behind Authelia, radarr behind Authentik, lidarr behind
//! Tinyauth, readarr behind LDAP. Each sample's `location ~ (/app)?/api`
//! stays without auth, as SWAG ships it. Subfolders: sonarr's and radarr's
//! subfolder samples with the location line, default.conf's server with the
//! Authelia and Authentik server lines. And the common "no login from the
//! LAN" setup, `satisfy any; allow ...; deny all;` before the Authelia
//! include: bazarr allows the client's address, prowlarr does not; and
//! overseerr with `satisfy any`, its sample's own `auth_basic` lines
//! uncommented (a `{SHA}` .htpasswd) and Authelia: either credential.
//!
//! Every upstream name resolves through a stub DNS server to a loopback
//! address where a fake listens (`tests/support/fake_auth.rs`: Authelia,
//! the Authentik outpost, Tinyauth, the nginx-ldap-auth daemon and its login
//! page, and the four apps), each recording every request it got. Each probe
//! goes to nginx and then to moat (HTTPS; some over HTTP/2), and compares
//! status, `Location`, `Set-Cookie`, `WWW-Authenticate`, which app was
//! reached with which identity headers and body, and what each auth server
//! received (path, method, body or not, `X-Original-*`, `X-Forwarded-*`,
//! `Host`, credentials).
//!
//! Adaptations, identical in both trees: `proxy.conf`'s `proxy_read_timeout
//! 240` is 3 s, so the slow-auth-server probe ends quickly (the auth
//! locations include proxy.conf). In the nginx tree only (besides what
//! `oracle::write_trees` adapts): default.conf's 443 listen gets `http2`,
//! nginx 1.22's spelling of SWAG's `http2 on;` (which 1.22 lacks and the
//! oracle comments out).
//!
//! Known intended differences, excluded from the comparison (nothing else
//! is): tinyauth-server.conf has no `proxy_set_header Content-Length ""`, so
//! for a POST nginx's subrequest carries the main request's
//! `Content-Length` though it sends no body; moat sends no Content-Length on
//! a bodiless subrequest. Auth servers' `Content-Length` is therefore not
//! compared, only whether a body arrived. The HTTP version on the wire to
//! the auth server (nginx speaks 1.0 where the location does not include
//! proxy.conf, ldap's `/auth`) is not compared either.
//!
//! Besides the differential, invariants that hold whatever nginx does: no
//! probe without valid credentials (or with the auth server down or slow)
//! reaches an app behind auth, on either side; and behind Authelia,
//! Authentik and Tinyauth the app never sees a client's own identity header
//! (`mallory`); and moat asks Authelia (a keep-alive fake) over pooled
//! connections, as issue 11 asks.

#[path = "support/env.rs"]
mod env;
#[path = "support/fake_auth.rs"]
mod fake_auth;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/oracle.rs"]
mod oracle;
#[path = "support/oracle_conf.rs"]
mod oracle_conf;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fake_auth::{Fake, Mode, Seen};
use foundation::{moat_bin, moat_command, Running};

/// One integration: its snippets' name, the sample it is enabled in, the
/// app's upstream port, and whether the snippet replaces identity headers
/// (LDAP's passes none: a client's `Remote-User` reaches the app in nginx).
struct Integration {
    auth: &'static str,
    app: &'static str,
    port: u16,
    strips_identity: bool,
    /// Lines a user adds before the location include (`satisfy` with
    /// `allow`/`deny`, the common "no login from the LAN" setup).
    access: &'static str,
}

const INTEGRATIONS: &[Integration] = &[
    Integration {
        auth: "authelia",
        app: "sonarr",
        port: 8989,
        strips_identity: true,
        access: "",
    },
    Integration {
        auth: "authentik",
        app: "radarr",
        port: 7878,
        strips_identity: true,
        access: "",
    },
    Integration {
        auth: "tinyauth",
        app: "lidarr",
        port: 8686,
        strips_identity: true,
        access: "",
    },
    Integration {
        auth: "ldap",
        app: "readarr",
        port: 8787,
        strips_identity: false,
        access: "",
    },
    Integration {
        auth: "authelia",
        app: "bazarr",
        port: 6767,
        strips_identity: true,
        access: "satisfy any; allow 127.0.0.1; deny all;",
    },
    Integration {
        auth: "authelia",
        app: "overseerr",
        port: 5055,
        strips_identity: true,
        access: "satisfy any;",
    },
    Integration {
        auth: "authelia",
        app: "prowlarr",
        port: 9696,
        strips_identity: true,
        access: "satisfy any; allow 10.0.0.0/8; deny all;",
    },
];

/// nginx 1.23 changed `$upstream_http_NAME` for a header the upstream sent
/// more than once: 1.22 (Debian's, the oracle) gives the first value, 1.23
/// and later join them with ", " (`ngx_http_variable_unknown_header`). SWAG
/// ships nginx >= 1.25 (its nginx.conf says `http2 on`), so moat follows the
/// newer one; on an older oracle the probes that show it (two `Set-Cookie`
/// from Authelia on a 401, through `auth_request_set $set_cookie`) compare
/// moat with what the newer nginx answers. The only other exclusion is the
/// Content-Length one in the file's doc.
const NEWER_NGINX: (u32, u32) = (1, 23);

/// Subfolder samples behind auth in the default server: (snippets, app).
const SUBFOLDERS: &[(&str, &str)] = &[("authelia", "sonarr"), ("authentik", "radarr")];

/// The spoofed identity a client sends; no app behind Authelia, Authentik
/// or Tinyauth may ever see it.
const SPOOF: &str = "mallory";

/// Identity headers compared at the apps.
const IDENTITY: &[&str] = &[
    "remote-user",
    "remote-groups",
    "remote-name",
    "remote-email",
    "x-authentik-username",
    "x-authentik-groups",
    "x-authentik-email",
    "x-authentik-name",
    "x-authentik-uid",
    "authorization",
    "cookie",
    "upgrade",
];

/// Headers compared at the auth servers (Content-Length is not: see the
/// file's doc).
const AUTH_SEEN: &[&str] = &[
    "host",
    "x-original-url",
    "x-original-method",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-uri",
    "x-forwarded-method",
    "x-forwarded-for",
    "x-forwarded-port",
    "x-real-ip",
    "cookie",
    "authorization",
    "remote-user",
    "x-authentik-username",
    "x-ldap-url",
    "x-ldap-basedn",
    "x-cookiename",
    "x-target",
];

/// Loopback addresses of the fakes, away from other tests' 127.66.x.
fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 77, 0, last)
}

/// Uncomments `#include /config/nginx/<auth>-{server,location}.conf;`, each
/// exactly once, as a SWAG user does.
fn enable(sample: &str, text: &str, auth: &str, parts: &[&str]) -> String {
    let mut out = text.to_string();
    for part in parts {
        let line = format!("#include /config/nginx/{auth}-{part}.conf;");
        assert_eq!(
            out.matches(&line).count(),
            1,
            "{sample}: `{line}` is not there exactly once"
        );
        out = out.replacen(&line, &line[1..], 1);
    }
    out
}

/// One request sent to both.
#[derive(Clone)]
struct Probe {
    /// Which integration (for the invariants).
    auth: &'static str,
    host: String,
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<&'static str>,
    /// Send the body chunked (HTTP/1.1 only) instead of with Content-Length.
    chunked: bool,
    h2: bool,
    /// Headers of a second request for the same target on the same HTTP/2
    /// connection, sent after the first one's answer: auth is per request,
    /// never per connection.
    then: Option<Vec<(String, String)>>,
    /// A fake switched to a mode for this probe.
    fault: Option<(&'static str, Mode)>,
    /// (what nginx < 1.23 answers, what nginx >= 1.23 answers) in the
    /// summary, for a probe where the two differ: see [`NEWER_NGINX`].
    newer_nginx: Option<(&'static str, &'static str)>,
    /// The target is behind auth and the probe carries no valid credentials
    /// (or the auth server is down or slow): no app may be reached.
    unauthenticated: bool,
    /// The target is behind auth (identity headers must be the auth
    /// server's).
    protected: bool,
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = if self.target.starts_with('/') {
            format!("https://{}{}", self.host, self.target)
        } else {
            format!("{} (Host: {})", self.target, self.host)
        };
        write!(
            f,
            "{}{} {} {url}",
            if self.h2 { "h2 " } else { "" },
            self.auth,
            self.method,
        )?;
        for (n, v) in &self.headers {
            write!(f, " [{n}: {v}]")?;
        }
        if let Some(b) = self.body {
            let how = if self.chunked { " chunked" } else { "" };
            write!(f, "{how} body={}", body_text(b.as_bytes()))?;
        }
        if let Some(then) = &self.then {
            write!(f, " then on the same connection:")?;
            for (n, v) in then {
                write!(f, " [{n}: {v}]")?;
            }
        }
        if let Some((fake, m)) = self.fault {
            write!(f, " ({fake} {m:?})")?;
        }
        Ok(())
    }
}

/// A response as the client got it.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// What one side did with one probe, comparable as text.
struct View {
    summary: String,
    detail: Vec<String>,
    /// Apps reached, for the invariants.
    apps: Vec<Seen>,
}

impl PartialEq for View {
    fn eq(&self, other: &View) -> bool {
        (&self.summary, &self.detail) == (&other.summary, &other.detail)
    }
}

fn list(values: &[&str]) -> String {
    values.join(" | ")
}

fn view(answers: Result<Vec<Answer>, String>, seen: Vec<Seen>, https_port: u16) -> View {
    let mut detail = Vec::new();
    let summary = match &answers {
        Err(e) => format!("FAILED {e}"),
        Ok(answers) => answers
            .iter()
            .map(|a| {
                let loc = a.all("location");
                let cookies = a.all("set-cookie");
                let www = a.all("www-authenticate");
                let mut s = format!("{}", a.status);
                if !loc.is_empty() {
                    s.push_str(&format!(" Location: {}", loc.join(" | ")));
                }
                if !cookies.is_empty() {
                    s.push_str(&format!(" Set-Cookie: {}", cookies.join(" | ")));
                }
                if !www.is_empty() {
                    s.push_str(&format!(" WWW-Authenticate: {}", www.join(" | ")));
                }
                s
            })
            .collect::<Vec<_>>()
            .join(" THEN "),
    };
    let port = https_port.to_string();
    let mut apps = Vec::new();
    let mut reached = Vec::new();
    for s in seen {
        let is_app = INTEGRATIONS.iter().any(|i| i.app == s.server);
        let names: &[&str] = if is_app { IDENTITY } else { AUTH_SEEN };
        let mut line = format!(
            "{} {} {} body={}",
            s.server,
            s.method,
            s.target,
            if s.body.is_empty() {
                "none".to_string()
            } else {
                body_text(&s.body)
            }
        );
        for n in names {
            let mut values = s.all(n);
            if *n == "x-forwarded-port" {
                // $server_port: each side's own listening port.
                values = values
                    .into_iter()
                    .map(|v| if v == port { "443" } else { v })
                    .collect();
            }
            if !values.is_empty() {
                line.push_str(&format!("\n      {n}: {}", list(&values)));
            }
        }
        if s.outwaited {
            line.push_str(&format!(
                "\n      (never answered; the proxy still waited after {:?})",
                fake_auth::SLOW_HOLD
            ));
        } else if !s.answered {
            line.push_str("\n      (never answered; the proxy gave up first)");
        }
        if is_app {
            reached.push(s.server.clone());
            apps.push(s);
        }
        detail.push(line);
    }
    let summary = if reached.is_empty() {
        format!("{summary}; no app")
    } else {
        format!("{summary}; reached {}", reached.join(","))
    };
    View {
        summary,
        detail,
        apps,
    }
}

/// A body as the report shows it: short ones quoted, long ones by length
/// and a digest of their bytes.
fn body_text(b: &[u8]) -> String {
    if b.len() <= 64 {
        format!("{:?}", String::from_utf8_lossy(b))
    } else {
        let sum = b
            .iter()
            .fold(0u64, |a, x| a.wrapping_mul(31).wrapping_add(u64::from(*x)));
        format!("{} bytes (sum {sum:x})", b.len())
    }
}

// ------------------------------------------------------------ clients

fn parse_head(raw: &[u8]) -> Result<Answer, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no complete head in {:?}", String::from_utf8_lossy(raw)))?;
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Answer { status, headers })
}

/// One HTTP/1.1 request over TLS; reads until the server closes.
fn send_h1(port: u16, p: &Probe, tls: &Arc<rustls::ClientConfig>) -> Result<Answer, String> {
    let mut req = format!("{} {} HTTP/1.1\r\nHost: {}\r\n", p.method, p.target, p.host);
    for (n, v) in &p.headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = p.body {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        if p.chunked {
            req.push_str("Transfer-Encoding: chunked\r\n");
        } else {
            req.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
    }
    req.push_str("Connection: close\r\n\r\n");
    match p.body {
        Some(b) if p.chunked => {
            for piece in b.as_bytes().chunks(1000) {
                req.push_str(&format!("{:x}\r\n", piece.len()));
                req.push_str(std::str::from_utf8(piece).expect("ASCII bodies"));
                req.push_str("\r\n");
            }
            req.push_str("0\r\n\r\n");
        }
        Some(b) => req.push_str(b),
        None => {}
    }
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let sni = rustls_pki_types::ServerName::try_from(p.host.to_ascii_lowercase())
        .map_err(|e| format!("SNI: {e}"))?;
    let conn = rustls::ClientConnection::new(tls.clone(), sni).map_err(|e| e.to_string())?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.write_all(req.as_bytes())
        .map_err(|e| format!("TLS write: {e}"))?;
    // Read until the server closes or the response is complete (a server
    // may keep the connection of a `Connection: Upgrade` request open).
    let mut out = Vec::new();
    loop {
        if response_complete(&out, p.method == "HEAD") {
            break;
        }
        let mut chunk = [0u8; 16384];
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => break,
            // A reset after a complete head still tells the status.
            Err(_) if out.windows(4).any(|w| w == b"\r\n\r\n") => break,
            Err(e) => return Err(format!("TLS read: {e}")),
        }
    }
    parse_head(&out)
}

/// Whether `raw` holds a whole response: its head, then the body its
/// framing announces (none for 1xx, 204, 304 and HEAD).
fn response_complete(raw: &[u8], head_only: bool) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let Ok(a) = parse_head(raw) else {
        return false;
    };
    if head_only || a.status < 200 || a.status == 204 || a.status == 304 {
        return true;
    }
    let body = &raw[end + 4..];
    if a.all("transfer-encoding")
        .iter()
        .any(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        return body.ends_with(b"0\r\n\r\n");
    }
    match a
        .all("content-length")
        .first()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(n) => body.len() >= n,
        None => false,
    }
}

/// One HTTP/2 request (ALPN h2, which both must negotiate), and the
/// probe's second one on the same connection if it has one.
fn send_h2(port: u16, p: &Probe, tls: &Arc<rustls::ClientConfig>) -> Result<Vec<Answer>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let sni = rustls_pki_types::ServerName::try_from(p.host.to_ascii_lowercase())
            .map_err(|e| format!("SNI: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(sni, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err("the server did not negotiate h2".to_string());
        }
        let (client, conn) = h2::client::handshake(stream)
            .await
            .map_err(|e| format!("h2 handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut client = client;
        let mut answers = Vec::new();
        let rounds = std::iter::once(&p.headers).chain(p.then.as_ref());
        for headers in rounds {
            client = client.ready().await.map_err(|e| format!("h2: {e}"))?;
            let mut req = http::Request::builder()
                .method(p.method)
                .uri(format!("https://{}{}", p.host, p.target));
            for (n, v) in headers {
                req = req.header(n.as_str(), v.as_str());
            }
            if p.body.is_some() {
                req = req.header("content-type", "application/x-www-form-urlencoded");
            }
            let req = req.body(()).map_err(|e| format!("request: {e}"))?;
            let (resp, mut send) = client
                .send_request(req, p.body.is_none())
                .map_err(|e| format!("h2 send: {e}"))?;
            if let Some(b) = p.body {
                send.send_data(bytes::Bytes::from_static(b.as_bytes()), true)
                    .map_err(|e| format!("h2 data: {e}"))?;
            }
            let resp = tokio::time::timeout(Duration::from_secs(20), resp)
                .await
                .map_err(|_| "h2: no response in 20 s".to_string())?
                .map_err(|e| format!("h2 response: {e}"))?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).to_string(),
                    )
                })
                .collect();
            let mut body = resp.into_body();
            while let Some(chunk) = body.data().await {
                match chunk {
                    Ok(c) => {
                        let _ = body.flow_control().release_capacity(c.len());
                    }
                    Err(_) => break,
                }
            }
            answers.push(Answer { status, headers });
        }
        Ok(answers)
    })
}

// ------------------------------------------------------------ probes

fn h(n: &str, v: &str) -> (String, String) {
    (n.to_string(), v.to_string())
}

fn probes() -> Vec<Probe> {
    let mut out = Vec::new();
    let base = |auth: &'static str, app: &str| Probe {
        auth,
        host: format!("{app}.{}", oracle::DEFAULT_HOST),
        method: "GET",
        target: "/".into(),
        headers: vec![],
        body: None,
        chunked: false,
        h2: false,
        then: None,
        fault: None,
        newer_nginx: None,
        unauthenticated: true,
        protected: true,
    };
    let spoof =
        |names: &[&str]| -> Vec<(String, String)> { names.iter().map(|n| h(n, SPOOF)).collect() };
    let valid = |mut p: Probe, cookie: (String, String)| {
        p.headers.push(cookie);
        p.unauthenticated = false;
        p
    };
    let open = |mut p: Probe| {
        p.unauthenticated = false;
        p.protected = false;
        p
    };
    let with = |mut p: Probe, f: &dyn Fn(&mut Probe)| {
        f(&mut p);
        p
    };

    // ---- Authelia in front of sonarr.
    let a = || base("authelia", "sonarr");
    let good = || h("Cookie", "authelia_session=good");
    let remote = [
        "Remote-User",
        "Remote-Groups",
        "Remote-Name",
        "Remote-Email",
    ];
    out.push(a());
    out.push(with(a(), &|p| {
        p.target = "/calendar?start=2026-01-01&end=x%2Fy".into()
    }));
    out.push(valid(
        with(a(), &|p| p.target = "/calendar?start=1".into()),
        good(),
    ));
    out.push(valid(
        a(),
        h("Cookie", "authelia_session=rotate; theme=dark"),
    ));
    out.push(with(a(), &|p| {
        p.headers.push(h("Cookie", "authelia_session=expired"))
    }));
    out.push(with(a(), &|p| {
        p.headers.push(h("Cookie", "authelia_session=bogus"))
    }));
    out.push(with(a(), &|p| {
        p.headers.push(h("Cookie", "authelia_session=multi"));
        p.newer_nginx = Some((
            "Set-Cookie: authelia_session=; Path=/; Max-Age=0;",
            "Set-Cookie: authelia_session=; Path=/; Max-Age=0, authelia_flash=login-required; Path=/;",
        ));
    }));
    out.push(with(a(), &|p| {
        p.headers.push(h("Cookie", "authelia_session=noloc"))
    }));
    out.push(with(a(), &|p| {
        p.headers.push(h("Cookie", "authelia_session=forbidden"))
    }));
    out.push(with(a(), &|p| {
        p.headers.push(h("Cookie", "authelia_session=teapot"))
    }));
    out.push(with(a(), &|p| p.headers = spoof(&remote)));
    out.push(valid(with(a(), &|p| p.headers = spoof(&remote)), good()));
    out.push(with(a(), &|p| {
        p.method = "POST";
        p.target = "/settings/form".into();
        p.body = Some("a=1&b=two");
    }));
    out.push(valid(
        with(a(), &|p| {
            p.method = "POST";
            p.target = "/settings/save".into();
            p.body = Some("a=1&b=two");
        }),
        good(),
    ));
    out.push(with(a(), &|p| p.method = "HEAD"));
    // A WebSocket handshake behind auth (SignalR in the *arr apps).
    let ws = || {
        vec![
            h("Upgrade", "websocket"),
            h("Connection", "Upgrade"),
            h("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            h("Sec-WebSocket-Version", "13"),
        ]
    };
    out.push(with(a(), &|p| {
        p.target = "/signalr/messages?access_token=x".into();
        p.headers = ws();
    }));
    out.push(valid(
        with(a(), &|p| {
            p.target = "/signalr/messages".into();
            p.headers = ws();
            p.headers.extend(spoof(&remote));
        }),
        good(),
    ));
    // An upload behind auth: the body waits for the subrequest, then all of
    // it reaches the app (and none the auth server).
    let upload: &'static str = Box::leak("0123456789abcdef".repeat(16 * 1024).into_boxed_str());
    out.push(valid(
        with(a(), &|p| {
            p.method = "PUT";
            p.target = "/upload".into();
            p.body = Some(upload);
        }),
        good(),
    ));
    out.push(valid(
        with(a(), &|p| {
            p.method = "POST";
            p.target = "/upload?chunked=1".into();
            p.body = Some(upload);
            p.chunked = true;
        }),
        good(),
    ));
    out.push(with(a(), &|p| {
        p.method = "POST";
        p.target = "/upload?chunked=1".into();
        p.body = Some("tiny=chunked");
        p.chunked = true;
    }));
    out.push(valid(
        with(a(), &|p| {
            p.h2 = true;
            p.method = "PUT";
            p.target = "/upload".into();
            p.body = Some(upload);
        }),
        good(),
    ));
    out.push(valid(with(a(), &|p| p.method = "HEAD"), good()));
    out.push(valid(
        with(a(), &|p| {
            p.method = "DELETE";
            p.target = "/api-key/3".into();
        }),
        good(),
    ));
    // The client's X-Forwarded-For is extended for the auth server too.
    out.push(with(a(), &|p| {
        p.headers.push(h("X-Forwarded-For", "10.9.9.9"))
    }));
    // Absolute-form target and merged slashes: $request_uri as nginx has it.
    out.push(with(a(), &|p| {
        p.target = "https://sonarr.example.test/abs/path?q=1".into()
    }));
    out.push(valid(
        with(a(), &|p| {
            p.target = "https://sonarr.example.test/abs/path?q=1".into()
        }),
        good(),
    ));
    out.push(with(a(), &|p| p.target = "//double//slash/?".into()));
    out.push(open(with(a(), &|p| {
        p.target = "/api/v3/system/status".into()
    })));
    out.push(open(with(a(), &|p| {
        p.target = "/sonarr/api/v3/queue?page=1".into();
        p.headers = spoof(&remote);
    })));
    out.push(open(with(a(), &|p| {
        p.method = "POST";
        p.target = "/api/v3/command".into();
        p.body = Some("{\"name\":\"RssSync\"}");
    })));
    // The internal auth location, directly and disguised.
    out.push(with(a(), &|p| {
        p.target = "/authelia/api/authz/auth-request".into()
    }));
    out.push(open(valid(
        with(a(), &|p| {
            p.target = "/authelia/api/authz/auth-request".into()
        }),
        good(),
    )));
    out.push(with(a(), &|p| {
        p.target = "/%61uthelia/api/authz/auth-request".into()
    }));
    out.push(with(a(), &|p| {
        p.target = "/authelia/api/authz/auth-request?x=1".into()
    }));
    // Percent-encoded paths: the raw request URI goes to Authelia and into
    // the redirect.
    out.push(with(a(), &|p| {
        p.target = "/a%20b/%2e%2e/c%2Fd?x=%2F&y=a+b&z=%22q%22".into()
    }));
    out.push(with(a(), &|p| {
        p.target = "/%E2%9C%93/caf%C3%A9?q=%E2%82%AC".into()
    }));
    out.push(valid(
        with(a(), &|p| p.target = "/a%20b/%2e%2e/c?x=%2F".into()),
        good(),
    ));
    out.push(with(a(), &|p| {
        p.target = "/x%0D%0ASet-Cookie:%20evil=1".into()
    }));
    // The auth server down or slow: never proxied.
    out.push(with(a(), &|p| {
        p.headers.push(good());
        p.fault = Some(("authelia", Mode::Down));
    }));
    out.push(with(a(), &|p| {
        p.headers.push(good());
        p.fault = Some(("authelia", Mode::Slow));
    }));
    // Authelia restarted: connections a proxy pooled are dead.
    out.push(valid(
        with(a(), &|p| p.fault = Some(("authelia", Mode::Restarted))),
        good(),
    ));
    out.push(valid(a(), h("Cookie", "authelia_session=bigbody")));
    out.push(valid(a(), good()));
    // HTTP/2.
    out.push(with(a(), &|p| p.h2 = true));
    out.push(valid(with(a(), &|p| p.h2 = true), good()));
    out.push(valid(
        with(a(), &|p| {
            p.h2 = true;
            p.headers = spoof(&remote);
        }),
        good(),
    ));
    out.push(valid(
        with(a(), &|p| {
            p.h2 = true;
            p.method = "POST";
            p.target = "/settings/save".into();
            p.body = Some("h2=body");
        }),
        good(),
    ));
    out.push(valid(
        with(a(), &|p| {
            p.h2 = true;
            p.headers.push(h("cookie", "theme=dark"));
        }),
        h("cookie", "authelia_session=rotate"),
    ));
    // Two requests on one HTTP/2 connection: with a session, then without.
    out.push(valid(
        with(a(), &|p| {
            p.h2 = true;
            p.then = Some(vec![h("Remote-User", SPOOF)]);
        }),
        good(),
    ));

    // ---- Authentik in front of radarr.
    let k = || base("authentik", "radarr");
    let kgood = || h("Cookie", &format!("{}=good", fake_auth::AUTHENTIK_COOKIE));
    let kids = [
        "X-authentik-username",
        "X-authentik-groups",
        "X-authentik-email",
    ];
    out.push(k());
    out.push(with(k(), &|p| p.target = "/movie/1?tab=files&q=%2F".into()));
    out.push(valid(k(), kgood()));
    out.push(with(k(), &|p| p.headers = spoof(&kids)));
    out.push(valid(with(k(), &|p| p.headers = spoof(&kids)), kgood()));
    out.push(valid(
        with(k(), &|p| {
            p.method = "POST";
            p.target = "/movie/editor".into();
            p.body = Some("ids=1,2");
        }),
        kgood(),
    ));
    out.push(with(k(), &|p| {
        p.method = "POST";
        p.target = "/movie/editor".into();
        p.body = Some("ids=1,2");
    }));
    out.push(open(with(k(), &|p| {
        p.target = "/outpost.goauthentik.io/start?rd=https%3A%2F%2Fradarr.example.test%2F".into()
    })));
    out.push(open(with(k(), &|p| {
        p.target = "/outpost.goauthentik.io/ping".into()
    })));
    out.push(with(k(), &|p| {
        p.target = "/outpost.goauthentik.io/auth/nginx".into()
    }));
    out.push(open(with(k(), &|p| p.target = "/api/v3/movie".into())));
    out.push(with(k(), &|p| {
        p.target = "/a%20b/%C3%A9?x=%2F&y=a+b".into()
    }));
    out.push(with(k(), &|p| {
        p.headers.push(kgood());
        p.fault = Some(("authentik-server", Mode::Down));
    }));
    out.push(with(k(), &|p| p.h2 = true));
    out.push(valid(with(k(), &|p| p.h2 = true), kgood()));

    // ---- Tinyauth in front of lidarr.
    let t = || base("tinyauth", "lidarr");
    let tgood = || h("Cookie", "tinyauth-session=good");
    out.push(t());
    out.push(with(t(), &|p| p.target = "/artist/x?y=%2F&z=a+b".into()));
    out.push(valid(t(), tgood()));
    out.push(valid(
        t(),
        h(
            "Authorization",
            &fake_auth::basic_header(fake_auth::GOOD_BASIC),
        ),
    ));
    out.push(with(t(), &|p| {
        p.headers
            .push(h("Authorization", &fake_auth::basic_header("alice:wrong")))
    }));
    out.push(with(t(), &|p| p.headers = spoof(&remote)));
    // Tinyauth sends no Remote-Groups: the client's must not pass either.
    out.push(valid(with(t(), &|p| p.headers = spoof(&remote)), tgood()));
    out.push(valid(
        with(t(), &|p| {
            p.method = "POST";
            p.target = "/artist/editor".into();
            p.body = Some("tiny=1");
        }),
        tgood(),
    ));
    out.push(with(t(), &|p| {
        p.method = "POST";
        p.target = "/artist/editor".into();
        p.body = Some("tiny=1");
    }));
    out.push(valid(
        with(t(), &|p| {
            p.method = "POST";
            p.target = "/artist/editor".into();
            p.body = Some("tiny=chunked");
            p.chunked = true;
        }),
        tgood(),
    ));
    out.push(with(t(), &|p| p.target = "/tinyauth".into()));
    out.push(open(valid(
        with(t(), &|p| p.target = "/tinyauth".into()),
        tgood(),
    )));
    // lidarr's `location ~ (/lidarr)?/api` (no auth) wins over the prefix
    // `/tinyauth`: nginx proxies this to the app.
    out.push(open(with(t(), &|p| {
        p.target = "/tinyauth/api/auth/nginx".into()
    })));
    out.push(open(with(t(), &|p| p.target = "/api/v1/artist".into())));
    out.push(with(t(), &|p| {
        p.host = "LIDARR.Example.TEST".into();
        p.target = "/Mixed/Case".into();
    }));
    out.push(with(t(), &|p| {
        p.headers.push(tgood());
        p.fault = Some(("tinyauth", Mode::Slow));
    }));
    out.push(with(t(), &|p| {
        p.headers.push(tgood());
        p.fault = Some(("tinyauth", Mode::Down));
    }));
    out.push(with(t(), &|p| p.h2 = true));
    out.push(valid(
        with(t(), &|p| {
            p.h2 = true;
            p.method = "POST";
            p.target = "/artist/editor".into();
            p.body = Some("h2tiny=1");
        }),
        tgood(),
    ));

    // ---- LDAP in front of readarr.
    let l = || base("ldap", "readarr");
    let lgood = || {
        h(
            "Cookie",
            &format!("nginxauth={}", fake_auth::ldap_good_cookie()),
        )
    };
    out.push(l());
    out.push(with(l(), &|p| p.target = "/book/7?x=%2F".into()));
    out.push(valid(l(), lgood()));
    out.push(valid(
        l(),
        h(
            "Authorization",
            &fake_auth::basic_header(fake_auth::GOOD_BASIC),
        ),
    ));
    out.push(with(l(), &|p| {
        p.headers
            .push(h("Authorization", &fake_auth::basic_header("alice:wrong")))
    }));
    out.push(with(l(), &|p| p.headers = spoof(&remote)));
    out.push(valid(with(l(), &|p| p.headers = spoof(&remote)), lgood()));
    out.push(with(l(), &|p| {
        p.method = "POST";
        p.target = "/book/save".into();
        p.body = Some("ldap=1");
    }));
    out.push(valid(
        with(l(), &|p| {
            p.method = "POST";
            p.target = "/book/save".into();
            p.body = Some("ldap=1");
        }),
        lgood(),
    ));
    // `/auth` is not internal in ldap-server.conf: it reaches the daemon.
    out.push(open(with(l(), &|p| p.target = "/auth".into())));
    out.push(open(with(l(), &|p| p.target = "/ldaplogin?x=1".into())));
    out.push(open(with(l(), &|p| p.target = "/api/v1/book".into())));
    out.push(with(l(), &|p| {
        p.headers.push(lgood());
        p.fault = Some(("ldap-auth", Mode::Down));
    }));
    out.push(with(l(), &|p| p.h2 = true));
    out.push(valid(with(l(), &|p| p.h2 = true), lgood()));
    out.push(valid(
        with(l(), &|p| {
            p.h2 = true;
            p.then = Some(vec![]);
        }),
        lgood(),
    ));

    // ---- satisfy any: the client's address (127.0.0.1) is allowed in
    // front of bazarr, not in front of prowlarr.
    let lan = |app: &str| with(base("authelia", app), &|p| p.unauthenticated = false);
    out.push(lan("bazarr"));
    out.push(with(lan("bazarr"), &|p| p.headers = spoof(&remote)));
    out.push(valid(
        with(lan("bazarr"), &|p| p.headers = spoof(&remote)),
        good(),
    ));
    out.push(with(lan("bazarr"), &|p| {
        p.headers.push(h("Cookie", "authelia_session=forbidden"))
    }));
    out.push(with(lan("bazarr"), &|p| {
        p.fault = Some(("authelia", Mode::Down));
    }));
    let wan = || base("authelia", "prowlarr");
    out.push(wan());
    out.push(with(wan(), &|p| p.headers = spoof(&remote)));
    out.push(valid(with(wan(), &|p| p.headers = spoof(&remote)), good()));
    out.push(with(wan(), &|p| {
        p.headers.push(h("Cookie", "authelia_session=forbidden"))
    }));
    out.push(with(wan(), &|p| {
        p.headers.push(good());
        p.fault = Some(("authelia", Mode::Down));
    }));
    out.push(open(with(wan(), &|p| p.target = "/1/api?t=caps".into())));

    // ---- satisfy any with auth_basic and Authelia in front of overseerr.
    let o = || base("authelia", "overseerr");
    let carol = || h("Authorization", &fake_auth::basic_header(BASIC_USER));
    out.push(o());
    out.push(valid(o(), carol()));
    out.push(valid(with(o(), &|p| p.headers = spoof(&remote)), carol()));
    out.push(with(o(), &|p| {
        p.headers
            .push(h("Authorization", &fake_auth::basic_header("carol:wrong")))
    }));
    out.push(valid(with(o(), &|p| p.headers = spoof(&remote)), good()));
    out.push(valid(with(o(), &|p| p.headers.push(carol())), good()));
    out.push(with(o(), &|p| {
        p.headers.push(h("Cookie", "authelia_session=forbidden"))
    }));
    out.push(valid(
        with(o(), &|p| p.fault = Some(("authelia", Mode::Down))),
        carol(),
    ));
    out.push(valid(with(o(), &|p| p.h2 = true), carol()));

    // ---- Subfolders in the default server: sonarr behind Authelia, radarr
    // behind Authentik; `^~ /sonarr/api` and `^~ /radarr/api` open.
    let sub = |auth: &'static str, app: &str, target: &str| {
        let mut p = base(auth, app);
        p.host = oracle::DEFAULT_HOST.into();
        p.target = target.into();
        p
    };
    out.push(sub("authelia", "sonarr", "/sonarr"));
    out.push(sub("authelia", "sonarr", "/sonarr/calendar?x=%2F&y=a+b"));
    out.push(valid(sub("authelia", "sonarr", "/sonarr/calendar"), good()));
    out.push(valid(
        with(sub("authelia", "sonarr", "/sonarr/"), &|p| {
            p.headers = spoof(&remote)
        }),
        good(),
    ));
    out.push(valid(
        with(sub("authelia", "sonarr", "/sonarr/settings"), &|p| {
            p.method = "POST";
            p.body = Some("sub=1");
        }),
        good(),
    ));
    out.push(open(sub("authelia", "sonarr", "/sonarr/api/v3/queue")));
    out.push(sub("authelia", "sonarr", "/%73onarr/calendar"));
    out.push(sub(
        "authelia",
        "sonarr",
        "/authelia/api/authz/auth-request",
    ));
    out.push(with(sub("authelia", "sonarr", "/sonarr/x"), &|p| {
        p.host = format!("nomatch.{}", oracle::DEFAULT_HOST)
    }));
    out.push(with(sub("authelia", "sonarr", "/sonarr/"), &|p| {
        p.headers.push(good());
        p.fault = Some(("authelia", Mode::Down));
    }));
    out.push(with(sub("authelia", "sonarr", "/sonarr/"), &|p| {
        p.h2 = true
    }));
    out.push(valid(
        with(sub("authelia", "sonarr", "/sonarr/"), &|p| p.h2 = true),
        good(),
    ));
    out.push(sub("authentik", "radarr", "/radarr"));
    out.push(sub("authentik", "radarr", "/radarr/movie?id=%2F1"));
    out.push(valid(sub("authentik", "radarr", "/radarr/movie"), kgood()));
    out.push(valid(
        with(sub("authentik", "radarr", "/radarr/"), &|p| {
            p.headers = spoof(&kids)
        }),
        kgood(),
    ));
    out.push(open(sub("authentik", "radarr", "/radarr/api/v3/movie")));
    out.push(open(sub(
        "authentik",
        "radarr",
        "/outpost.goauthentik.io/start?rd=https%3A%2F%2Fexample.test%2Fradarr",
    )));
    out.push(sub(
        "authentik",
        "radarr",
        "/outpost.goauthentik.io/auth/nginx",
    ));
    out
}

// ------------------------------------------------------------ the test

/// Everything a run needs: the fakes by name.
struct Fakes(Vec<Fake>);

impl Fakes {
    fn get(&self, name: &str) -> &Fake {
        self.0
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no fake {name}"))
    }

    fn clear(&self) {
        for f in &self.0 {
            f.take();
        }
    }

    /// Waits until every request is settled, then takes them all.
    fn settle(&self) -> Vec<Seen> {
        let ok = foundation::wait_until(Duration::from_secs(10), || {
            self.0.iter().all(|f| f.settled())
        });
        assert!(ok, "fakes did not settle within 10 s");
        // Auth servers first, then apps, each in arrival order.
        let mut out = Vec::new();
        for f in &self.0 {
            out.extend(f.take());
        }
        out
    }
}

fn start_fakes() -> (Fakes, BTreeMap<String, Ipv4Addr>) {
    let mut names = BTreeMap::new();
    let mut fakes = Vec::new();
    let mut at = |name: &str, last: u8| {
        names.insert(name.to_string(), ip(last));
        ip(last)
    };
    let authelia = at("authelia", 10);
    let authentik = at("authentik-server", 11);
    let tinyauth = at("tinyauth", 12);
    let ldap = at("ldap-auth", 13);
    let mut apps = Vec::new();
    for (n, i) in INTEGRATIONS.iter().enumerate() {
        apps.push((i.app, SocketAddr::from((at(i.app, 20 + n as u8), i.port))));
    }
    // Authelia and the Authentik outpost (Go servers) keep connections
    // alive, so a proxy's pool is used; Tinyauth and the LDAP daemon close
    // them, so a body sent after the head is seen.
    fakes.push(Fake::start_keep_alive(
        "authelia",
        (authelia, 9091).into(),
        fake_auth::authelia,
    ));
    fakes.push(Fake::start_keep_alive(
        "authentik-server",
        (authentik, 9000).into(),
        fake_auth::authentik,
    ));
    fakes.push(Fake::start(
        "tinyauth",
        (tinyauth, 3000).into(),
        false,
        fake_auth::tinyauth,
    ));
    fakes.push(Fake::start(
        "ldap-auth",
        (ldap, 8888).into(),
        false,
        fake_auth::ldap_auth,
    ));
    fakes.push(Fake::start(
        "ldap-login",
        (ldap, 9000).into(),
        true,
        fake_auth::ldap_login,
    ));
    for (name, addr) in apps {
        fakes.push(Fake::start(name, addr, true, fake_auth::app(name)));
    }
    (Fakes(fakes), names)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        text.contains(from),
        "{}: `{from}` not found",
        path.display()
    );
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn forward_auth_matches_nginx_for_every_probe() {
    let test = "forward_auth_matches_nginx_for_every_probe";
    let Some(nginx_bin) = env::require_program(test, "nginx") else {
        return;
    };
    let Some(corpus) = oracle::corpus_dir() else {
        assert!(!env::in_ci(), "{test}: corpus not found (set MOAT_CORPUS)");
        eprintln!("\n*** SKIP {test}: corpus not found (set MOAT_CORPUS) ***\n");
        return;
    };
    let clock = std::time::Instant::now();
    let (fakes, names) = start_fakes();
    let dns = oracle::DnsStub::start(names);

    // The four samples with their auth lines uncommented.
    let read_sample = |sample: &str| {
        let path = corpus.join("reverse-proxy-confs").join(sample);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let mut chosen: Vec<oracle::Chosen> = INTEGRATIONS
        .iter()
        .map(|i| {
            let sample = format!("{}.subdomain.conf.sample", i.app);
            let mut text = enable(
                &sample,
                &read_sample(&sample),
                i.auth,
                &["server", "location"],
            );
            if i.app == "overseerr" {
                // The sample's own http auth lines too: either credential.
                for line in [
                    "#auth_basic \"Restricted\";",
                    "#auth_basic_user_file /config/nginx/.htpasswd;",
                ] {
                    assert_eq!(text.matches(line).count(), 1, "{sample}: {line}");
                    text = text.replacen(line, &line[1..], 1);
                }
            }
            if !i.access.is_empty() {
                let include = format!("include /config/nginx/{}-location.conf;", i.auth);
                text = text.replacen(&include, &format!("{}\n        {include}", i.access), 1);
            }
            oracle::Chosen {
                sample,
                text,
                scopes: vec![],
                upstreams: vec![],
                subfolder: false,
                regex_hosts: vec![],
            }
        })
        .collect();
    // Subfolders: the location snippet in the sample, the server snippet in
    // default.conf's server block (below), as SWAG's comments say.
    for (auth, app) in SUBFOLDERS {
        let sample = format!("{app}.subfolder.conf.sample");
        let text = enable(&sample, &read_sample(&sample), auth, &["location"]);
        chosen.push(oracle::Chosen {
            sample,
            text,
            scopes: vec![],
            upstreams: vec![],
            subfolder: true,
            regex_hosts: vec![],
        });
    }
    let (cert, key) = oracle::test_cert(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let trees = oracle::write_trees(tmp.path(), &corpus, &chosen, dns.addr, &cert, &key);
    for tree in [&trees.moat, &trees.nginx] {
        std::fs::write(tree.join("nginx/.htpasswd"), htpasswd_line()).unwrap();
        edit(
            &tree.join("nginx/proxy.conf"),
            "proxy_read_timeout 240;",
            "proxy_read_timeout 3;",
        );
        // The snippets as SWAG copies them on first start.
        for auth in ["authelia", "authentik", "tinyauth", "ldap"] {
            for part in ["server", "location"] {
                assert!(tree.join(format!("nginx/{auth}-{part}.conf")).is_file());
            }
        }
    }
    // SWAG's nginx loads set-misc (`set_escape_uri` in the snippets)
    // through `include /etc/nginx/modules/*.conf`, which the oracle drops.
    let modules = Path::new("/usr/lib/nginx/modules");
    let set_misc = modules.join("ngx_http_set_misc_module.so");
    if !env::require(
        test,
        set_misc.exists(),
        "libnginx-mod-http-set-misc is not installed",
    ) {
        return;
    }
    let nginx_conf = trees.nginx.join("nginx/nginx.conf");
    let text = std::fs::read_to_string(&nginx_conf).unwrap();
    let loads = format!(
        "load_module {};\nload_module {};\n",
        modules.join("ndk_http_module.so").display(),
        set_misc.display()
    );
    std::fs::write(&nginx_conf, loads + &text).unwrap();
    for (tree, config) in [
        (&trees.moat, "/config".to_string()),
        (&trees.nginx, trees.nginx.display().to_string()),
    ] {
        let default_conf = tree.join("nginx/site-confs/default.conf");
        let text = std::fs::read_to_string(&default_conf).unwrap();
        let mut text = text.replace(&config, "/config");
        for (auth, _) in SUBFOLDERS {
            text = enable("site-confs/default.conf", &text, auth, &["server"]);
        }
        std::fs::write(
            &default_conf,
            text.replace("/config/", &format!("{config}/")),
        )
        .unwrap();
    }
    // The oracle's nginx tree already listens with `http2` on its ssl ports
    // (nginx 1.22 enables HTTP/2 per listen), as the h2 probes need.
    let nginx_443 = trees.ports[&443];
    let nginx = oracle::Nginx::start(&nginx_bin, &trees.nginx, nginx_443)
        .unwrap_or_else(|e| panic!("{test}: {e}"));

    let cmd = moat_command(moat_bin(), &trees.moat, &[]);
    let moat_443: u16 = cmd
        .get_envs()
        .find(|(k, _)| *k == "HTTPS_PORT")
        .and_then(|(_, v)| v)
        .and_then(|v| v.to_str())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let moat = Running::spawn(cmd);
    moat.wait_for(&["proxy listening"], Duration::from_secs(20));
    moat.wait_for(&["configuration reloaded"], Duration::from_secs(20));
    eprintln!("nginx and moat up after {:?}", clock.elapsed());

    let plain = oracle::client_config(&cert);
    let mut h2cfg = (*plain).clone();
    h2cfg.alpn_protocols = vec![b"h2".to_vec()];
    let h2cfg = Arc::new(h2cfg);

    let version = nginx_version(&nginx_bin);
    let probes = probes();
    let mut differences = Vec::new();
    let mut violations = Vec::new();
    let mut nginx_views = Vec::new();
    // (requests, connections) moat sent Authelia: the pool is used.
    let moat_pool = std::cell::Cell::new((0usize, 0usize));
    for p in &probes {
        let run = |port: u16| {
            fakes.clear();
            let before = fakes.get("authelia").connections();
            if let Some((fake, m)) = p.fault {
                fakes.get(fake).set_mode(m);
            }
            let started = std::time::Instant::now();
            let answer = if p.h2 {
                send_h2(port, p, &h2cfg)
            } else {
                send_h1(port, p, &plain).map(|a| vec![a])
            };
            let answered = started.elapsed();
            if let Some((fake, _)) = p.fault {
                fakes.get(fake).set_mode(Mode::Up);
            }
            let seen = fakes.settle();
            if port == moat_443 && p.fault.is_none() {
                let asked = seen.iter().filter(|s| s.server == "authelia").count();
                let opened = fakes.get("authelia").connections() - before;
                moat_pool.set((moat_pool.get().0 + asked, moat_pool.get().1 + opened));
            }
            (view(answer, seen, port), (answered, started.elapsed()))
        };
        let (mut n, ntook) = run(nginx_443);
        if let Some((old, new)) = p.newer_nginx {
            if version < NEWER_NGINX {
                assert!(
                    n.summary.contains(old),
                    "{p}: nginx {version:?} did not answer `{old}`: {}",
                    n.summary
                );
                n.summary = n.summary.replace(old, new);
            }
        }
        let (m, mtook) = run(moat_443);
        eprintln!(
            "PROBE {p}\n  nginx: {} ({:?} answered, {:?} settled)\n    {}\n  moat:  {} ({:?}, {:?})",
            n.summary,
            ntook.0,
            ntook.1,
            n.detail.join("\n    "),
            m.summary,
            mtook.0,
            mtook.1
        );
        for (side, v) in [("nginx", &n), ("moat", &m)] {
            // A second request on the connection never has credentials.
            let allowed = usize::from(p.then.is_some() && !p.unauthenticated);
            if (p.unauthenticated || p.then.is_some()) && v.apps.len() > allowed {
                violations.push(format!(
                    "{side}: {p}: reached {} without valid credentials",
                    v.apps[allowed].server
                ));
            }
            let strips = INTEGRATIONS
                .iter()
                .any(|i| i.auth == p.auth && i.strips_identity);
            if p.protected && strips {
                for s in &v.apps {
                    if let Some((name, _)) = s.headers.iter().find(|(_, val)| val == SPOOF) {
                        violations.push(format!(
                            "{side}: {p}: {} saw the client's own {name}",
                            s.server
                        ));
                    }
                }
            }
        }
        if n != m {
            differences.push(format!(
                "{p}\n  nginx: {}\n    {}\n  moat:  {}\n    {}",
                n.summary,
                n.detail.join("\n    "),
                m.summary,
                m.detail.join("\n    ")
            ));
        }
        nginx_views.push((p.clone(), n));
    }
    eprintln!("{} probes sent after {:?}", probes.len(), clock.elapsed());
    let errors = std::fs::read_to_string(&nginx.error_log).unwrap_or_default();
    drop(nginx);

    // The nginx side must be what the snippets promise, or the comparison
    // proves little.
    let mut harness = Vec::new();
    for (p, v) in &nginx_views {
        if v.summary.starts_with("FAILED") {
            harness.push(format!("{p}: {}", v.summary));
        }
        let broken = matches!(p.fault, Some((_, Mode::Down | Mode::Slow)));
        if p.protected && !p.unauthenticated && !broken && v.apps.is_empty() {
            harness.push(format!(
                "{p}: valid credentials, app not reached: {}",
                v.summary
            ));
        }
    }
    let redirects = nginx_views
        .iter()
        .filter(|(_, v)| v.summary.starts_with("302 Location"))
        .count();
    let errors500 = nginx_views
        .iter()
        .filter(|(_, v)| v.summary.starts_with("500"))
        .count();
    assert!(
        harness.is_empty() && redirects >= 10 && errors500 >= 4,
        "the nginx side is not what the snippets promise ({redirects} redirects, {errors500} 500s):\n{}\nnginx error log:\n{errors}",
        harness.join("\n")
    );
    let (asked, opened) = moat_pool.get();
    eprintln!("moat asked Authelia {asked} times over {opened} new connections");
    assert!(
        asked >= 20 && opened * 4 <= asked,
        "moat asked Authelia {asked} times over {opened} new connections: auth subrequests are not pooled"
    );
    assert!(
        violations.is_empty(),
        "{} invariant violations:\n{}",
        violations.len(),
        violations.join("\n")
    );
    assert!(
        differences.is_empty(),
        "{} of {} probes differ from nginx:\n{}\nmoat log (tail):\n{}",
        differences.len(),
        probes.len(),
        differences.join("\n"),
        tail(&moat.log(), 60)
    );
}

/// The basic credentials overseerr's `auth_basic` accepts.
const BASIC_USER: &str = "carol:secret";

/// `carol:{SHA}...` for [`BASIC_USER`].
fn htpasswd_line() -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let (user, pass) = BASIC_USER.split_once(':').unwrap();
    let digest = sha1::Sha1::digest(pass.as_bytes());
    format!(
        "{user}:{{SHA}}{}\n",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// `(major, minor)` of `nginx -v`.
fn nginx_version(bin: &Path) -> (u32, u32) {
    let out = std::process::Command::new(bin)
        .arg("-v")
        .output()
        .expect("nginx -v");
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    let v = text
        .split("nginx/")
        .nth(1)
        .unwrap_or_else(|| panic!("nginx -v: {text}"));
    let mut parts = v.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
