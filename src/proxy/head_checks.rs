//! Request-head validation, run once per request before routing: what
//! nginx refuses with 400/501 is refused here too, so a hostile Host or
//! request-target never reaches route matching, `$host`, or an upstream.
//!
//! The rules follow nginx 1.22 (`ngx_http_parse_request_line`,
//! `ngx_http_validate_host`, `ngx_http_process_request_header`). moat is
//! stricter in three documented places, because the values end up in
//! `$host`/`$http_host` that apps and forward-auth services trust:
//! - a Host containing `\` or `@` is refused (nginx accepts both on Unix;
//!   neither can appear in a DNS name, and `@` turns `https://$host/...`
//!   into a URL with userinfo);
//! - an absolute-form target whose authority disagrees with `Host` is
//!   refused (nginx silently prefers the target's host);
//! - a Host with a byte over 0x7f is refused (nginx accepts it; DNS names
//!   are ASCII, IDNs arrive punycoded, and such a Host is no `&str` for
//!   routing, so it would reach the upstream as an empty Host).
//!
//! Pingora's own HTTP/1 parser runs first and answers some of these itself
//! (400 for a Host/absolute-form mismatch in any spelling, 400 for an
//! unknown `Transfer-Encoding` where nginx says 501); with both
//! `Transfer-Encoding: chunked` and `Content-Length` it drops the length
//! and closes after the answer (nginx: 400). `tests/edge_requests.rs`
//! pins each of these against nginx.
//!
//! It also edits the head in place: absolute-form becomes origin-form (the
//! upstream always sees `/path`), and header names nginx would ignore are
//! removed (`ignore_invalid_headers on`, `underscores_in_headers off`).

use http::header::{AUTHORIZATION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{Method, Version};
use pingora::http::RequestHeader;

pub use crate::conf::HeaderRules;

/// Why a head is refused, and with which status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400 or 501.
    pub status: u16,
    /// For the log.
    pub why: String,
}

fn bad(why: impl Into<String>) -> Refusal {
    Refusal {
        status: 400,
        why: why.into(),
    }
}

/// HTTP/2 clients may send each cookie as its own `cookie` field; for
/// anything HTTP/1.1 (upstreams, auth servers, `$http_cookie`) they are one
/// header joined with `; ` (RFC 9113 section 8.2.3), as nginx does.
fn join_h2_cookies(req: &mut RequestHeader) {
    if req.version != http::Version::HTTP_2 {
        return;
    }
    let cookies: Vec<Vec<u8>> = req
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    if cookies.len() < 2 {
        return;
    }
    let joined = cookies.join(&b"; "[..]);
    if let Ok(value) = http::HeaderValue::from_bytes(&joined) {
        let _ = req.insert_header(http::header::COOKIE, value);
    }
}

/// Validate `req` and normalise it in place (see the module doc).
pub fn check(req: &mut RequestHeader, rules: HeaderRules) -> Result<(), Refusal> {
    drop_ignored_headers(req, rules);
    join_h2_cookies(req);
    let hosts = req.headers.get_all(HOST).iter().count();
    if hosts > 1 {
        return Err(bad("client sent duplicate Host header"));
    }
    if req.headers.get_all(AUTHORIZATION).iter().count() > 1 {
        return Err(bad("client sent duplicate Authorization header"));
    }
    let host = req.headers.get(HOST).map(|v| v.as_bytes());
    if let Some(host) = host {
        valid_host(host).map_err(|why| bad(format!("invalid Host header: {why}")))?;
    }
    let has_host = host.is_some();
    // Origin-form, the common case, is only read: nothing is copied.
    let target = req.raw_path();
    if let Some((authority, origin)) = split_absolute(target) {
        valid_host(authority).map_err(|why| bad(format!("invalid request-target host: {why}")))?;
        if let Some(host) = host {
            if !same_authority(authority, host) {
                return Err(bad("request-target host does not match Host"));
            }
        }
        let origin = if origin.is_empty() {
            b"/".to_vec()
        } else if origin[0] == b'?' {
            [b"/".as_slice(), origin].concat()
        } else {
            origin.to_vec()
        };
        req.set_raw_path(&origin)
            .map_err(|_| bad("request-target path is invalid"))?;
    } else if target == b"*" {
        if req.method != Method::OPTIONS {
            return Err(bad("`*` request-target without OPTIONS"));
        }
    } else if target.first() != Some(&b'/') {
        return Err(bad("request-target is not origin-form or absolute-form"));
    }
    if req.version == Version::HTTP_11 && !has_host {
        return Err(bad("HTTP/1.1 request without Host header"));
    }
    if req.version == Version::HTTP_2 && !has_host {
        let Some(authority) = req.uri.authority().map(|a| a.as_str().to_owned()) else {
            return Err(bad("HTTP/2 request without :authority or Host"));
        };
        valid_host(authority.as_bytes())
            .map_err(|why| bad(format!("invalid :authority: {why}")))?;
        // HTTP/2 clients send `:authority` instead of Host; nginx's
        // `$http_host` (SWAG's X-Original-URL) and the upstream need it.
        req.insert_header(HOST, authority)
            .map_err(|_| bad("invalid :authority"))?;
    }
    check_framing(req)
}

/// `Content-Length` and `Transfer-Encoding`: one of each at most, a plain
/// number, exactly `chunked`, never both.
fn check_framing(req: &RequestHeader) -> Result<(), Refusal> {
    let mut lengths = req.headers.get_all(CONTENT_LENGTH).iter();
    let length = lengths.next();
    if lengths.next().is_some() {
        return Err(bad("client sent duplicate Content-Length header"));
    }
    if let Some(len) = length {
        let v = len.as_bytes();
        if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
            return Err(bad("client sent invalid Content-Length header"));
        }
    }
    let mut encodings = req.headers.get_all(TRANSFER_ENCODING).iter();
    let encoding = encodings.next();
    if encodings.next().is_some() {
        return Err(bad("client sent duplicate Transfer-Encoding header"));
    }
    if let Some(te) = encoding {
        if req.version == Version::HTTP_10 {
            return Err(bad("client sent Transfer-Encoding in an HTTP/1.0 request"));
        }
        if !te.as_bytes().eq_ignore_ascii_case(b"chunked") {
            return Err(Refusal {
                status: 501,
                why: "client sent unknown Transfer-Encoding".into(),
            });
        }
        if length.is_some() {
            return Err(bad(
                "client sent Content-Length and Transfer-Encoding together",
            ));
        }
    }
    Ok(())
}

/// Remove the header names nginx ignores under `rules`. As in nginx, a `_`
/// without `underscores_in_headers` only marks the name invalid: with
/// `ignore_invalid_headers off` it is kept like any other invalid name.
fn drop_ignored_headers(req: &mut RequestHeader, rules: HeaderRules) {
    if !rules.ignore_invalid {
        return;
    }
    let ignored = |name: &str| {
        name.bytes().any(|b| match b {
            b'_' => !rules.underscores,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => false,
            _ => true,
        })
    };
    // Rare: a head with nothing to drop allocates nothing.
    if !req.headers.keys().any(|n| ignored(n.as_str())) {
        return;
    }
    let names: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|n| ignored(n.as_str()))
        .cloned()
        .collect();
    for name in names {
        tracing::debug!(header = %name, "ignoring request header nginx would ignore");
        while req.remove_header(&name).is_some() {}
    }
}

/// nginx's Host rules plus moat's `\` and `@` (see the module doc).
fn valid_host(host: &[u8]) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("empty");
    }
    if host.windows(2).any(|w| w == b"..") {
        return Err("contains `..`");
    }
    for &b in host {
        match b {
            b'/' => return Err("contains `/`"),
            b'\\' => return Err("contains `\\`"),
            b'@' => return Err("contains `@`"),
            0..=0x20 | 0x7f => return Err("contains whitespace or a control character"),
            0x80.. => return Err("contains a non-ASCII byte"),
            _ => {}
        }
    }
    // A lone port (`:443`) or `.` leaves no host name.
    let name = host.split(|&b| b == b':').next().unwrap_or_default();
    if (name.is_empty() || name == b".") && host.first() != Some(&b'[') {
        return Err("no host name");
    }
    Ok(())
}

/// `http://authority/rest` → (authority, rest) for absolute-form targets.
fn split_absolute(target: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = ["http://", "https://"].iter().find_map(|scheme| {
        let n = scheme.len();
        (target.len() >= n && target[..n].eq_ignore_ascii_case(scheme.as_bytes()))
            .then(|| &target[n..])
    })?;
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    Some((&rest[..end], &rest[end..]))
}

/// Whether two authorities name the same host (case-insensitive; a
/// missing port matches any, as nginx compares names only).
fn same_authority(a: &[u8], b: &[u8]) -> bool {
    fn name(v: &[u8]) -> &[u8] {
        if v.first() == Some(&b'[') {
            return v.split(|&c| c == b']').next().unwrap_or(v);
        }
        let v = v.split(|&c| c == b':').next().unwrap_or(v);
        v.strip_suffix(b".").unwrap_or(v)
    }
    name(a).eq_ignore_ascii_case(name(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build(method, target.as_bytes(), None).unwrap();
        for (n, v) in headers {
            r.append_header(n.to_string(), *v).unwrap();
        }
        r
    }

    fn status(r: &mut RequestHeader) -> u16 {
        check(r, HeaderRules::default()).map_or_else(|e| e.status, |()| 200)
    }

    #[test]
    fn hostile_hosts_are_refused() {
        for host in [
            "", "a/b", "a\\b", "a b", "a..b", "user@a", "a\tb", ":443", ".",
        ] {
            let mut r = req("GET", "/", &[("Host", host)]);
            assert_eq!(status(&mut r), 400, "{host:?}");
        }
        for host in ["example.test", "a.example.test:8443", "[::1]:443", "x."] {
            let mut r = req("GET", "/", &[("Host", host)]);
            assert_eq!(status(&mut r), 200, "{host:?}");
        }
    }

    #[test]
    fn targets_must_be_origin_absolute_or_options_star() {
        for (m, t) in [
            ("GET", "@h/x"),
            ("GET", "\\admin"),
            ("GET", "..;/admin"),
            ("GET", "*"),
        ] {
            let mut r = req(m, t, &[("Host", "a")]);
            assert_eq!(status(&mut r), 400, "{m} {t}");
        }
        let mut r = req("OPTIONS", "*", &[("Host", "a")]);
        assert_eq!(status(&mut r), 200);
    }

    #[test]
    fn absolute_form_becomes_origin_form_and_must_match_host() {
        let mut r = req("GET", "http://A.test:443?q=1", &[("Host", "a.test")]);
        assert_eq!(status(&mut r), 200);
        assert_eq!(r.raw_path(), b"/?q=1");
        let mut r = req("GET", "https://a.test/x/y", &[("Host", "a.test")]);
        assert_eq!(status(&mut r), 200);
        assert_eq!(r.raw_path(), b"/x/y");
        let mut r = req("GET", "http://evil.test/x", &[("Host", "a.test")]);
        assert_eq!(status(&mut r), 400);
        let mut r = req("GET", "http://a@evil.test/x", &[("Host", "evil.test")]);
        assert_eq!(status(&mut r), 400);
    }

    #[test]
    fn duplicates_and_framing() {
        let cases: &[(&[(&str, &str)], u16)] = &[
            (&[("Host", "a"), ("Host", "a")], 400),
            (
                &[
                    ("Host", "a"),
                    ("Authorization", "x"),
                    ("Authorization", "y"),
                ],
                400,
            ),
            (&[("Host", "a"), ("Content-Length", "3, 3")], 400),
            (
                &[
                    ("Host", "a"),
                    ("Content-Length", "3"),
                    ("Content-Length", "3"),
                ],
                400,
            ),
            (&[("Host", "a"), ("Content-Length", "+3")], 400),
            (
                &[("Host", "a"), ("Transfer-Encoding", "gzip, chunked")],
                501,
            ),
            (
                &[
                    ("Host", "a"),
                    ("Transfer-Encoding", "chunked"),
                    ("Content-Length", "3"),
                ],
                400,
            ),
            (&[("Host", "a"), ("Transfer-Encoding", "Chunked")], 200),
            (&[("Host", "a"), ("Content-Length", "3")], 200),
            (&[], 400),
        ];
        for (headers, want) in cases {
            let mut r = req("POST", "/", headers);
            assert_eq!(status(&mut r), *want, "{headers:?}");
        }
    }

    #[test]
    fn underscores_and_invalid_names_are_dropped_unless_allowed() {
        let headers = [
            ("Host", "a"),
            ("X_Auth", "1"),
            ("X.Dot", "2"),
            ("X-Ok", "3"),
        ];
        let mut r = req("GET", "/", &headers);
        assert_eq!(status(&mut r), 200);
        let names: Vec<_> = r.headers.keys().map(|n| n.as_str().to_owned()).collect();
        assert_eq!(names, ["host", "x-ok"]);
        let mut r = req("GET", "/", &headers);
        let rules = HeaderRules {
            underscores: true,
            ignore_invalid: false,
        };
        check(&mut r, rules).unwrap();
        assert_eq!(r.headers.len(), 4);
    }
}
