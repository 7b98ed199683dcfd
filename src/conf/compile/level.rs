//! The settings in effect at one level (http, server, location, `if`),
//! after nginx's inheritance: scalar directives are inherited unless set;
//! array directives (`proxy_set_header`, `add_header`, `proxy_hide_header`,
//! `allow`/`deny`, `proxy_redirect`, ...) are inherited only when the inner
//! level has none of its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::limits::{LimitsConf, OwnLimits};
use super::values::Network;
use crate::conf::htpasswd::Htpasswd;
use crate::conf::upstream_headers::{HeaderPlan, GRPC_DEFAULTS, PROXY_DEFAULTS};
use crate::conf::variables::Template;

/// One `proxy_set_header` / `grpc_set_header` entry.
#[derive(Debug, Clone)]
pub(crate) struct SetHeader {
    /// Name as written.
    pub name: String,
    /// Value; an empty result removes the header.
    pub value: Template,
}

/// One `add_header` entry.
#[derive(Debug, Clone)]
pub(crate) struct AddHeader {
    /// Name as written.
    pub name: String,
    /// Value; an empty result means the header is not added.
    pub value: Template,
    /// `always`.
    pub always: bool,
}

/// One `allow` or `deny` rule; `net: None` is `all`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccessRule {
    /// `true` for `allow`.
    pub allow: bool,
    /// The network, or `None` for `all`.
    pub net: Option<Network>,
}

/// `proxy_redirect` in effect.
#[derive(Debug, Clone)]
pub(crate) enum Redirect {
    /// `proxy_redirect default` (also the default): the proxy_pass URL to the location.
    Default,
    /// `proxy_redirect off`.
    Off,
    /// Explicit `from to` pairs (`default` among them expands at compile time).
    Rules(Arc<Vec<(Template, Template)>>),
}

/// How requests are handled after the rewrite phase.
#[derive(Debug, Clone)]
pub(crate) enum Handler {
    /// `proxy_pass URL`.
    Proxy(Arc<PassUrl>),
    /// `grpc_pass URL`.
    Grpc(Arc<PassUrl>),
    /// `fastcgi_pass` (PHP): moat has no FastCGI client.
    FastCgi,
}

/// A `proxy_pass`/`grpc_pass` target.
#[derive(Debug, Clone)]
pub(crate) struct PassUrl {
    /// The URL as written.
    pub written: String,
    /// The URL as a template.
    pub url: Template,
    /// The name of the enclosing prefix location (`/app/`), for replacement.
    pub location_prefix: Option<String>,
}

/// `sub_filter` settings at one level.
#[derive(Debug, Clone)]
pub(crate) struct SubFilterConf {
    /// `sub_filter` pairs (array: inherited only when the level has none).
    pub rules: Arc<Vec<(String, Template)>>,
    /// `sub_filter_types`, lower-case; always holds `text/html`.
    pub types: Arc<Vec<String>>,
    /// `sub_filter_once`.
    pub once: bool,
    /// `sub_filter_last_modified`.
    pub last_modified: bool,
}

impl Default for SubFilterConf {
    /// nginx's defaults: no rules, `text/html`, once on, last_modified off.
    fn default() -> Self {
        SubFilterConf {
            rules: Arc::default(),
            types: Arc::new(vec!["text/html".to_string()]),
            once: true,
            last_modified: false,
        }
    }
}

/// What access control the level demands.
#[derive(Debug, Clone)]
pub(crate) enum AuthRule {
    /// `auth_basic` with a loaded user file.
    Basic {
        /// The realm for `WWW-Authenticate`.
        realm: String,
        /// The credentials.
        users: Arc<Htpasswd>,
    },
    /// Access control moat cannot evaluate: answer 503, never proxy.
    Unavailable(String),
}

/// What status an `error_page` redirect answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorStatus {
    /// No `=`: the original error's status.
    Keep,
    /// `=` alone: whatever the target answers.
    FromTarget,
    /// `=code`.
    Set(u16),
}

/// One `error_page` directive.
#[derive(Debug, Clone)]
pub(crate) struct ErrorPage {
    /// The statuses it handles.
    pub codes: Vec<u16>,
    /// The status of the answer.
    pub status: ErrorStatus,
    /// `@name`, a URI (internal redirect) or a URL (redirect).
    pub target: Template,
}

/// `try_files file ... uri` / `try_files file ... =code`.
#[derive(Debug, Clone)]
pub(crate) struct TryFiles {
    /// The paths tried in order, each relative to `root`.
    pub tries: Vec<TryFile>,
    /// What answers when none exists.
    pub last: TryLast,
}

/// One path `try_files` tests.
#[derive(Debug, Clone)]
pub(crate) struct TryFile {
    /// The name, without the trailing `/` of a directory test (nginx strips
    /// it, so a matched `$uri/` makes `$uri` the new URI).
    pub name: Template,
    /// Written with a trailing `/`: only a directory matches.
    pub dir: bool,
}

/// `try_files`' last argument.
#[derive(Debug, Clone)]
pub(crate) enum TryLast {
    /// `=code`: answer with this status (as nginx generates it, so
    /// `error_page` applies).
    Code(u16),
    /// A URI (internal redirect, its `?` starting the new arguments) or
    /// `@name` (a named location).
    Uri(Template),
}

/// One `alias`: the file path that replaces the location's part of `$uri`.
#[derive(Debug, Clone)]
pub(crate) struct Alias {
    /// The path, with the regex location's captures where it has them.
    pub value: Template,
    /// The prefix (or exact) location it sits in; `None` in a regex
    /// location, where the alias is the whole path.
    pub prefix: Option<String>,
}

/// Upstream `resolver` settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResolverConf {
    /// Name servers.
    pub servers: Arc<[std::net::SocketAddr]>,
    /// `valid=`.
    pub valid: Option<Duration>,
    /// `ipv6=off` clears it.
    pub ipv6: bool,
}

/// The effective settings at one level.
#[derive(Debug, Clone)]
pub(crate) struct Level {
    /// `proxy_set_header` over the proxy module's defaults, compiled.
    pub proxy_headers: Arc<HeaderPlan>,
    /// `grpc_set_header` over the gRPC module's defaults, compiled.
    pub grpc_headers: Arc<HeaderPlan>,
    pub add_headers: Arc<Vec<AddHeader>>,
    pub hide_headers: Arc<Vec<String>>,
    pub pass_headers: Arc<Vec<String>>,
    /// The upstream response headers dropped at this level: nginx's
    /// defaults plus `hide_headers`, minus `pass_headers`. Worked out when
    /// the level is compiled, not per request.
    pub hidden: Arc<Vec<String>>,
    pub redirect: Redirect,
    pub cookie_paths: Arc<Vec<(Template, Template)>>,
    pub sub_filter: SubFilterConf,
    pub pass_request_headers: bool,
    pub pass_request_body: bool,
    pub max_body: u64,
    /// `proxy_request_buffering` (default on).
    pub request_buffering: bool,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub send_timeout: Duration,
    pub http11: bool,
    pub resolver: Arc<ResolverConf>,
    pub ssl_verify: bool,
    pub ssl_server_name: bool,
    pub access: Arc<Vec<AccessRule>>,
    /// `set_real_ip_from` (array: inherited when the level has none).
    pub realip_from: Arc<Vec<Network>>,
    /// `real_ip_header`, as written.
    pub realip_header: Arc<str>,
    /// `real_ip_recursive`.
    pub realip_recursive: bool,
    /// `underscores_in_headers` / `ignore_invalid_headers` (http, server).
    pub header_rules: crate::conf::HeaderRules,
    pub auth_basic_realm: Option<Option<String>>,
    pub auth_basic_file: Option<Arc<Htpasswd>>,
    pub auth_request: Option<Option<String>>,
    /// `auth_request_set $name value` (array: inherited when the level has none).
    pub auth_request_set: Arc<Vec<(String, Template)>>,
    /// `error_page` (array: inherited when the level has none).
    pub error_pages: Arc<Vec<ErrorPage>>,
    /// `satisfy any`.
    pub satisfy_any: bool,
    pub root: Option<String>,
    /// `alias` (replaces `root` where set; inherited by nested locations).
    pub alias: Option<Arc<Alias>>,
    pub index: Arc<Vec<String>>,
    /// `try_files` (not inherited by nested locations, as in nginx).
    pub try_files: Option<Arc<TryFiles>>,
    pub ssl_certificate: Option<PathBuf>,
    pub ssl_certificate_key: Option<PathBuf>,
    /// `ssl_verify_client` and its CA files (http, server).
    pub client_verify: crate::conf::client_cert::ClientVerifyConf,
    pub handler: Option<Handler>,
    pub internal: bool,
    /// An access-control directive moat cannot enforce, with its place
    /// (`auth_jwt at app.subdomain.conf:12`): the level answers 503.
    pub unenforced_guard: Option<Arc<str>>,
    /// `limit_req` / `limit_conn` and their statuses.
    pub limits: LimitsConf,
}

impl Default for Level {
    /// nginx's built-in defaults.
    fn default() -> Self {
        Level {
            proxy_headers: Arc::new(HeaderPlan::compile(&[], PROXY_DEFAULTS)),
            grpc_headers: Arc::new(HeaderPlan::compile(&[], GRPC_DEFAULTS)),
            add_headers: Arc::default(),
            hide_headers: Arc::default(),
            pass_headers: Arc::default(),
            hidden: Arc::new(hidden_headers(&[], &[])),
            redirect: Redirect::Default,
            cookie_paths: Arc::default(),
            sub_filter: SubFilterConf::default(),
            pass_request_headers: true,
            pass_request_body: true,
            max_body: 1024 * 1024,
            request_buffering: true,
            connect_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            http11: false,
            resolver: Arc::default(),
            ssl_verify: false,
            ssl_server_name: false,
            access: Arc::default(),
            realip_from: Arc::default(),
            realip_header: Arc::from("X-Real-IP"),
            realip_recursive: false,
            header_rules: crate::conf::HeaderRules::default(),
            auth_basic_realm: None,
            auth_basic_file: None,
            auth_request: None,
            auth_request_set: Arc::default(),
            error_pages: Arc::default(),
            satisfy_any: false,
            root: None,
            alias: None,
            index: Arc::new(vec!["index.html".to_string()]),
            try_files: None,
            ssl_certificate: None,
            ssl_certificate_key: None,
            client_verify: Default::default(),
            handler: None,
            internal: false,
            unenforced_guard: None,
            limits: LimitsConf::default(),
        }
    }
}

/// Upstream response headers nginx never passes to the client.
const HIDDEN_BY_DEFAULT: &[&str] = &[
    "date",
    "server",
    "x-pad",
    "x-accel-expires",
    "x-accel-redirect",
    "x-accel-limit-rate",
    "x-accel-buffering",
    "x-accel-charset",
];

/// nginx's hidden response headers plus `proxy_hide_header`, minus
/// `proxy_pass_header`.
fn hidden_headers(hide: &[String], pass: &[String]) -> Vec<String> {
    let mut hidden: Vec<String> = HIDDEN_BY_DEFAULT.iter().map(|s| s.to_string()).collect();
    hidden.extend(hide.iter().cloned());
    hidden.retain(|h| !pass.contains(h));
    hidden.dedup();
    hidden
}

/// Array directives collected at one level before they replace the outer lists.
#[derive(Debug, Default)]
pub(crate) struct OwnArrays {
    pub proxy_headers: Vec<SetHeader>,
    pub grpc_headers: Vec<SetHeader>,
    pub add_headers: Vec<AddHeader>,
    pub hide_headers: Vec<String>,
    pub pass_headers: Vec<String>,
    pub redirects: Vec<(Template, Template)>,
    pub redirect_off: bool,
    pub redirect_default: bool,
    pub cookie_paths: Vec<(Template, Template)>,
    pub cookie_off: bool,
    pub sub_filters: Vec<(String, Template)>,
    pub access: Vec<AccessRule>,
    pub realip_from: Vec<Network>,
    pub index: Vec<String>,
    pub auth_request_set: Vec<(String, Template)>,
    pub error_pages: Vec<ErrorPage>,
    pub limits: OwnLimits,
}

impl Level {
    /// The level inherited by a nested `location`: everything but the
    /// content handler. `internal` is inherited, as nginx merges it: a
    /// location nested in an internal one is not reachable from outside.
    pub(crate) fn for_location(&self) -> Level {
        Level {
            handler: None,
            try_files: None,
            ..self.clone()
        }
    }

    /// Applies one level's array directives (nginx: inner replaces outer
    /// only when it has entries of its own).
    pub(crate) fn merge_arrays(&mut self, own: OwnArrays) {
        if !own.proxy_headers.is_empty() {
            self.proxy_headers = Arc::new(HeaderPlan::compile(&own.proxy_headers, PROXY_DEFAULTS));
        }
        if !own.grpc_headers.is_empty() {
            self.grpc_headers = Arc::new(HeaderPlan::compile(&own.grpc_headers, GRPC_DEFAULTS));
        }
        if !own.add_headers.is_empty() {
            self.add_headers = Arc::new(own.add_headers);
        }
        let hidden_changed = !own.hide_headers.is_empty() || !own.pass_headers.is_empty();
        if !own.hide_headers.is_empty() {
            self.hide_headers = Arc::new(own.hide_headers);
        }
        if !own.pass_headers.is_empty() {
            self.pass_headers = Arc::new(own.pass_headers);
        }
        if hidden_changed {
            self.hidden = Arc::new(hidden_headers(&self.hide_headers, &self.pass_headers));
        }
        if own.redirect_off {
            self.redirect = Redirect::Off;
        } else if !own.redirects.is_empty() {
            self.redirect = Redirect::Rules(Arc::new(own.redirects));
        } else if own.redirect_default {
            self.redirect = Redirect::Default;
        }
        if own.cookie_off {
            self.cookie_paths = Arc::default();
        } else if !own.cookie_paths.is_empty() {
            self.cookie_paths = Arc::new(own.cookie_paths);
        }
        if !own.sub_filters.is_empty() {
            self.sub_filter.rules = Arc::new(own.sub_filters);
        }
        if !own.access.is_empty() {
            self.access = Arc::new(own.access);
        }
        if !own.realip_from.is_empty() {
            self.realip_from = Arc::new(own.realip_from);
        }
        if !own.index.is_empty() {
            self.index = Arc::new(own.index);
        }
        if !own.auth_request_set.is_empty() {
            self.auth_request_set = Arc::new(own.auth_request_set);
        }
        if !own.error_pages.is_empty() {
            self.error_pages = Arc::new(own.error_pages);
        }
        self.limits.merge(own.limits);
    }

    /// `auth_basic` in effect, or why it cannot be evaluated.
    pub(crate) fn basic_auth(&self) -> Option<AuthRule> {
        match (&self.auth_basic_realm, &self.auth_basic_file) {
            (Some(Some(realm)), Some(users)) => Some(AuthRule::Basic {
                realm: realm.clone(),
                users: users.clone(),
            }),
            (Some(Some(realm)), None) => Some(AuthRule::Unavailable(format!(
                "auth_basic \"{realm}\" has no auth_basic_user_file"
            ))),
            _ => None,
        }
    }

    /// The `auth_request` URI in effect.
    pub(crate) fn auth_request_uri(&self) -> Option<&str> {
        self.auth_request.as_ref()?.as_deref()
    }

    /// The access-control directive moat cannot enforce at this level, as
    /// the reason for its 503.
    pub(crate) fn unenforced(&self) -> Option<String> {
        self.unenforced_guard.as_ref().map(|guard| format!(
            "{guard}: an access-control directive moat does not implement; refusing rather than serving unauthenticated"
        ))
    }

    /// The `error_page` for `status`, if one is configured here.
    pub(crate) fn error_page(&self, status: u16) -> Option<&ErrorPage> {
        self.error_pages.iter().find(|p| p.codes.contains(&status))
    }
}
