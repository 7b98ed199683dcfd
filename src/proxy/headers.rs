//! Header rules: the request header list sent upstream, and the response
//! rewrites (`proxy_hide_header`, `proxy_redirect`, `proxy_cookie_path`,
//! `add_header`).
//!
//! The conf layer has already expanded every `proxy_set_header`; this file
//! only carries the list out and owns what is hop-by-hop: body framing
//! (`Content-Length`/`Transfer-Encoding`, kept from the client request,
//! after `engine/body.rs` has set it for the body that follows the head) and connection management.
//! SWAG's proxy.conf sends `Connection: close` to the upstream for every
//! request that is not an upgrade; moat drops that value so upstream
//! connections stay in the keep-alive pool, and sends `Connection: upgrade`
//! only with an `Upgrade` header.

use std::borrow::Cow;

use pingora::http::{IntoCaseHeaderName, RequestHeader, ResponseHeader};
use pingora::{Error, ErrorType, OrErr, Result};

use crate::conf::{
    is_field_value, HeaderClass, HeaderRule, PlanEntry, ProxyTarget, UpstreamHeaders,
};

/// Body framing: the client's, relayed with its body, never the conf's.
const FRAMING: [http::HeaderName; 2] = [
    http::header::CONTENT_LENGTH,
    http::header::TRANSFER_ENCODING,
];

/// Statuses nginx adds `add_header` values to when `always` is not given.
const ADD_HEADER_STATUSES: &[u16] = &[200, 201, 204, 206, 301, 302, 303, 304, 307, 308];

/// The upstream head for the client's head `req`, exactly what the target
/// says to send: for HEAD requests, gRPC (`h2`: the list prepared for an
/// HTTP/2 upstream), an `auth_request` subrequest (which carries the
/// client's headers but not its body, so `body` is false and the client's
/// framing stays behind) and the WebSocket relay (`upgrade` keeps
/// `Upgrade`/`Connection: upgrade`). Other requests get the same head as
/// bytes ([`upstream_wire`]).
///
/// The header list is written once, into a new header in nginx's order,
/// instead of edited in place: each edit of Pingora's case-preserving map
/// (a find, a removal, an append) costs hundreds to thousands of
/// instructions (bench/RESULTS.md, 2026-12-07). The order is nginx's: the
/// client's body framing first, then what the edits add that the conf does
/// not list (the h2 `te` and `Host`, `Connection: upgrade`), then the
/// conf's entries, then the client's headers under the names no entry
/// takes, with the client's spelling and parsed values. Entries that share
/// a name go out together at the first one sent (a header map cannot
/// interleave names; nginx would send `A: 1`, `B: 2`, `A: 3` as listed).
/// Which entries share a name and which are hop-by-hop was worked out when
/// the conf was compiled ([`crate::conf::HeaderPlan`]); here only this
/// request's values are looked at.
pub fn upstream_head(
    req: &RequestHeader,
    target: &ProxyTarget,
    upgrade: bool,
    h2: bool,
    body: bool,
) -> Result<RequestHeader> {
    let method = upstream_method(req, target)?;
    let headers = &target.headers;
    let hint = Some(headers.entries().len() + req.headers.keys_len() + 2);
    let build = |path: &[u8]| {
        if req.has_case() {
            RequestHeader::build(method.clone(), path, hint)
        } else {
            RequestHeader::build_no_case(method.clone(), path, hint)
        }
    };
    let mut out = match upstream_path(req, target)? {
        None => build(req.raw_path())?,
        Some(uri) => {
            let mut out = build(b"/")?;
            out.set_uri(uri);
            out
        }
    };
    out.set_version(req.version);
    if let Some(end) = req.send_end_stream() {
        out.set_send_end_stream(end);
    }
    write_headers(req, target, upgrade, h2, body, &mut out)?;
    Ok(out)
}

/// The bytes of the HTTP/1.1 head [`upstream_head`] makes for a request
/// with its body framing and no upgrade, written straight from the conf's
/// plan and this request's values: what moat's own loop sends, without
/// building Pingora's header maps only to serialize them (each append there
/// costs about a thousand instructions; bench/RESULTS.md). Names and values
/// are checked as Pingora's maps would check them, so what cannot be sent
/// there is refused here too.
pub fn upstream_wire(req: &RequestHeader, target: &ProxyTarget, out: &mut Vec<u8>) -> Result<()> {
    let method = upstream_method(req, target)?;
    upstream_path(req, target)?;
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    if req.raw_path() == target.path_and_query.as_bytes() {
        out.extend_from_slice(req.raw_path());
    } else {
        out.extend_from_slice(target.path_and_query.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_headers(req, target, false, false, true, &mut Wire(out))?;
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// `proxy_method`, else the client's.
fn upstream_method(req: &RequestHeader, target: &ProxyTarget) -> Result<http::Method> {
    match &target.method {
        Some(method) => method
            .parse::<http::Method>()
            .or_err(ErrorType::InternalError, "invalid upstream method"),
        None => Ok(req.method.clone()),
    }
}

/// The upstream request target when it is not the client's own (`None`),
/// checked to be one.
fn upstream_path(req: &RequestHeader, target: &ProxyTarget) -> Result<Option<http::Uri>> {
    // nginx forwards whatever a rewrite made of the URI, `x` as well as
    // `/x`; a request target without its leading slash is not HTTP, and
    // Pingora would read it as an authority. moat refuses it (500) rather
    // than send another request than the conf says.
    if !target.path_and_query.starts_with('/') {
        return Err(Error::explain(
            ErrorType::InternalError,
            format!(
                "the rewritten URI {:?} does not start with \"/\": not a request target",
                target.path_and_query
            ),
        ));
    }
    if req.raw_path() == target.path_and_query.as_bytes() {
        return Ok(None);
    }
    let uri =
        target
            .path_and_query
            .parse::<http::Uri>()
            .or_err_with(ErrorType::InternalError, || {
                format!(
                    "upstream path {:?} is not a valid request target",
                    target.path_and_query
                )
            })?;
    Ok(Some(uri))
}

/// The header lines of the upstream head, in nginx's order, into `out`.
fn write_headers(
    req: &RequestHeader,
    target: &ProxyTarget,
    upgrade: bool,
    h2: bool,
    body: bool,
    out: &mut impl HeadOut,
) -> Result<()> {
    let headers = &target.headers;
    let sent = Sent::new(target, upgrade, h2);
    for name in FRAMING {
        if body && req.headers.contains_key(&name) {
            copy_client_values(req, out, &name)?;
        }
    }
    for extra in sent.extras.iter().filter(|e| e.group.is_none()) {
        out.append(extra.name, &extra.value)?;
    }
    let entries = headers.entries();
    let no_extras = sent.extras.is_empty();
    for (i, entry) in entries.iter().enumerate() {
        // The common case, decided without the group walk below: no edit
        // joins the conf's groups and the entry's name is its own.
        if no_extras && entry.group == i && entry.next.is_none() {
            if let Some((name, value)) = sent.value(i) {
                out.append(name, value)?;
            }
            continue;
        }
        let g = entry.group;
        let extras = || sent.extras.iter().filter(move |e| e.group == Some(g));
        let eligible = |m: usize| {
            sent.value(m).is_some() || (extras().next().is_some() && !sent.skipped_host(m))
        };
        // The group goes out at its first eligible entry, once.
        if !eligible(i) || members(entries, g).take_while(|&m| m < i).any(eligible) {
            continue;
        }
        for m in members(entries, g) {
            if let Some((name, value)) = sent.value(m) {
                out.append(name, value)?;
            }
        }
        for extra in extras() {
            out.append(extra.name, &extra.value)?;
        }
    }
    copy_passed_client_headers(req, out, headers)
}

/// Where the header lines of an upstream head go: Pingora's header map
/// ([`upstream_head`]) or the bytes on the wire ([`upstream_wire`]).
trait HeadOut {
    /// A line the conf or the edits make.
    fn append(&mut self, name: Name<'_>, value: &str) -> Result<()>;
    /// One of the client's lines, with the client's spelling (`spelled`:
    /// Pingora's case-keeping name, whose type it does not export).
    fn copy_case<N: IntoCaseHeaderName + Clone>(
        &mut self,
        spelled: &N,
        name: &[u8],
        value: &http::HeaderValue,
    ) -> Result<()>;
    /// One of the client's lines, where Pingora kept no spelling.
    fn copy_name(&mut self, name: &http::HeaderName, value: &http::HeaderValue) -> Result<()>;
}

impl HeadOut for RequestHeader {
    fn append(&mut self, name: Name<'_>, value: &str) -> Result<()> {
        append(self, name, value)
    }
    fn copy_case<N: IntoCaseHeaderName + Clone>(
        &mut self,
        spelled: &N,
        _name: &[u8],
        value: &http::HeaderValue,
    ) -> Result<()> {
        copy(self, spelled.clone(), value)
    }
    fn copy_name(&mut self, name: &http::HeaderName, value: &http::HeaderValue) -> Result<()> {
        copy(self, name.clone(), value)
    }
}

/// Header lines written as bytes.
struct Wire<'a>(&'a mut Vec<u8>);

impl Wire<'_> {
    fn line(&mut self, name: &[u8], value: &[u8]) {
        self.0.reserve(name.len() + value.len() + 4);
        self.0.extend_from_slice(name);
        self.0.extend_from_slice(b": ");
        self.0.extend_from_slice(value);
        self.0.extend_from_slice(b"\r\n");
    }
}

impl HeadOut for Wire<'_> {
    fn append(&mut self, name: Name<'_>, value: &str) -> Result<()> {
        // The conf's names, and its constant values, were checked when it
        // was compiled; a constant entry's value is its constant.
        let (text, token, checked) = match name {
            Name::Shared(entry) => (
                entry.shared_name.as_ref(),
                entry.token,
                entry.sendable_const,
            ),
            Name::Static(text) => (text.as_bytes(), true, false),
        };
        if !checked && (!token || !is_field_value(value.as_bytes())) {
            return Err(Error::explain(
                ErrorType::InternalError,
                format!(
                    "header {} from the conf cannot be sent",
                    String::from_utf8_lossy(text)
                ),
            ));
        }
        self.line(text, value.as_bytes());
        Ok(())
    }
    fn copy_case<N: IntoCaseHeaderName + Clone>(
        &mut self,
        _spelled: &N,
        name: &[u8],
        value: &http::HeaderValue,
    ) -> Result<()> {
        self.line(name, value.as_bytes());
        Ok(())
    }
    fn copy_name(&mut self, name: &http::HeaderName, value: &http::HeaderValue) -> Result<()> {
        self.line(name.as_str().as_bytes(), value.as_bytes());
        Ok(())
    }
}

/// The entries of group `g`, in the conf's order.
fn members(entries: &[PlanEntry], g: usize) -> impl Iterator<Item = usize> + '_ {
    std::iter::successors(Some(g), |&i| entries[i].next)
}

/// What goes up of the conf's entries for this request, and what the edits
/// add.
struct Sent<'a> {
    target: &'a ProxyTarget,
    upgrade: bool,
    h2: bool,
    /// The one `Host` entry sent: the last with a value (see [`last_host`]).
    host: Option<usize>,
    extras: Vec<Extra<'a>>,
}

/// A header the edits add: `Connection: upgrade`, the h2 `te` and `Host`.
struct Extra<'a> {
    name: Name<'a>,
    value: Cow<'a, str>,
    /// The conf's group of the same name, where it goes out.
    group: Option<usize>,
}

impl<'a> Sent<'a> {
    fn new(target: &'a ProxyTarget, upgrade: bool, h2: bool) -> Self {
        let mut sent = Sent {
            target,
            upgrade,
            h2,
            host: last_host(target),
            extras: Vec::new(),
        };
        let any = |sent: &Sent<'_>, class: HeaderClass| {
            let entries = target.headers.entries();
            (0..entries.len()).any(|i| entries[i].class == class && sent.value(i).is_some())
        };
        if upgrade && !h2 && any(&sent, HeaderClass::Upgrade) {
            sent.add("Connection", Cow::Borrowed("upgrade"));
        }
        if h2 {
            if !any(&sent, HeaderClass::Te) {
                sent.add("te", Cow::Borrowed("trailers"));
            }
            if !any(&sent, HeaderClass::Host) {
                let host = [target.host.as_str(), ":", &target.port.to_string()].concat();
                sent.add("Host", Cow::Owned(host));
            }
        }
        sent
    }

    fn add(&mut self, name: &'static str, value: Cow<'a, str>) {
        let group = self
            .target
            .headers
            .entries()
            .iter()
            .position(|e| e.name.eq_ignore_ascii_case(name));
        self.extras.push(Extra {
            name: Name::Static(name),
            value,
            group,
        });
    }

    /// A `Host` entry that is not the one sent.
    fn skipped_host(&self, i: usize) -> bool {
        self.target.headers.entries()[i].class == HeaderClass::Host && Some(i) != self.host
    }

    /// What entry `i` sends, when it is sent.
    fn value(&self, i: usize) -> Option<(Name<'a>, &'a str)> {
        let headers = &self.target.headers;
        let entry = &headers.entries()[i];
        let value = headers.value(i);
        if value.is_empty() || self.skipped_host(i) {
            return None;
        }
        let shared = Name::Shared(entry);
        match entry.class {
            HeaderClass::Plain | HeaderClass::Host => Some((shared, value)),
            HeaderClass::Upgrade => (self.upgrade && !self.h2).then_some((shared, value)),
            HeaderClass::Te => (self.h2 && value.eq_ignore_ascii_case("trailers"))
                .then_some((Name::Static("te"), "trailers")),
            HeaderClass::HopByHop => None,
        }
    }
}

/// A header name to append: the conf's entry (its shared bytes) or the
/// edits'.
#[derive(Clone, Copy)]
enum Name<'a> {
    Shared(&'a PlanEntry),
    Static(&'static str),
}

/// Appends the client's values of `name` to `out`, with the client's
/// spelling when Pingora kept it.
fn copy_client_values(
    req: &RequestHeader,
    out: &mut impl HeadOut,
    name: &http::HeaderName,
) -> Result<()> {
    if req.has_case() {
        for (n, v) in req
            .case_header_iter()
            .filter(|(n, _)| n.as_slice().eq_ignore_ascii_case(name.as_str().as_bytes()))
        {
            out.copy_case(n, n.as_slice(), v)?;
        }
    } else {
        for v in req.headers.get_all(name) {
            out.copy_name(name, v)?;
        }
    }
    Ok(())
}

/// Appends, in the client's order, the client's headers that go up as
/// sent: those under a name no conf entry takes (when the level passes
/// the client's headers), except body framing (copied first) and the
/// hop-by-hop ones.
fn copy_passed_client_headers(
    req: &RequestHeader,
    out: &mut impl HeadOut,
    headers: &UpstreamHeaders,
) -> Result<()> {
    let passes = |name: &http::HeaderName| {
        !FRAMING.contains(name)
            && !HeaderClass::of(name.as_str()).hop_by_hop()
            && headers.passes_client(name.as_str())
    };
    if req.has_case() {
        // Both of Pingora's maps hold the same names in the same order
        // (Pingora's own `RequestHeader::map` walks them side by side).
        for ((name, _), (case, v)) in req.headers.iter().zip(req.case_header_iter()) {
            debug_assert!(case
                .as_slice()
                .eq_ignore_ascii_case(name.as_str().as_bytes()));
            if passes(name) {
                out.copy_case(case, case.as_slice(), v)?;
            }
        }
    } else {
        for (name, v) in req.headers.iter() {
            if passes(name) {
                out.copy_name(name, v)?;
            }
        }
    }
    Ok(())
}

fn copy(out: &mut RequestHeader, n: impl IntoCaseHeaderName, v: &http::HeaderValue) -> Result<()> {
    out.append_header(n, v.clone())
        .map(|_| ())
        .or_err(ErrorType::InternalError, "copying a client header")
}

/// The one `Host` sent: the last the conf sets with a value. Two
/// `proxy_set_header Host` lines (proxy.conf's and a sample's own, as in
/// SWAG's qbittorrent sample) make nginx send two Host headers, a request
/// RFC 9112 says a server must refuse and Pingora will not write; servers
/// that accept it keep the last, which is what moat sends.
fn last_host(target: &ProxyTarget) -> Option<usize> {
    let headers = &target.headers;
    headers
        .entries()
        .iter()
        .enumerate()
        .rposition(|(i, e)| e.class == HeaderClass::Host && !headers.value(i).is_empty())
}

fn append(req: &mut RequestHeader, name: Name<'_>, value: &str) -> Result<()> {
    let (appended, text) = match name {
        Name::Shared(entry) => (
            req.append_header(entry.shared_name.clone(), value),
            entry.shared_name.as_ref(),
        ),
        Name::Static(text) => (req.append_header(text, value), text.as_bytes()),
    };
    appended.map(|_| ()).map_err(|e| {
        Error::because(
            ErrorType::InternalError,
            format!(
                "header {} from the conf cannot be sent",
                String::from_utf8_lossy(text)
            ),
            e,
        )
    })
}

/// Apply `proxy_hide_header`, `proxy_redirect` and `proxy_cookie_path` to an
/// upstream response.
pub fn upstream_response(resp: &mut ResponseHeader, target: &ProxyTarget) {
    // One pass over the few headers the upstream sent, rather than a map
    // lookup for each of the dozen hidden names on every response.
    let hidden: Vec<http::HeaderName> = resp
        .headers
        .keys()
        .filter(|name| target.hide_headers.iter().any(|h| h == name.as_str()))
        .cloned()
        .collect();
    for name in &hidden {
        resp.remove_header(name);
    }
    if !target.redirects.is_empty() {
        rewrite_location(resp, "location", &target.redirects);
        rewrite_location(resp, "refresh", &target.redirects);
    }
    if !target.cookie_paths.is_empty() {
        let cookies: Vec<String> = resp
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        if !cookies.is_empty() {
            resp.remove_header("set-cookie");
            for cookie in cookies {
                let rewritten = rewrite_cookie_path(&cookie, &target.cookie_paths);
                // The value came from a valid header, and only its path changed.
                let _ = resp.append_header("Set-Cookie", rewritten);
            }
        }
    }
}

fn rewrite_location(resp: &mut ResponseHeader, name: &'static str, rules: &[(String, String)]) {
    let Some(value) = resp
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return;
    };
    let rewritten = if name == "refresh" {
        match value.to_ascii_lowercase().find("url=") {
            Some(at) => {
                let (head, url) = value.split_at(at + 4);
                format!(
                    "{head}{}",
                    rewrite_prefix(url, rules).unwrap_or_else(|| url.to_owned())
                )
            }
            None => return,
        }
    } else {
        match rewrite_prefix(&value, rules) {
            Some(v) => v,
            None => return,
        }
    };
    let _ = resp.insert_header(name, rewritten);
}

/// The first rule whose `from` is a prefix of `value` replaces that prefix.
pub fn rewrite_prefix(value: &str, rules: &[(String, String)]) -> Option<String> {
    rules
        .iter()
        .find(|(from, _)| value.starts_with(from.as_str()))
        .map(|(from, to)| format!("{to}{}", &value[from.len()..]))
}

/// Rewrite the `path=` attribute of one `Set-Cookie` value.
pub fn rewrite_cookie_path(cookie: &str, rules: &[(String, String)]) -> String {
    let mut out = Vec::new();
    for (i, part) in cookie.split(';').enumerate() {
        let trimmed = part.trim_start();
        if i > 0 && trimmed.len() >= 5 && trimmed[..5].eq_ignore_ascii_case("path=") {
            let lead = &part[..part.len() - trimmed.len()];
            let path = &trimmed[5..];
            if let Some(new) = rewrite_prefix(path, rules) {
                out.push(format!("{lead}{}{new}", &trimmed[..5]));
                continue;
            }
        }
        out.push(part.to_owned());
    }
    out.join(";")
}

/// Add the `add_header` values that apply to this status.
pub fn add_response_headers(resp: &mut ResponseHeader, rules: &[HeaderRule]) {
    let status = resp.status.as_u16();
    for rule in rules {
        if rule.always || ADD_HEADER_STATUSES.contains(&status) {
            if let Err(e) = resp.append_header(rule.name.clone(), rule.value.as_str()) {
                tracing::warn!(header = %rule.name, error = %e, "add_header value cannot be sent");
            }
        }
    }
}

#[cfg(test)]
mod tests;
