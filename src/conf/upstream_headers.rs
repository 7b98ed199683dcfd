//! The request headers sent upstream, as nginx builds them
//! (`ngx_http_proxy_create_request`): the conf's entries (the
//! `proxy_set_header` lines in order, then the module's defaults that no
//! line names), then the client's headers under every other name.
//!
//! Why two halves: everything about the conf's entries but their values is
//! known when the level is compiled (names, which names repeat, which are
//! hop-by-hop, which names the client's headers may not use), so a
//! [`HeaderPlan`] holds it once per level; a request only expands the
//! values that read variables ([`UpstreamHeaders`]). The client's headers
//! are not copied into the decision at all: the proxy passes its own copy
//! of each one whose name [`UpstreamHeaders::passes_client`] allows, and
//! `explain` and the nginx oracle read the same structure through
//! [`UpstreamHeaders::list`].

use std::sync::Arc;

use super::compile::level::SetHeader;
use super::variables::{Template, VarSource};

/// What a name is to a proxy, worked out once per entry: the names the
/// proxy treats itself instead of forwarding them as the conf says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderClass {
    /// Forwarded as written.
    Plain,
    /// `Host`: one is sent, the last the conf sets.
    Host,
    /// `Upgrade`: hop-by-hop, forwarded for a WebSocket upgrade.
    Upgrade,
    /// `TE`: hop-by-hop, `trailers` forwarded to an HTTP/2 upstream.
    Te,
    /// Another hop-by-hop name (`Connection`, `Keep-Alive`,
    /// `Proxy-Connection`, `Trailer`): describes one connection.
    HopByHop,
}

impl HeaderClass {
    /// The class of a header name (any case).
    pub fn of(name: &str) -> HeaderClass {
        const HOP_BY_HOP: &[&str] = &["connection", "keep-alive", "proxy-connection", "trailer"];
        if name.eq_ignore_ascii_case("host") {
            HeaderClass::Host
        } else if name.eq_ignore_ascii_case("upgrade") {
            HeaderClass::Upgrade
        } else if name.eq_ignore_ascii_case("te") {
            HeaderClass::Te
        } else if HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            HeaderClass::HopByHop
        } else {
            HeaderClass::Plain
        }
    }

    /// Whether the name describes one connection (RFC 9110 section 7.6.1),
    /// so a proxy does not forward it as received.
    pub fn hop_by_hop(self) -> bool {
        matches!(
            self,
            HeaderClass::Upgrade | HeaderClass::Te | HeaderClass::HopByHop
        )
    }
}

/// Where an entry's value comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// A value without variables, kept from compile time.
    Const(Box<str>),
    /// A value with variables, expanded per request.
    Template(Template),
    /// The module default `Host: $proxy_host`.
    ProxyHost,
}

/// One entry of the conf's list.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanEntry {
    /// The name as written.
    pub name: Box<str>,
    /// The same bytes, shared: a proxy appends the name to every request
    /// without copying it.
    pub shared_name: bytes::Bytes,
    /// What the name is to a proxy.
    pub class: HeaderClass,
    /// Whether the name is an RFC 9110 token, so it can be sent: checked
    /// once here, where the proxy would check it on every request.
    pub token: bool,
    /// Whether the entry is a constant whose name and value can both be
    /// sent (checked once here, like `token`): a proxy writes it as it is.
    pub sendable_const: bool,
    /// The first entry with the same name (case-insensitive): entries that
    /// share a name go out together, at the place of the first one sent.
    pub group: usize,
    /// The next entry of the same group.
    pub next: Option<usize>,
    source: Source,
}

/// The conf's upstream header entries of one level, compiled once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeaderPlan {
    entries: Vec<PlanEntry>,
    /// Every name the conf's lines and the module's defaults set, sent or
    /// not (`proxy_set_header Proxy ""` keeps the client's `Proxy` header
    /// away): lower-case, sorted, without repeats.
    taken: Vec<Box<str>>,
}

/// `ngx_http_proxy_headers`.
pub(crate) const PROXY_DEFAULTS: &[(&str, &str)] = &[
    ("Host", "$proxy_host"),
    ("Connection", "close"),
    ("Content-Length", ""),
    ("Transfer-Encoding", ""),
    ("TE", ""),
    ("Keep-Alive", ""),
    ("Expect", ""),
    ("Upgrade", ""),
];

/// `ngx_http_grpc_headers`.
pub(crate) const GRPC_DEFAULTS: &[(&str, &str)] = &[
    ("Content-Length", ""),
    ("TE", "trailers"),
    ("Host", ""),
    ("Connection", ""),
    ("Transfer-Encoding", ""),
    ("Keep-Alive", ""),
    ("Expect", ""),
    ("Upgrade", ""),
];

/// Body framing: left to the proxy, which frames the body it relays.
fn is_framing(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding")
}

impl HeaderPlan {
    /// nginx's list for a level: its `proxy_set_header` (or
    /// `grpc_set_header`) lines, then the module's `defaults` that no line
    /// and no earlier default names. Entries that can never be sent (an
    /// empty constant, body framing) still take their names.
    pub(crate) fn compile(user: &[SetHeader], defaults: &[(&str, &str)]) -> HeaderPlan {
        let mut plan = HeaderPlan::default();
        for h in user {
            let source = match h.value.literal() {
                Some("") => None,
                Some(text) => Some(Source::Const(text.into())),
                None => Some(Source::Template(h.value.clone())),
            };
            plan.set(&h.name, source);
        }
        for (name, value) in defaults {
            if plan.takes(&name.to_ascii_lowercase()) {
                continue;
            }
            let source = match *value {
                "" => None,
                "$proxy_host" => Some(Source::ProxyHost),
                v => Some(Source::Const(v.into())),
            };
            plan.set(name, source);
        }
        plan
    }

    /// Takes `name` and, unless it is never sent (no value, or body
    /// framing), adds its entry; whether an entry was added.
    fn set(&mut self, name: &str, source: Option<Source>) -> bool {
        let lower: Box<str> = name.to_ascii_lowercase().into();
        if let Err(at) = self.taken.binary_search(&lower) {
            self.taken.insert(at, lower);
        }
        match source {
            Some(source) if !is_framing(name) => {
                self.push(name.into(), source);
                true
            }
            _ => false,
        }
    }

    fn push(&mut self, name: Box<str>, source: Source) {
        let i = self.entries.len();
        let group = self
            .entries
            .iter()
            .position(|e| e.name.eq_ignore_ascii_case(&name))
            .unwrap_or(i);
        if let Some(last) = (0..i).rev().find(|&j| self.entries[j].group == group) {
            self.entries[last].next = Some(i);
        }
        let token = is_token(name.as_bytes());
        self.entries.push(PlanEntry {
            class: HeaderClass::of(&name),
            token,
            sendable_const: token
                && matches!(&source, Source::Const(c) if is_field_value(c.as_bytes())),
            shared_name: bytes::Bytes::copy_from_slice(name.as_bytes()),
            name,
            group,
            next: None,
            source,
        });
    }

    /// The entries in nginx's order.
    pub fn entries(&self) -> &[PlanEntry] {
        &self.entries
    }

    /// Whether the conf's lines or defaults set `lower` (a lower-case name).
    fn takes(&self, lower: &str) -> bool {
        self.taken
            .binary_search_by(|t| t.as_ref().cmp(lower))
            .is_ok()
    }
}

/// The headers one request sends upstream: the level's [`HeaderPlan`] with
/// this request's values, and whether the client's headers follow.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamHeaders {
    plan: Arc<HeaderPlan>,
    /// Per entry: where in `text` the expanded value of an entry that
    /// reads variables is (empty: not sent, as nginx drops it); `None` for
    /// a constant.
    values: Vec<Option<(usize, usize)>>,
    /// The expanded values, one after the other: one buffer a request.
    text: String,
    /// `proxy_pass_request_headers` (default on).
    pass_client: bool,
}

impl UpstreamHeaders {
    /// The plan's values for one request; `proxy_host` is `$proxy_host`.
    pub(crate) fn expand(
        plan: &Arc<HeaderPlan>,
        src: &dyn VarSource,
        proxy_host: &str,
        pass_client: bool,
    ) -> UpstreamHeaders {
        let mut text = String::with_capacity(256);
        let values = plan
            .entries
            .iter()
            .map(|e| {
                let start = text.len();
                match &e.source {
                    Source::Const(_) => return None,
                    Source::Template(t) => t.render_into(&mut text, src),
                    Source::ProxyHost => text.push_str(proxy_host),
                }
                Some((start, text.len()))
            })
            .collect();
        UpstreamHeaders {
            plan: plan.clone(),
            values,
            text,
            pass_client,
        }
    }

    /// Exactly these entries and none of the client's headers: for a
    /// decision made without a conf (tests, tools). Body framing in the
    /// list is ignored, as it is in a conf.
    pub fn explicit<N: Into<String>, V: Into<String>>(
        list: impl IntoIterator<Item = (N, V)>,
    ) -> UpstreamHeaders {
        let mut headers = UpstreamHeaders {
            plan: Arc::default(),
            values: Vec::new(),
            text: String::new(),
            pass_client: false,
        };
        for (name, value) in list {
            headers.push((name.into(), value.into()));
        }
        headers
    }

    /// The same entries, then the client's headers under every name they
    /// do not take, as a conf's level sends them.
    pub fn with_client_headers(mut self) -> UpstreamHeaders {
        self.pass_client = true;
        self
    }

    /// Adds one entry after the others (a decision made by hand, or
    /// changed after the conf made it).
    pub fn push(&mut self, (name, value): (String, String)) {
        let source = (!value.is_empty()).then(|| Source::Const(value.into()));
        if Arc::make_mut(&mut self.plan).set(&name, source) {
            self.values.push(None);
        }
    }

    /// The conf's entries, in order; see [`UpstreamHeaders::value`].
    pub fn entries(&self) -> &[PlanEntry] {
        &self.plan.entries
    }

    /// Entry `i`'s value for this request; empty when it is not sent.
    pub fn value(&self, i: usize) -> &str {
        match (self.values[i], &self.plan.entries[i].source) {
            (Some((start, end)), _) => &self.text[start..end],
            (None, Source::Const(c)) => c,
            (None, _) => "",
        }
    }

    /// Whether the client's header `lower` (a lower-case name) goes up as
    /// the client sent it: no entry of the conf's names it and the level
    /// passes the client's headers. A conf's level takes the body framing
    /// names through the module's defaults; framing is the proxy's.
    pub fn passes_client(&self, lower: &str) -> bool {
        self.pass_client && !self.plan.takes(lower)
    }

    /// The whole list nginx sends, in order, for `client` (the request's
    /// headers as received): the conf's entries with a value, then the
    /// client's headers it passes. What `explain` prints and the oracle
    /// compares; the proxy reads the parts instead.
    pub fn list(&self, client: &[(String, String)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = (0..self.plan.entries.len())
            .filter(|&i| !self.value(i).is_empty())
            .map(|i| {
                (
                    self.plan.entries[i].name.to_string(),
                    self.value(i).to_owned(),
                )
            })
            .collect();
        out.extend(
            client
                .iter()
                .filter(|(n, _)| self.passes_client(&n.to_ascii_lowercase()))
                .cloned(),
        );
        out
    }
}

/// A header value the `http` crate accepts: no control byte but tab.
pub(crate) fn is_field_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// A header name the `http` crate accepts: RFC 9110's token.
fn is_token(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| TOKEN[b as usize])
}

/// The bytes of an RFC 9110 token, by value.
static TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::conf::{load_str, Action, RequestInfo};

    fn headers_for(
        location: &str,
        client: &[(&str, &str)],
    ) -> (super::UpstreamHeaders, RequestInfo) {
        let src = format!(
            "events {{}}\nhttp {{ server {{ listen 80; server_name x; location / {{ {location} proxy_pass http://b:1; }} }} }}\n"
        );
        let (table, _) = load_str(Path::new("/nonexistent"), Path::new("nginx.conf"), &src)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let req = RequestInfo {
            method: "GET".into(),
            tls: false,
            server_port: 80,
            host: Some("x".into()),
            sni: None,
            uri: "/".into(),
            headers: client
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            remote: "192.0.2.7:5000".parse().unwrap(),
            proxy_protocol: None,
            client_certs: None,
        };
        let Action::Proxy(t) = table.decide(&req).action else {
            panic!("not proxied")
        };
        (t.headers, req)
    }

    /// The conf's lines, then the defaults no line names; repeated names
    /// linked into one group; empty constants and body framing never sent
    /// but still keeping the client's header of that name away.
    #[test]
    fn a_plan_groups_names_and_takes_every_name_it_sets() {
        let (h, req) = headers_for(
            r#"proxy_set_header Host $host; proxy_set_header X-A 1; proxy_set_header Proxy "";
               proxy_set_header x-a $remote_addr; proxy_set_header Content-Length 5;"#,
            &[
                ("Proxy", "evil"),
                ("Cookie", "c"),
                ("X-A", "client"),
                ("TE", "t"),
            ],
        );
        let names: Vec<&str> = h.entries().iter().map(|e| &*e.name).collect();
        assert_eq!(names, ["Host", "X-A", "x-a", "Connection"]);
        let groups: Vec<usize> = h.entries().iter().map(|e| e.group).collect();
        assert_eq!(groups, [0, 1, 1, 3]);
        let next: Vec<Option<usize>> = h.entries().iter().map(|e| e.next).collect();
        assert_eq!(next, [None, Some(2), None, None]);
        let values: Vec<&str> = (0..4).map(|i| h.value(i)).collect();
        assert_eq!(values, ["x", "1", "192.0.2.7", "close"]);
        // Constants are checked once, at compile time; templates per request.
        let checked: Vec<bool> = h.entries().iter().map(|e| e.sendable_const).collect();
        assert_eq!(checked, [false, true, false, true]);
        assert_eq!(h.entries()[0].class, super::HeaderClass::Host);
        assert_eq!(h.entries()[3].class, super::HeaderClass::HopByHop);
        for taken in ["proxy", "x-a", "content-length", "te", "host", "upgrade"] {
            assert!(!h.passes_client(taken), "{taken}");
        }
        assert!(h.passes_client("cookie"));
        assert_eq!(
            h.list(&req.headers),
            [
                ("Host".to_string(), "x".to_string()),
                ("X-A".into(), "1".into()),
                ("x-a".into(), "192.0.2.7".into()),
                ("Connection".into(), "close".into()),
                ("Cookie".into(), "c".into()),
            ]
        );
    }

    /// A constant that cannot be sent (a bad name or value, which only a
    /// decision made by hand can hold: the conf refuses them) is not
    /// marked sendable, so the proxy refuses it per request, as Pingora's
    /// header map would.
    #[test]
    fn a_constant_that_cannot_be_sent_is_not_marked_sendable() {
        let (mut h, _) = headers_for("", &[]);
        h.push(("X Bad".into(), "1".into()));
        h.push(("X-Control".into(), "a\u{1}b".into()));
        h.push(("X-Tab".into(), "a\tb".into()));
        let flags: Vec<(&str, bool, bool)> = h
            .entries()
            .iter()
            .map(|e| (&*e.name, e.token, e.sendable_const))
            .collect();
        assert_eq!(
            flags,
            [
                ("Host", true, false),
                ("Connection", true, true),
                ("X Bad", false, false),
                ("X-Control", true, false),
                ("X-Tab", true, true),
            ]
        );
    }

    /// `proxy_pass_request_headers off`: only the conf's entries.
    #[test]
    fn without_client_headers_only_the_entries_go() {
        let (h, req) = headers_for("proxy_pass_request_headers off;", &[("Cookie", "c")]);
        assert!(!h.passes_client("cookie"));
        assert_eq!(
            h.list(&req.headers),
            [
                ("Host".to_string(), "b:1".to_string()),
                ("Connection".into(), "close".into()),
            ]
        );
    }
}
