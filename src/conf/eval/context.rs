//! The per-request state of an evaluation and the variable values it
//! gives to templates.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use crate::conf::compile::level::Level;
use crate::conf::decision::{
    AuthOutcome, HeaderRule, LocationRef, ProxyProtocolAddrs, RequestInfo,
};
use crate::conf::route_table::{RouteTable, Server};
use crate::conf::variables::{Builtin, Var, VarSource};

/// User variables (`set`, named captures, `auth_request_set`) of one
/// request: a few names, so a list searched in place costs less than
/// hashing each name, and a `set` borrows its name from the compiled
/// statement instead of copying it.
#[derive(Debug, Default)]
pub(crate) struct Vars<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Vars<'a> {
    /// The value of `name`, when it was set.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| &**v)
    }

    /// Sets `name` (a later value replaces an earlier one).
    pub(crate) fn set(&mut self, name: Cow<'a, str>, value: Cow<'a, str>) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name, value)),
        }
    }

    /// Sets each pair in turn.
    pub(crate) fn extend(&mut self, pairs: impl IntoIterator<Item = (String, String)>) {
        for (name, value) in pairs {
            self.set(Cow::Owned(name), Cow::Owned(value));
        }
    }
}

/// Everything one request's evaluation reads and changes.
pub(crate) struct Eval<'a> {
    pub table: &'a RouteTable,
    pub req: &'a RequestInfo,
    pub server: &'a Server,
    /// `$host`: Host header without port, lower-case.
    pub host: String,
    /// `$uri`: decoded, normalised, possibly rewritten.
    pub uri: String,
    /// `$args`.
    pub args: String,
    /// `true` once a rewrite changed the URI (the raw request URI is then
    /// no longer what goes upstream).
    pub uri_changed: bool,
    /// nginx's `r->valid_location`: `false` after a `rewrite ... break` in
    /// the chosen location, which makes `proxy_pass` ignore its URI part
    /// and send the rewritten URI whole.
    pub location_valid: bool,
    /// User variables and named captures.
    pub vars: Vars<'a>,
    /// `$0`..`$9` of the last successful regex.
    pub captures: Vec<Option<String>>,
    /// The settings of the current location (or `if`).
    pub level: Arc<Level>,
    /// `$proxy_host` once the upstream URL is known.
    pub proxy_host: String,
    /// `$proxy_port`.
    pub proxy_port: String,
    /// A rewrite without flag changed the URI during the current script.
    pub rewrote: bool,
    /// `$remote_addr` as text, formatted once per request when first used
    /// (`$remote_addr` and `$proxy_add_x_forwarded_for` both need it).
    pub remote_text: std::cell::OnceCell<String>,
    /// The client address after realip (`None`: the connection's).
    pub realip: Option<IpAddr>,
    /// The client port after realip: the PROXY header's source port, the
    /// port written beside the header's address, else 0 (`$remote_port`
    /// is then empty, as in nginx).
    pub realip_port: u16,
    /// The location whose settings are in effect.
    pub location: Option<Arc<LocationRef>>,
    /// Location searches and URI changes so far (nginx's `uri_changes`).
    pub searches: usize,
    /// The auth server's answer, when deciding after the subrequest.
    pub auth: Option<&'a AuthOutcome>,
    /// `$ssl_client_verify` of a server that verifies client certificates.
    pub client_verdict: Option<crate::conf::client_cert::Verdict>,
    /// The auth response's headers while `auth_request_set` values are
    /// evaluated (`$upstream_http_*`); `None` otherwise.
    pub upstream_headers: Option<&'a [(String, String)]>,
    /// Evaluating the `auth_request` subrequest (no nested subrequests,
    /// no `error_page`).
    pub in_subrequest: bool,
    /// An `error_page` redirect happened (`recursive_error_pages off`:
    /// at most one).
    pub in_error_page: bool,
    /// nginx's `r->err_status`: the status an `error_page` imposes.
    pub status_override: Option<u16>,
    /// Response headers the access phase adds whatever answers (the auth
    /// server's `WWW-Authenticate` on a 401).
    pub auth_headers: Vec<HeaderRule>,
    /// An `error_page` redirect to a URI made the method `GET`.
    pub method_get: bool,
    /// Error-log messages of the access phase (see `Decision::errors`).
    pub errors: Vec<String>,
    /// `limit_req`/`limit_conn` found at the first pre-access phase.
    pub found_limits: Option<crate::conf::decision::RequestLimits>,
}

impl Eval<'_> {
    /// The first request header with this name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.req
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_joined(&self, name: &str, sep: &str) -> Option<String> {
        let vals: Vec<&str> = self
            .req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!vals.is_empty()).then(|| vals.join(sep))
    }

    /// `$remote_addr` as text.
    pub(crate) fn remote_text(&self) -> &str {
        self.remote_text
            .get_or_init(|| crate::cidr::ip_text(self.remote_ip()))
    }

    /// `$remote_addr`: the realip result, else the connection's address.
    pub(crate) fn remote_ip(&self) -> IpAddr {
        self.realip.unwrap_or_else(|| self.conn_ip())
    }

    /// `$realip_remote_addr`: the connection's address (IPv4-mapped IPv6
    /// shown as IPv4).
    pub(crate) fn conn_ip(&self) -> IpAddr {
        match self.req.remote.ip() {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        }
    }

    /// A `$proxy_protocol_*` value: empty without a PROXY header, as in nginx.
    fn proxied(&self, f: impl Fn(&ProxyProtocolAddrs) -> String) -> Cow<'_, str> {
        self.req
            .proxy_protocol
            .as_ref()
            .map_or(Cow::Borrowed(""), |p| Cow::Owned(f(p)))
    }

    /// Runs realip with the current level's settings unless an earlier
    /// phase already changed the address (see `realip.rs`).
    pub(crate) fn apply_realip(&mut self) {
        if self.realip.is_some() {
            return;
        }
        if let Some((ip, port)) = super::realip::client_addr(
            &self.level,
            self.conn_ip(),
            &self.req.headers,
            self.req.proxy_protocol.as_ref(),
        ) {
            self.realip = Some(ip);
            self.realip_port = port;
            self.remote_text = std::cell::OnceCell::new();
        }
    }

    /// `$request_method`: the client's, or `GET` after an `error_page`
    /// redirect turned it into one (nginx keeps `HEAD`).
    pub(crate) fn method(&self) -> &str {
        if self.method_get && self.req.method != "HEAD" {
            "GET"
        } else {
            &self.req.method
        }
    }

    pub(crate) fn scheme(&self) -> &'static str {
        if self.req.tls {
            "https"
        } else {
            "http"
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        let all = self.header_joined("cookie", "; ")?;
        all.split(';').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
    }

    fn arg(&self, name: &str) -> Option<String> {
        self.args.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            k.eq_ignore_ascii_case(name).then(|| v.to_string())
        })
    }

    /// `$remote_user`: the user of a `Basic` `Authorization` header,
    /// whether or not `auth_basic` applies or the password checks out.
    pub(crate) fn remote_user(&self) -> Option<String> {
        self.header("authorization")
            .and_then(crate::conf::htpasswd::basic_credentials)
            .map(|(user, _)| user)
    }

    fn document_root(&self) -> String {
        if let Some(alias) = &self.level.alias {
            // nginx: the alias itself (without the location's part).
            return alias.value.render(self as &dyn VarSource);
        }
        self.level
            .root
            .clone()
            .unwrap_or_else(|| "/usr/share/nginx/html".to_string())
    }

    /// `$request_filename`: the file the URI maps to.
    fn request_filename(&self) -> String {
        match self.file_path(&self.uri, false) {
            Some((root, path)) => format!("{}{path}", root.trim_end_matches('/')),
            None => format!("{}{}", self.document_root(), self.uri),
        }
    }
}

impl VarSource for Eval<'_> {
    fn get(&self, var: &Var) -> Cow<'_, str> {
        use Builtin::*;
        let owned = |s: String| Cow::Owned(s);
        match var {
            Var::Builtin(b) => match b {
                Host => Cow::Borrowed(&self.host),
                Scheme => Cow::Borrowed(self.scheme()),
                Https => Cow::Borrowed(if self.req.tls { "on" } else { "" }),
                RequestUri => Cow::Borrowed(&self.req.uri),
                Uri => Cow::Borrowed(&self.uri),
                Args => Cow::Borrowed(&self.args),
                IsArgs => Cow::Borrowed(if self.args.is_empty() { "" } else { "?" }),
                RemoteAddr => Cow::Borrowed(self.remote_text()),
                RealipRemoteAddr => owned(crate::cidr::ip_text(self.conn_ip())),
                RemotePort => match (self.realip, self.realip_port) {
                    (None, _) => owned(self.req.remote.port().to_string()),
                    (Some(_), 0) => Cow::Borrowed(""),
                    (Some(_), port) => owned(port.to_string()),
                },
                RealipRemotePort => owned(self.req.remote.port().to_string()),
                ProxyProtocolAddr => self.proxied(|p| p.source.ip().to_string()),
                ProxyProtocolPort => self.proxied(|p| p.source.port().to_string()),
                ProxyProtocolServerAddr => self.proxied(|p| p.destination.ip().to_string()),
                ProxyProtocolServerPort => self.proxied(|p| p.destination.port().to_string()),
                ServerPort => owned(self.req.server_port.to_string()),
                ServerName => owned(self.server.at.names.first().cloned().unwrap_or_default()),
                ServerAddr | Empty | Hostname => Cow::Borrowed(""),
                SslClientVerify => match (&self.client_verdict, self.req.tls) {
                    (Some(v), _) => v.text(),
                    (None, true) => Cow::Borrowed("NONE"),
                    (None, false) => Cow::Borrowed(""),
                },
                SslClientSDn | SslClientIDn => match self.req.client_certs.as_deref() {
                    Some([leaf, ..]) => owned(crate::conf::client_cert::dn_text(
                        leaf,
                        matches!(b, SslClientIDn),
                    )),
                    _ => Cow::Borrowed(""),
                },
                ServerProtocol => Cow::Borrowed("HTTP/1.1"),
                RequestMethod => Cow::Borrowed(self.method()),
                Request => owned(format!("{} {} HTTP/1.1", self.req.method, self.req.uri)),
                ProxyAddXForwardedFor => match self.header_joined("x-forwarded-for", ", ") {
                    Some(mut x) => {
                        x.push_str(", ");
                        x.push_str(self.remote_text());
                        owned(x)
                    }
                    None => Cow::Borrowed(self.remote_text()),
                },
                ProxyHost => Cow::Borrowed(&self.proxy_host),
                ProxyPort => Cow::Borrowed(&self.proxy_port),
                DocumentRoot => owned(self.document_root()),
                RequestFilename => owned(self.request_filename()),
                FastcgiScriptName => Cow::Borrowed(&self.uri),
                RemoteUser => owned(self.remote_user().unwrap_or_default()),
                ContentType => owned(self.header("content-type").unwrap_or_default().to_string()),
                ContentLength => owned(
                    self.header("content-length")
                        .unwrap_or_default()
                        .to_string(),
                ),
            },
            Var::Http(name) => match name.as_str() {
                "cookie" => owned(self.header_joined("cookie", "; ").unwrap_or_default()),
                "x-forwarded-for" => owned(self.header_joined(name, ", ").unwrap_or_default()),
                _ => Cow::Borrowed(self.header(name).unwrap_or_default()),
            },
            Var::Cookie(name) => owned(self.cookie(name).unwrap_or_default()),
            Var::Arg(name) => owned(self.arg(name).unwrap_or_default()),
            Var::UpstreamHttp(name) => match self.upstream_headers {
                Some(headers) => owned(joined(headers, name).unwrap_or_default()),
                None => Cow::Borrowed(""),
            },
            Var::SentHttp(_) => Cow::Borrowed(""),
            Var::Capture(n) => match self.captures.get(*n) {
                Some(Some(s)) => Cow::Borrowed(s),
                _ => Cow::Borrowed(""),
            },
            Var::Named(name) => {
                if let Some(v) = self.vars.get(name) {
                    return Cow::Borrowed(v);
                }
                match self.table.maps.get(name) {
                    Some(map) => map.eval(self),
                    None => Cow::Borrowed(""),
                }
            }
        }
    }
}

/// The values of every header a `$upstream_http_<name>` variable reads
/// (`name` lower-case with `_`; a header's `-` matches `_`, case aside),
/// as nginx joins repeated headers: `; ` for `Cookie`, `, ` otherwise.
fn joined(headers: &[(String, String)], name: &str) -> Option<String> {
    let same = |n: &str| {
        n.len() == name.len()
            && n.bytes().zip(name.bytes()).all(|(a, b)| {
                let a = if a == b'-' {
                    b'_'
                } else {
                    a.to_ascii_lowercase()
                };
                a == b
            })
    };
    let sep = if name.eq_ignore_ascii_case("cookie") {
        "; "
    } else {
        ", "
    };
    let mut out: Option<String> = None;
    for (n, v) in headers {
        if same(n) {
            match &mut out {
                Some(o) => {
                    o.push_str(sep);
                    o.push_str(v);
                }
                None => out = Some(v.clone()),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A later `set` replaces the value in place; names are exact.
    #[test]
    fn vars_replace_and_find_by_exact_name() {
        let mut vars = Vars::default();
        vars.set(Cow::Borrowed("upstream_app"), Cow::Borrowed("a"));
        vars.extend([("upstream_port".to_string(), "80".to_string())]);
        vars.set(Cow::Owned("upstream_app".into()), Cow::Owned("b".into()));
        assert_eq!(vars.get("upstream_app"), Some("b"));
        assert_eq!(vars.get("upstream_port"), Some("80"));
        assert_eq!(vars.get("Upstream_app"), None);
        assert_eq!(vars.0.len(), 2);
    }
}
