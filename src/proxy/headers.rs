//! Header rules: the request header list sent upstream, and the response
//! rewrites (`proxy_hide_header`, `proxy_redirect`, `proxy_cookie_path`,
//! `add_header`).
//!
//! The conf layer has already expanded every `proxy_set_header`; this file
//! only carries the list out and owns what is hop-by-hop: body framing
//! (`Content-Length`/`Transfer-Encoding`, kept from the client request so
//! Pingora frames the body it actually relays) and connection management.
//! SWAG's proxy.conf sends `Connection: close` to the upstream for every
//! request that is not an upgrade; moat drops that value so upstream
//! connections stay in the keep-alive pool, and sends `Connection: upgrade`
//! only with an `Upgrade` header.

use std::borrow::Cow;

use pingora::http::{IntoCaseHeaderName, RequestHeader, ResponseHeader};
use pingora::{Error, ErrorType, OrErr, Result};

use crate::conf::{HeaderRule, ProxyTarget};

/// Headers that describe one connection, never forwarded from the list.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "transfer-encoding",
];

/// Statuses nginx adds `add_header` values to when `always` is not given.
const ADD_HEADER_STATUSES: &[u16] = &[200, 201, 204, 206, 301, 302, 303, 304, 307, 308];

/// Rewrite `req` (Pingora's copy of the client request) into exactly what
/// the target says to send. `upgrade` keeps `Upgrade`/`Connection: upgrade`
/// (WebSockets); `h2` prepares the list for an HTTP/2 (gRPC) upstream.
///
/// Runs once per proxied request. The header list is written once, into a
/// new header in nginx's order, instead of edited in place: each edit of
/// Pingora's case-preserving map (a find, a removal, an append) costs
/// hundreds to thousands of instructions, and reordering in place needed
/// removals and appends both (bench/RESULTS.md, 2026-12-07). A client
/// header the target sends with the same values (most of them: proxy.conf
/// passes the client's headers through) is copied with the client's
/// spelling and its parsed value; only the rest is built from the target.
/// Per name, the values and their order are exactly the target's, and the
/// names go out in the target's order, as nginx sends them: the client's
/// body framing first, then what the edits add that the target does not
/// list (the h2 `te` and `Host`, `Connection: upgrade`), then the target's
/// names. Each name's values stay together (a header map cannot
/// interleave names; nginx would send `A: 1`, `B: 2`, `A: 3` as listed).
pub fn upstream_request(
    req: &mut RequestHeader,
    target: &ProxyTarget,
    upgrade: bool,
    h2: bool,
) -> Result<()> {
    let method = match &target.method {
        Some(method) => method
            .parse::<http::Method>()
            .or_err(ErrorType::InternalError, "invalid upstream method")?,
        None => req.method.clone(),
    };
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
    let hint = Some(target.headers.len() + 2);
    let build = |path: &[u8]| {
        if req.has_case() {
            RequestHeader::build(method.clone(), path, hint)
        } else {
            RequestHeader::build_no_case(method.clone(), path, hint)
        }
    };
    let mut out = if req.raw_path() == target.path_and_query.as_bytes() {
        build(req.raw_path())?
    } else {
        let uri = target.path_and_query.parse::<http::Uri>().or_err_with(
            ErrorType::InternalError,
            || {
                format!(
                    "upstream path {:?} is not a valid request target",
                    target.path_and_query
                )
            },
        )?;
        let mut out = build(b"/")?;
        out.set_uri(uri);
        out
    };
    out.set_version(req.version);
    if let Some(end) = req.send_end_stream() {
        out.set_send_end_stream(end);
    }
    *out.extensions_mut() = std::mem::take(req.extensions_mut());

    {
        let plan = Plan::new(req, target, upgrade, h2);
        for step in plan.order() {
            match step {
                Step::Client(name) => copy_client_values(req, &mut out, name)?,
                Step::Conf(name, value) => append(&mut out, name, value)?,
            }
        }
    }
    *req = out;
    Ok(())
}

/// What goes upstream, worked out once per request with the target's
/// names compared once each: every later step compares indices. The
/// target's entries that share a name (case-insensitive) form a group,
/// named by its first entry; a group goes out once, at the place of its
/// first entry that is sent, with all its values together.
struct Plan<'a> {
    target: &'a ProxyTarget,
    /// Per entry: the first entry with the same name (its group).
    group: Vec<usize>,
    /// Per entry: the next entry of its group, if any.
    next: Vec<Option<usize>>,
    /// Per entry: what the target sends for it, when it is sent.
    sent: Vec<Option<(&'a str, &'a str)>>,
    /// Per group: the client's values go up for it instead.
    kept: Vec<bool>,
    /// The skipped `Host` entries are all but the last (see [`last_host`]).
    host: Option<usize>,
    /// The client's names that go up untouched and that the target does
    /// not list (its body framing), in the client's order.
    unlisted_client: Vec<&'a str>,
    /// What the edits add (`Connection: upgrade`, the h2 `te` and `Host`),
    /// with the group of the same name when the target lists it.
    extra: Vec<(&'a str, Cow<'a, str>, Option<usize>)>,
}

/// One name of the upstream head, in order.
enum Step<'p> {
    /// The client's values of this name, as received.
    Client(&'p str),
    /// One value from the conf (or the edits).
    Conf(&'p str, &'p str),
}

impl<'a> Plan<'a> {
    fn new(req: &'a RequestHeader, target: &'a ProxyTarget, upgrade: bool, h2: bool) -> Self {
        let entries = &target.headers;
        let n = entries.len();
        let host = last_host(target);
        let mut group = Vec::with_capacity(n);
        for (i, (name, _)) in entries.iter().enumerate() {
            let first = entries[..i]
                .iter()
                .position(|(earlier, _)| earlier.eq_ignore_ascii_case(name))
                .unwrap_or(i);
            group.push(first);
        }
        let mut next = vec![None; n];
        let mut last_of_group: Vec<Option<usize>> = vec![None; n];
        for i in (0..n).rev() {
            next[i] = last_of_group[group[i]];
            last_of_group[group[i]] = Some(i);
        }
        let mut kept = vec![false; n];
        let mut unlisted_client = Vec::new();
        for name in req.headers.keys() {
            if !kept_as_is(req, name, target, host) {
                continue;
            }
            match first_named(target, name.as_str()) {
                Some(g) => kept[g] = true,
                None => unlisted_client.push(name.as_str()),
            }
        }
        let mut sent = vec![None; n];
        for (i, (name, value)) in entries.iter().enumerate() {
            if (name.eq_ignore_ascii_case("host") && Some(i) != host) || kept[group[i]] {
                continue;
            }
            sent[i] = if name.eq_ignore_ascii_case("upgrade") && upgrade && !h2 {
                Some((name.as_str(), value.as_str()))
            } else if name.eq_ignore_ascii_case("te")
                && h2
                && value.eq_ignore_ascii_case("trailers")
            {
                Some(("te", "trailers"))
            } else if !is_hop_by_hop(name) {
                Some((name.as_str(), value.as_str()))
            } else {
                None
            };
        }
        let mut plan = Plan {
            target,
            group,
            next,
            sent,
            kept,
            host,
            unlisted_client,
            extra: Vec::new(),
        };
        if upgrade && !h2 && plan.has("upgrade") {
            plan.add("Connection", Cow::Borrowed("upgrade"));
        }
        if h2 {
            if !plan.has("te") {
                plan.add("te", Cow::Borrowed("trailers"));
            }
            if !plan.has("host") {
                let host = [target.host.as_str(), ":", &target.port.to_string()].concat();
                plan.add("Host", Cow::Owned(host));
            }
        }
        plan
    }

    /// The entries of group `g`, in the target's order.
    fn members(&self, g: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(g), |&i| self.next[i])
    }

    /// Whether `name` goes up at all, from the client or from the target.
    fn has(&self, name: &str) -> bool {
        self.unlisted_client
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
            || self
                .extra
                .iter()
                .any(|(n, _, _)| n.eq_ignore_ascii_case(name))
            || first_named(self.target, name)
                .is_some_and(|g| self.kept[g] || self.members(g).any(|i| self.sent[i].is_some()))
    }

    fn add(&mut self, name: &'a str, value: Cow<'a, str>) {
        let group = first_named(self.target, name);
        self.extra.push((name, value, group));
    }

    /// The head in nginx's order: the client's unlisted names (body
    /// framing), the edits' unlisted names, then each group of the
    /// target's at its first entry that is sent.
    fn order(&self) -> Vec<Step<'_>> {
        let n = self.group.len();
        let mut steps: Vec<Step<'_>> = Vec::with_capacity(n + self.unlisted_client.len() + 2);
        steps.extend(self.unlisted_client.iter().map(|name| Step::Client(name)));
        steps.extend(
            self.extra
                .iter()
                .filter(|(_, _, g)| g.is_none())
                .map(|(name, value, _)| Step::Conf(name, value)),
        );
        let mut done = vec![false; n];
        for i in 0..n {
            let g = self.group[i];
            let name = self.target.headers[i].0.as_str();
            let skipped = name.eq_ignore_ascii_case("host") && Some(i) != self.host;
            if skipped || done[g] {
                continue;
            }
            let before = steps.len();
            if self.kept[g] {
                steps.push(Step::Client(name));
            } else {
                steps.extend(
                    self.members(g)
                        .filter_map(|m| self.sent[m])
                        .map(|(n, v)| Step::Conf(n, v)),
                );
                steps.extend(
                    self.extra
                        .iter()
                        .filter(|(_, _, e)| *e == Some(g))
                        .map(|(n, v, _)| Step::Conf(n, v)),
                );
            }
            // A group with nothing to send waits for a later entry (the
            // last Host) or is not sent at all.
            done[g] = steps.len() > before;
        }
        steps
    }
}

/// The first of the target's entries named `name` (the group of that name).
fn first_named(target: &ProxyTarget, name: &str) -> Option<usize> {
    target
        .headers
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// Appends the client's values of `name` to `out`, with the client's
/// spelling when Pingora kept it.
fn copy_client_values(req: &RequestHeader, out: &mut RequestHeader, name: &str) -> Result<()> {
    fn copy(
        out: &mut RequestHeader,
        n: impl IntoCaseHeaderName,
        v: &http::HeaderValue,
    ) -> Result<()> {
        out.append_header(n, v.clone())
            .map(|_| ())
            .or_err(ErrorType::InternalError, "copying a client header")
    }
    if req.has_case() {
        for (n, v) in req
            .case_header_iter()
            .filter(|(n, _)| n.as_slice().eq_ignore_ascii_case(name.as_bytes()))
        {
            copy(out, n.clone(), v)?;
        }
    } else {
        for v in req.headers.get_all(name) {
            copy(out, name.to_owned(), v)?;
        }
    }
    Ok(())
}

/// Whether the client's `name` header can go upstream untouched: body
/// framing always does (Pingora frames the body it relays by it); other
/// hop-by-hop headers never do; the rest only when the target sends
/// exactly the client's values for it, in the same order.
fn kept_as_is(
    req: &RequestHeader,
    name: &http::HeaderName,
    target: &ProxyTarget,
    host: Option<usize>,
) -> bool {
    if matches!(name.as_str(), "content-length" | "transfer-encoding") {
        return true;
    }
    if is_hop_by_hop(name.as_str()) {
        return false;
    }
    let mut sent = target
        .headers
        .iter()
        .enumerate()
        .filter(|(i, (n, _))| {
            n.eq_ignore_ascii_case(name.as_str())
                && (name != http::header::HOST || Some(*i) == host)
        })
        .map(|(_, (_, v))| v.as_bytes());
    let mut received = req.headers.get_all(name).iter().map(|v| v.as_bytes());
    loop {
        match (sent.next(), received.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The one `Host` sent: the last the conf sets. Two `proxy_set_header
/// Host` lines (proxy.conf's and a sample's own, as in SWAG's qbittorrent
/// sample) make nginx send two Host headers, a request RFC 9112 says a
/// server must refuse and Pingora will not write; servers that accept it
/// keep the last, which is what moat sends.
fn last_host(target: &ProxyTarget) -> Option<usize> {
    target
        .headers
        .iter()
        .rposition(|(n, _)| n.eq_ignore_ascii_case("host"))
}

fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

fn append(req: &mut RequestHeader, name: &str, value: &str) -> Result<()> {
    req.append_header(name.to_owned(), value)
        .map(|_| ())
        .map_err(|e| {
            Error::because(
                ErrorType::InternalError,
                format!("header {name} from the conf cannot be sent"),
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
