//! The contract between `conf` and `proxy`: what the proxy tells the route
//! table about a request, and the decision it gets back.
//!
//! Everything nginx-specific (variable expansion, header inheritance,
//! `proxy_pass` URI rules, `proxy_redirect` and `proxy_cookie_path`
//! rewriting) is worked out here, in pure code, so the proxy only carries out
//! a decision and never interprets a directive.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use super::upstream_headers::UpstreamHeaders;

/// What the proxy knows about a request when it asks the [`crate::conf::RouteTable`].
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// `GET`, `POST`, ...
    pub method: String,
    /// `true` when the connection is TLS (`$scheme` is then `https`).
    pub tls: bool,
    /// The local port the connection was accepted on (`$server_port`; picks `listen`).
    pub server_port: u16,
    /// The `Host` header (or `:authority`), as received, possibly with a port.
    pub host: Option<String>,
    /// TLS SNI, when there was one.
    pub sni: Option<String>,
    /// The raw request target: path and query exactly as sent (`$request_uri`).
    pub uri: String,
    /// Request headers in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// The client's address (`$remote_addr`, `$remote_port`).
    pub remote: SocketAddr,
    /// The addresses of the PROXY protocol header the connection began
    /// with, on a `listen ... proxy_protocol` socket (`$proxy_protocol_addr`,
    /// `real_ip_header proxy_protocol`). `None` without a header, or for a
    /// header without addresses (v2 `LOCAL`, v1 `UNKNOWN`).
    pub proxy_protocol: Option<ProxyProtocolAddrs>,
    /// The certificate chain the client presented in the TLS handshake
    /// (leaf first), when it sent one.
    pub client_certs: Option<std::sync::Arc<[rustls_pki_types::CertificateDer<'static>]>>,
}

/// The source and destination a PROXY protocol header announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyProtocolAddrs {
    /// The original client (`$proxy_protocol_addr`, `$proxy_protocol_port`).
    pub source: SocketAddr,
    /// The address the client connected to (`$proxy_protocol_server_addr`,
    /// `$proxy_protocol_server_port`).
    pub destination: SocketAddr,
}

/// Where the deciding `server` block was defined, for `routes`/`explain` and logs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerRef {
    /// The file that holds the block.
    pub file: PathBuf,
    /// The line of the `server` keyword.
    pub line: u32,
    /// Its `server_name` values as written (`_` for a catch-all).
    pub names: Vec<String>,
}

/// Where the deciding `location` block was defined.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LocationRef {
    /// The file that holds the block.
    pub file: PathBuf,
    /// The line of the `location` keyword.
    pub line: u32,
    /// The match as written, modifier included (`^~ /app/`, `~ (/app)?/api`, `@auth`).
    pub r#match: String,
}

/// One socket nginx would listen on, from the `listen` directives of all servers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Listen {
    /// A specific address, or `None` for all addresses of the family.
    pub addr: Option<IpAddr>,
    /// The port.
    pub port: u16,
    /// `true` for `[::]:port` forms.
    pub ipv6: bool,
    /// `ssl` flag: terminate TLS on this socket.
    pub ssl: bool,
    /// `proxy_protocol` flag: every connection starts with a PROXY protocol
    /// header (v1 or v2), read before TLS; a connection without one is closed.
    pub proxy_protocol: bool,
}

/// One response header from `add_header`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeaderRule {
    /// Header name as written.
    pub name: String,
    /// Value with variables expanded.
    pub value: String,
    /// `always`: added to every status, not only 200/201/204/206/301/302/303/304/307/308.
    pub always: bool,
}

/// Settings that shape how the proxy talks to the upstream; typed at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamOptions {
    /// `proxy_connect_timeout` (nginx default 60 s).
    pub connect_timeout: Duration,
    /// `proxy_read_timeout` (nginx default 60 s; SWAG's proxy.conf: 240 s).
    pub read_timeout: Duration,
    /// `proxy_send_timeout`.
    pub send_timeout: Duration,
    /// `proxy_http_version` 1.0 or 1.1 (`true` for 1.1).
    pub http11: bool,
    /// Name servers from the `resolver` directive in effect (empty: system resolver).
    pub resolver: Arc<[SocketAddr]>,
    /// `resolver ... valid=`: the longest an answer may be cached.
    pub resolver_valid: Option<Duration>,
    /// `resolver ... ipv6=off`.
    pub resolver_ipv6: bool,
    /// `proxy_ssl_verify` (nginx default off).
    pub ssl_verify: bool,
    /// `proxy_ssl_server_name` (nginx default off: no SNI to the upstream).
    pub ssl_server_name: bool,
}

/// Where and how to forward a request (`proxy_pass` or `grpc_pass`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyTarget {
    /// The full URL that would be requested, variables expanded
    /// (e.g. `http://nextcloud:443/remote.php?x=1`).
    pub url: String,
    /// `http`, `https`, `grpc` or `grpcs`.
    pub scheme: String,
    /// Host part of the URL: a name to resolve at request time, or an IP literal.
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: u16,
    /// Path and query to send upstream.
    pub path_and_query: String,
    /// The method to send when it is not the client's: `GET` for an
    /// `auth_request` subrequest and after an `error_page` redirect
    /// (nginx turns every method but `HEAD` into `GET` there).
    pub method: Option<String>,
    /// The request headers to send: the conf's entries (nginx's
    /// `proxy_set_header` rules over the module's defaults, empty values
    /// not sent) with this request's values, then the client's headers
    /// under the names no entry takes (unless `proxy_pass_request_headers
    /// off`); [`UpstreamHeaders::list`] renders the whole list.
    /// Body-framing headers (`Content-Length`, `Transfer-Encoding`) are
    /// left to the proxy.
    pub headers: UpstreamHeaders,
    /// Upstream response headers to drop (`proxy_hide_header` plus nginx's
    /// defaults, minus `proxy_pass_header`), lower-case. Shared with the
    /// compiled location it comes from.
    pub hide_headers: Arc<Vec<String>>,
    /// `proxy_redirect` rules in effect, already expanded: `(from, to)`;
    /// empty when `proxy_redirect off`.
    pub redirects: Vec<(String, String)>,
    /// `proxy_cookie_path` rules: `(from, to)`.
    pub cookie_paths: Vec<(String, String)>,
    /// Timeouts, HTTP version, resolver, TLS to the upstream.
    pub options: UpstreamOptions,
    /// `sub_filter` rules in effect for the response body, variables
    /// expanded for this request; `None` when the level has no `sub_filter`.
    pub body_filter: Option<BodyFilter>,
}

/// `sub_filter` and friends (ngx_http_sub_module), evaluated for one request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BodyFilter {
    /// `(from, to)` pairs in the order written; `from` is matched
    /// case-insensitively (ASCII), `to` has its variables expanded.
    pub rules: Vec<(String, String)>,
    /// `sub_filter_types`, lower-case MIME types (`text/html` is always
    /// included, as nginx); `["*"]` matches any type.
    pub types: Vec<String>,
    /// `sub_filter_once` (default on): replace only the first occurrence of each string.
    pub once: bool,
    /// `sub_filter_last_modified` (default off): keep the upstream `Last-Modified`.
    pub keep_last_modified: bool,
}

impl BodyFilter {
    /// Whether a response with this `Content-Type` header value is filtered.
    pub fn matches_type(&self, content_type: &str) -> bool {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        self.types.iter().any(|t| t == "*" || *t == mime)
    }
}

/// What to do with the request.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Forward over HTTP/1.x (`proxy_pass`).
    Proxy(ProxyTarget),
    /// Forward over HTTP/2 (`grpc_pass`).
    Grpc(ProxyTarget),
    /// Answer directly (`return`, `rewrite ... redirect|permanent`).
    Return {
        /// Status code.
        status: u16,
        /// `Location` for 301/302/303/307/308.
        location: Option<String>,
        /// Body text for other codes (`return 200 "text"`).
        body: Option<String>,
    },
    /// Refused by `allow`/`deny` or `internal`: 403 (or 404 for `internal`, as nginx).
    Deny {
        /// 403 or 404.
        status: u16,
    },
    /// Serve a file from disk under `root` (the default server's `/config/www`):
    /// `try_files` and the index lookup have run, and the file or directory
    /// existed when the decision was made.
    Static {
        /// Document root.
        root: PathBuf,
        /// Normalised URI path to look up under it.
        path: String,
        /// `index` file names, in order.
        index: Vec<String>,
        /// The `Location` of nginx's 301 when `path` names a directory
        /// without its slash: `path/`, the arguments, made absolute as
        /// `absolute_redirect on` makes it.
        add_slash: String,
        /// The method is `POST`: nginx's static module answers 405 for a
        /// file it finds (a directory's slash redirect, 403 and 404 stay).
        post: bool,
    },
    /// `auth_basic` credentials missing or wrong: 401 with this realm.
    Unauthorized {
        /// The `auth_basic` realm for `WWW-Authenticate`.
        realm: String,
    },
    /// `auth_request`: ask the auth server first, then decide again with
    /// its answer through [`crate::conf::RouteTable::decide_after_auth`].
    Authenticate(Box<AuthRequest>),
    /// The location relies on something moat cannot do yet (e.g. an
    /// `auth_request` it cannot evaluate): fail closed with 503 rather than
    /// serve unauthenticated.
    Unavailable {
        /// Why, for the log.
        reason: String,
    },
    /// The location's content handler is one moat does not have
    /// (`fastcgi_pass`: PHP): 503, as nginx answers when its FastCGI
    /// backend is gone.
    Unsupported {
        /// Which directive, for the log.
        reason: String,
    },
    /// Nothing matched, or the static file does not exist: 404.
    NotFound,
}

/// The subrequest `auth_request` makes before the content phase.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthRequest {
    /// The `auth_request` URI, echoed back in [`AuthOutcome::uri`].
    pub uri: String,
    /// Where to send it: the internal location's `proxy_pass`, with that
    /// location's headers (the main request's, as nginx shares them) and
    /// method `GET`; never a body.
    pub target: ProxyTarget,
}

/// What the auth server answered to an [`AuthRequest`]; its body is discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOutcome {
    /// The [`AuthRequest::uri`] it answers.
    pub uri: String,
    /// The response status; 502 when the auth server could not be reached,
    /// 504 when it did not answer in time (both mean 500 to the client).
    pub status: u16,
    /// The response headers, names as received.
    pub headers: Vec<(String, String)>,
}

/// The route table's answer for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The `server` block that took the request (shared with the compiled
    /// table: a decision is made per request).
    pub server: Arc<ServerRef>,
    /// The `location` that took it, if any.
    pub location: Option<Arc<LocationRef>>,
    /// What to do.
    pub action: Action,
    /// `add_header` rules in effect for the response.
    pub response_headers: Vec<HeaderRule>,
    /// `client_max_body_size` in bytes; `None` means unlimited (`0`).
    pub max_body_size: Option<u64>,
    /// `proxy_request_buffering` (nginx default on): a streamed body with
    /// a limit is held until it is whole before any of it goes upstream.
    pub request_buffering: bool,
    /// The client's address as realip found it (`set_real_ip_from` +
    /// `real_ip_header`), when it differs from the connection's: what the
    /// access log, limits and bans must use as `$remote_addr`.
    pub client_addr: Option<std::net::IpAddr>,
    /// The status an `error_page ... =code` (or the original error, for an
    /// `error_page` without `=`) imposes on whatever answers, a proxied
    /// response included (nginx's `r->err_status`).
    pub status_override: Option<u16>,
    /// `$remote_user`: the user name of a `Basic` `Authorization` header,
    /// for the access log.
    pub remote_user: Option<String>,
    /// What nginx would write to its error log for this request's access
    /// phase (`access forbidden by rule`, `user "x": password mismatch`,
    /// ...), without the `client: ..., server: ...` tail the proxy adds.
    pub errors: Vec<String>,
    /// `limit_req` / `limit_conn` to apply before the action (empty when
    /// the request was answered before nginx's pre-access phase).
    pub limits: RequestLimits,
}

/// A `limit_req_zone` or `limit_conn_zone`: a named state table shared by
/// every worker. Two loads that declare a zone with equal values share its
/// state (nginx keeps a shared zone across reloads).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LimitZone {
    /// `zone=NAME`.
    pub name: String,
    /// `zone=NAME:SIZE` in bytes: bounds the number of keys kept.
    pub size: u64,
    /// The key as written (`$binary_remote_addr`).
    pub key: String,
    /// What the zone limits.
    pub kind: ZoneKind,
}

/// The two kinds of limit zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZoneKind {
    /// `limit_req_zone ... rate=`: the rate in milli-requests per second
    /// (nginx's `rate * 1000 / scale`, so `1r/m` is 16).
    Requests {
        /// Milli-requests per second.
        rate: u64,
    },
    /// `limit_conn_zone`: requests in flight per key.
    Connections,
}

/// One `limit_req` in effect for a request, its key already evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct ReqLimit {
    /// The zone (`zone=NAME`).
    pub zone: Arc<LimitZone>,
    /// The key's value for this request (never empty: nginx does not limit
    /// a request whose key is empty).
    pub key: Vec<u8>,
    /// `burst=N`, in milli-requests (`N * 1000`).
    pub burst: u64,
    /// Excess not delayed, in milli-requests: `delay=N` × 1000, unlimited
    /// for `nodelay`, 0 by default (every excess request is delayed).
    pub delay: u64,
}

/// One `limit_conn` in effect for a request, its key already evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnLimit {
    /// The zone (`limit_conn NAME`).
    pub zone: Arc<LimitZone>,
    /// The key's value for this request (never empty).
    pub key: Vec<u8>,
    /// Requests allowed in flight at once for this key.
    pub max: u32,
}

/// What ngx_http_limit_req_module and ngx_http_limit_conn_module do to a
/// request that reaches nginx's pre-access phase (one answered by
/// `return` or a `rewrite` redirect never gets here: no limits).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestLimits {
    /// `limit_req` rules in effect, in the order written.
    pub req: Vec<ReqLimit>,
    /// `limit_req_status` (default 503).
    pub req_status: u16,
    /// `limit_req_dry_run on`: count, but neither delay nor reject.
    pub req_dry_run: bool,
    /// `limit_conn` rules in effect, in the order written.
    pub conn: Vec<ConnLimit>,
    /// `limit_conn_status` (default 503).
    pub conn_status: u16,
    /// `limit_conn_dry_run on`: count, but never reject.
    pub conn_dry_run: bool,
}

impl RequestLimits {
    /// `true` when no limit applies.
    pub fn is_empty(&self) -> bool {
        self.req.is_empty() && self.conn.is_empty()
    }
}

/// nginx's two header-name switches (`underscores_in_headers`,
/// `ignore_invalid_headers`), set per server; [`HeaderRules::default`] is
/// nginx's default. The proxy drops the header lines they reject before
/// anything reads the request, so no upstream (and no auth server) sees a
/// header nginx would have ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRules {
    /// `underscores_in_headers`: names with `_` are kept (default off: dropped).
    pub underscores: bool,
    /// `ignore_invalid_headers`: names with characters other than
    /// letters, digits, `-` (and `_`) are dropped (default on).
    pub ignore_invalid: bool,
}

impl Default for HeaderRules {
    fn default() -> Self {
        Self {
            underscores: false,
            ignore_invalid: true,
        }
    }
}
