//! `moat explain`: the decision nginx would take for one request, computed by
//! the same [`RouteTable::decide`] the proxy calls, without any socket.
//!
//! The request is described by a URL: its scheme gives `$scheme` and TLS, its
//! port (or the scheme's default, 80/443) picks the `listen` socket, its host
//! becomes the `Host` header (unless `-H 'Host: ...'` overrides it) and the
//! SNI for `https`, and its path and query are the raw request target.
//!
//! With `--json` the output is one object:
//! `{"server": {"file","line","names"}, "location": {"file","line","match"} | null,
//!   "action", "status", "upstream", "upstream_method"?, "location_header", "upstream_headers",
//!   "response_headers"}` (`upstream_method` only when it is not the client's).
//! Actions map as follows: `proxy_pass` → `"proxy"`, `grpc_pass` → `"grpc"`,
//! `return`/`rewrite ... redirect` → `"return"` with its status,
//! `allow`/`deny`/`internal` → `"deny"` (403 or 404), the default server's
//! static handler → `"static"` (status `null`: it depends on the file),
//! nothing matched → `"static"` with 404, `auth_basic` without valid
//! credentials → `"auth"` with 401 (plus its `WWW-Authenticate` in
//! `response_headers`), an auth directive moat cannot evaluate →
//! `"auth"` with 503 (fail closed), and a content handler moat does not
//! have (`fastcgi_pass`) → `"unsupported"` with 503. An `auth_request`
//! location is `"auth"` with status `null`, `upstream` the auth server's
//! URL, and an `"auth"` object: the subrequest (`request`: uri, url,
//! method, headers) and the decision for each answer (`on_2xx`, `on_401`,
//! `on_403`, `on_error`), each in this same shape.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde::Serialize;

use crate::conf::{Action, Decision, LocationRef, RequestInfo, ServerRef};

/// Options of `moat explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The /config directory (default: `CONFIG_DIR`, else `/config`).
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// Print the decision as JSON.
    #[arg(long)]
    pub json: bool,
    /// A request header, `Name: value` (repeatable, order kept).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// The request method.
    #[arg(long = "method", short = 'X', default_value = "GET")]
    pub method: String,
    /// The client address (`$remote_addr`), `IP` or `IP:PORT`.
    #[arg(long = "remote-addr", value_name = "IP", default_value = "127.0.0.1")]
    pub remote_addr: String,
    /// The request, e.g. `https://nextcloud.example.com/remote.php?x=1`.
    #[arg(value_name = "URL")]
    pub url: String,
}

/// The JSON shape of `moat explain --json` (issue 3, item 6).
#[derive(Debug, Serialize, PartialEq)]
pub struct Explained {
    /// The `server` block that took the request.
    pub server: ServerRef,
    /// The `location` that took it, or `null`.
    pub location: Option<LocationRef>,
    /// `proxy`, `grpc`, `return`, `deny`, `static`, `auth` or `unsupported`.
    pub action: &'static str,
    /// The status moat answers with itself; for a forwarded request `null`,
    /// or the status an `error_page` (`=code`, or the original error
    /// without `=`) imposes on the upstream's answer.
    pub status: Option<u16>,
    /// The full upstream URL for `proxy`/`grpc`.
    pub upstream: Option<String>,
    /// The method sent upstream when it is not the client's (an
    /// `error_page` redirect makes a `POST` a `GET`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_method: Option<String>,
    /// `Location` of a redirect.
    pub location_header: Option<String>,
    /// Headers sent upstream, in order.
    pub upstream_headers: Vec<(String, String)>,
    /// Headers added to the response (`add_header`, `WWW-Authenticate`).
    pub response_headers: Vec<(String, String)>,
    /// For an `auth_request` location: the subrequest and what each
    /// answer of the auth server leads to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<Box<AuthExplained>>,
}

/// The `auth_request` step of `moat explain --json`.
#[derive(Debug, Serialize, PartialEq)]
pub struct AuthExplained {
    /// The subrequest moat would send.
    pub request: AuthSubrequest,
    /// The decision when the auth server answers 200 (no identity headers).
    pub on_2xx: Explained,
    /// The decision when it answers 401 (no `Location`): usually the
    /// `error_page 401` target.
    pub on_401: Explained,
    /// The decision when it answers 403.
    pub on_403: Explained,
    /// The decision when it fails, times out or answers anything else.
    pub on_error: Explained,
}

/// The subrequest of an `auth_request`.
#[derive(Debug, Serialize, PartialEq)]
pub struct AuthSubrequest {
    /// The `auth_request` URI.
    pub uri: String,
    /// The auth server URL asked.
    pub url: String,
    /// Always `GET`.
    pub method: String,
    /// The headers it carries, in order.
    pub headers: Vec<(String, String)>,
}

impl AuthExplained {
    /// Runs the route table again with each kind of answer.
    pub fn from(
        table: &crate::conf::RouteTable,
        req: &RequestInfo,
        ask: &crate::conf::AuthRequest,
    ) -> AuthExplained {
        let after = |status: u16| {
            let outcome = crate::conf::AuthOutcome {
                uri: ask.uri.clone(),
                status,
                headers: Vec::new(),
            };
            Explained::from_decision(&table.decide_after_auth(req, &outcome), req)
        };
        AuthExplained {
            request: AuthSubrequest {
                uri: ask.uri.clone(),
                url: ask.target.url.clone(),
                method: ask.target.method.clone().unwrap_or_else(|| "GET".into()),
                headers: ask.target.headers.list(&req.headers),
            },
            on_2xx: after(200),
            on_401: after(401),
            on_403: after(403),
            on_error: after(502),
        }
    }
}

impl Explained {
    /// Flattens a [`Decision`] for `req` into the documented shape.
    pub fn from_decision(d: &Decision, req: &RequestInfo) -> Explained {
        let mut response_headers: Vec<(String, String)> = d
            .response_headers
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        let (action, status, upstream, location_header, upstream_headers) = match &d.action {
            Action::Proxy(t) => (
                "proxy",
                d.status_override,
                Some(t.url.clone()),
                None,
                t.headers.list(&req.headers),
            ),
            Action::Grpc(t) => (
                "grpc",
                d.status_override,
                Some(t.url.clone()),
                None,
                t.headers.list(&req.headers),
            ),
            Action::Return {
                status, location, ..
            } => ("return", Some(*status), None, location.clone(), vec![]),
            Action::Deny { status } => ("deny", Some(*status), None, None, vec![]),
            Action::Static { .. } => ("static", None, None, None, vec![]),
            Action::NotFound => ("static", Some(404), None, None, vec![]),
            Action::Unauthorized { realm } => {
                response_headers.push((
                    "WWW-Authenticate".to_string(),
                    format!("Basic realm=\"{realm}\""),
                ));
                ("auth", Some(401), None, None, vec![])
            }
            Action::Unavailable { .. } => ("auth", Some(503), None, None, vec![]),
            Action::Authenticate(ask) => ("auth", None, Some(ask.target.url.clone()), None, vec![]),
            Action::Unsupported { .. } => ("unsupported", Some(503), None, None, vec![]),
            #[allow(unreachable_patterns)]
            _ => ("static", None, None, None, vec![]),
        };
        Explained {
            server: (*d.server).clone(),
            location: d.location.as_deref().cloned(),
            action,
            status,
            upstream,
            location_header,
            upstream_method: match &d.action {
                Action::Proxy(t) | Action::Grpc(t) => t.method.clone(),
                _ => None,
            },
            upstream_headers,
            response_headers,
            auth: None,
        }
    }
}

/// Turns a URL plus `explain`'s options into the request the proxy would see.
pub fn request_from_url(
    url: &str,
    method: &str,
    headers: &[String],
    remote_addr: &str,
) -> anyhow::Result<RequestInfo> {
    let (scheme, rest) = url
        .split_once("://")
        .with_context(|| format!("URL `{url}` has no scheme (want http:// or https://)"))?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        other => bail!("URL `{url}`: scheme `{other}` is not http or https"),
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(split);
    if authority.is_empty() {
        bail!("URL `{url}` has no host");
    }
    let uri = match target {
        "" => "/".to_string(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_string(),
    };
    let (host_only, port) = split_host_port(authority)
        .with_context(|| format!("URL `{url}`: bad port in `{authority}`"))?;
    let server_port = port.unwrap_or(if tls { 443 } else { 80 });
    let mut list: Vec<(String, String)> = Vec::new();
    for h in headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("header `{h}` is not `Name: value`"))?;
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            bail!("header `{h}`: bad header name `{name}`");
        }
        list.push((name.to_string(), value.trim().to_string()));
    }
    if !list.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        list.insert(0, ("Host".to_string(), authority.to_string()));
    }
    let host = list
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.clone());
    let sni = (tls && host_only.parse::<IpAddr>().is_err()).then(|| {
        host_only
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string()
    });
    let remote = parse_remote(remote_addr)?;
    Ok(RequestInfo {
        method: method.to_string(),
        tls,
        server_port,
        host,
        sni,
        uri,
        headers: list,
        remote,
        proxy_protocol: None,
        client_certs: None,
    })
}

/// `host[:port]` or `[v6][:port]`.
fn split_host_port(authority: &str) -> anyhow::Result<(&str, Option<u16>)> {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let (h, rest) = authority.split_at(end + 1);
                (h, rest.strip_prefix(':'))
            }
            None => bail!("unclosed `[`"),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(p.parse::<u16>().with_context(|| format!("`{p}`"))?),
    };
    Ok((host, port))
}

fn parse_remote(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let ip: IpAddr = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .with_context(|| format!("--remote-addr `{text}` is not an IP address"))?;
    Ok(SocketAddr::new(ip, 50000))
}

/// Entry point; returns the exit code.
pub fn run(args: ExplainArgs) -> anyhow::Result<i32> {
    let req = request_from_url(&args.url, &args.method, &args.headers, &args.remote_addr)?;
    let table = match super::routes::load_table(args.config.as_deref())? {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    let decision = table.decide(&req);
    let mut explained = Explained::from_decision(&decision, &req);
    if let Action::Authenticate(ask) = &decision.action {
        explained.auth = Some(Box::new(AuthExplained::from(&table, &req, ask)));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&explained)?);
    } else {
        print_human(&req, &explained);
    }
    Ok(0)
}

fn print_human(req: &RequestInfo, e: &Explained) {
    println!(
        "request   {} {} (port {}{}, Host {})",
        req.method,
        req.uri,
        req.server_port,
        if req.tls { ", TLS" } else { "" },
        req.host.as_deref().unwrap_or("-")
    );
    println!(
        "server    {}:{}  {}",
        e.server.file.display(),
        e.server.line,
        e.server.names.join(" ")
    );
    match &e.location {
        Some(l) => println!("location  {}:{}  {}", l.file.display(), l.line, l.r#match),
        None => println!("location  (none)"),
    }
    let mut action = e.action.to_string();
    if let Some(s) = e.status {
        action.push_str(&format!(" {s}"));
    }
    if let Some(u) = &e.upstream {
        action.push_str(&format!(" {u}"));
    }
    if let Some(l) = &e.location_header {
        action.push_str(&format!(" Location: {l}"));
    }
    println!("action    {action}");
    if !e.upstream_headers.is_empty() {
        println!("upstream headers:");
        for (n, v) in &e.upstream_headers {
            println!("  {n}: {v}");
        }
    }
    if !e.response_headers.is_empty() {
        println!("response headers:");
        for (n, v) in &e.response_headers {
            println!("  {n}: {v}");
        }
    }
    if let Some(auth) = &e.auth {
        println!(
            "auth      {} {} (auth_request {})",
            auth.request.method, auth.request.url, auth.request.uri
        );
        for (n, v) in &auth.request.headers {
            println!("  {n}: {v}");
        }
        for (answer, then) in [
            ("2xx", &auth.on_2xx),
            ("401", &auth.on_401),
            ("403", &auth.on_403),
            ("other", &auth.on_error),
        ] {
            let mut line = format!("  on {answer:<5} {}", then.action);
            if let Some(s) = then.status {
                line.push_str(&format!(" {s}"));
            }
            if let Some(u) = &then.upstream {
                line.push_str(&format!(" {u}"));
            }
            if let Some(l) = &then.location_header {
                line.push_str(&format!(" Location: {l}"));
            }
            println!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_gives_port_tls_host_sni_and_raw_target() {
        let r = request_from_url(
            "https://Cloud.example.com/remote.php/%7Ex?a=1&b",
            "PROPFIND",
            &["X-A: 1".into()],
            "10.0.0.9",
        )
        .unwrap();
        assert!(r.tls);
        assert_eq!(r.server_port, 443);
        assert_eq!(r.uri, "/remote.php/%7Ex?a=1&b");
        assert_eq!(r.host.as_deref(), Some("Cloud.example.com"));
        assert_eq!(r.sni.as_deref(), Some("Cloud.example.com"));
        assert_eq!(r.method, "PROPFIND");
        assert_eq!(
            r.headers,
            vec![
                ("Host".to_string(), "Cloud.example.com".to_string()),
                ("X-A".to_string(), "1".to_string())
            ]
        );
        assert_eq!(r.remote.ip().to_string(), "10.0.0.9");
    }

    #[test]
    fn explicit_port_query_only_and_host_override() {
        let r = request_from_url(
            "http://127.0.0.1:8080?x",
            "GET",
            &["host: app.example.com".into()],
            "[::1]:4000",
        )
        .unwrap();
        assert!(!r.tls);
        assert_eq!(r.server_port, 8080);
        assert_eq!(r.uri, "/?x");
        assert_eq!(r.host.as_deref(), Some("app.example.com"));
        assert_eq!(r.sni, None);
        assert_eq!(r.headers.len(), 1);
        assert_eq!(r.remote.to_string(), "[::1]:4000");
    }

    #[test]
    fn bad_inputs_name_what_is_wrong() {
        let cases = [
            ("example.com/x", "has no scheme"),
            ("ftp://x/", "scheme `ftp` is not http or https"),
            ("http://x:99999/", "bad port in `x:99999`"),
            ("http:///x", "has no host"),
        ];
        for (url, want) in cases {
            let err = request_from_url(url, "GET", &[], "127.0.0.1").unwrap_err();
            assert!(format!("{err:#}").contains(want), "{url}: {err:#}");
        }
        let err = request_from_url("http://x/", "GET", &["nocolon".into()], "1.2.3.4").unwrap_err();
        assert!(format!("{err:#}").contains("`nocolon` is not `Name: value`"));
        let err = request_from_url("http://x/", "GET", &[], "nope").unwrap_err();
        assert!(format!("{err:#}").contains("--remote-addr `nope`"));
    }
}
