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

use pingora::http::{RequestHeader, ResponseHeader};
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
/// Runs once per proxied request, so it edits rather than rebuilds: a
/// client header the target sends with the same values (most of them:
/// proxy.conf passes the client's headers through) stays as Pingora parsed
/// it, with the client's spelling; only the rest is removed, and only
/// what is new is appended. Per name, the values and their order are
/// exactly the target's; the order between different names is not kept,
/// which HTTP gives no meaning to.
pub fn upstream_request(
    req: &mut RequestHeader,
    target: &ProxyTarget,
    upgrade: bool,
    h2: bool,
) -> Result<()> {
    if let Some(method) = &target.method {
        let method = method
            .parse::<http::Method>()
            .or_err(ErrorType::InternalError, "invalid upstream method")?;
        req.set_method(method);
    }
    if req.raw_path() != target.path_and_query.as_bytes() {
        let uri = target.path_and_query.parse::<http::Uri>().or_err_with(
            ErrorType::InternalError,
            || {
                format!(
                    "upstream path {:?} is not a valid request target",
                    target.path_and_query
                )
            },
        )?;
        req.set_uri(uri);
    }
    let stale: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|name| !kept_as_is(req, name, target))
        .cloned()
        .collect();
    for name in &stale {
        req.remove_header(name);
    }
    // Decided before anything is appended: a name the client already sends
    // with the target's values is complete, every other entry is added.
    let present: Vec<bool> = target
        .headers
        .iter()
        .map(|(name, _)| {
            req.headers
                .keys()
                .any(|kept| kept.as_str().eq_ignore_ascii_case(name))
        })
        .collect();
    for ((name, value), present) in target.headers.iter().zip(present) {
        if present {
            continue;
        }
        if name.eq_ignore_ascii_case("upgrade") && upgrade && !h2 {
            req.append_header(name.clone(), value.as_str())
                .or_err(ErrorType::InternalError, "invalid Upgrade value")?;
            continue;
        }
        if name.eq_ignore_ascii_case("te") && h2 && value.eq_ignore_ascii_case("trailers") {
            req.append_header("te", "trailers")
                .or_err(ErrorType::InternalError, "invalid TE value")?;
            continue;
        }
        if is_hop_by_hop(name) {
            continue;
        }
        append(req, name, value)?;
    }
    if upgrade && !h2 && req.headers.contains_key("upgrade") {
        req.insert_header("Connection", "upgrade")
            .or_err(ErrorType::InternalError, "setting Connection")?;
    }
    if h2 {
        if !req.headers.contains_key("te") {
            req.insert_header("te", "trailers")
                .or_err(ErrorType::InternalError, "setting TE")?;
        }
        if !req.headers.contains_key("host") {
            append(req, "Host", &format!("{}:{}", target.host, target.port))?;
        }
    }
    Ok(())
}

/// Whether the client's `name` header can go upstream untouched: body
/// framing always does (Pingora frames the body it relays by it); other
/// hop-by-hop headers never do; the rest only when the target sends
/// exactly the client's values for it, in the same order.
fn kept_as_is(req: &RequestHeader, name: &http::HeaderName, target: &ProxyTarget) -> bool {
    if matches!(name.as_str(), "content-length" | "transfer-encoding") {
        return true;
    }
    if is_hop_by_hop(name.as_str()) {
        return false;
    }
    let mut sent = target
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_str()))
        .map(|(_, v)| v.as_bytes());
    let mut received = req.headers.get_all(name).iter().map(|v| v.as_bytes());
    loop {
        match (sent.next(), received.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
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
