//! `sub_filter`: string substitution in upstream response bodies
//! (ngx_http_sub_module), as the route decision's [`BodyFilter`] says.
//!
//! [`start`] decides per response (type matches, body not compressed) and
//! fixes the headers; the [`Substituter`] then buffers the body up to
//! [`MAX_BUFFERED`] bytes and rewrites it at end of stream. Past the cap
//! the buffered part and the rest are passed on unmodified (logged once).

use bytes::Bytes;
use pingora::http::ResponseHeader;

use crate::conf::BodyFilter;

/// The most body bytes held for substitution; larger bodies pass unmodified.
pub const MAX_BUFFERED: usize = 16 * 1024 * 1024;

/// Per-response substitution state.
#[derive(Debug)]
pub struct Substituter {
    rules: Vec<(Vec<u8>, Vec<u8>)>,
    once: bool,
    buf: Vec<u8>,
    cap: usize,
    passthrough: bool,
}

/// Whether this response gets substituted; if so, removes the headers a
/// rewritten body invalidates and returns the state for the body phase.
pub fn start(filter: &BodyFilter, resp: &mut ResponseHeader) -> Option<Substituter> {
    let content_type = header(resp, http::header::CONTENT_TYPE)?;
    if !filter.matches_type(&content_type) {
        return None;
    }
    let encoded = header(resp, http::header::CONTENT_ENCODING)
        .is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
    if encoded
        || header(resp, http::header::CONTENT_LENGTH).is_some_and(|l| l.trim() == "0")
        || matches!(resp.status.as_u16(), 100..=199 | 204 | 304)
    {
        return None;
    }
    resp.remove_header(&http::header::CONTENT_LENGTH);
    resp.remove_header(&http::header::ACCEPT_RANGES);
    // Without a length the body is sent chunked (Pingora would otherwise
    // delimit it by closing the connection).
    if resp.headers.get(http::header::TRANSFER_ENCODING).is_none() {
        let _ = resp.insert_header(http::header::TRANSFER_ENCODING, "chunked");
    }
    if !filter.keep_last_modified {
        resp.remove_header(&http::header::LAST_MODIFIED);
        // nginx weakens the entity tag of a rewritten body.
        if let Some(etag) = header(resp, http::header::ETAG) {
            if !etag.starts_with("W/") {
                let _ = resp.insert_header(http::header::ETAG, format!("W/{etag}"));
            }
        }
    }
    Some(Substituter::new(filter, MAX_BUFFERED))
}

fn header(resp: &ResponseHeader, name: http::header::HeaderName) -> Option<String> {
    resp.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Substituter {
    /// State for one body, buffering at most `cap` bytes.
    pub fn new(filter: &BodyFilter, cap: usize) -> Self {
        Substituter {
            rules: filter
                .rules
                .iter()
                .map(|(f, t)| (f.as_bytes().to_ascii_lowercase(), t.as_bytes().to_vec()))
                .collect(),
            once: filter.once,
            buf: Vec::new(),
            cap,
            passthrough: false,
        }
    }

    /// Takes one body chunk; replaces it with what is ready to send.
    pub fn filter(&mut self, body: &mut Option<Bytes>, end_of_stream: bool) {
        if self.passthrough {
            return;
        }
        if let Some(chunk) = body.take() {
            if self.buf.len() + chunk.len() > self.cap {
                tracing::warn!(
                    cap = self.cap,
                    "sub_filter: response body larger than the buffer; passing it on unmodified"
                );
                self.passthrough = true;
                let mut out = std::mem::take(&mut self.buf);
                out.extend_from_slice(&chunk);
                *body = Some(Bytes::from(out));
                return;
            }
            self.buf.extend_from_slice(&chunk);
        }
        if end_of_stream {
            let out = substitute(&self.buf, &self.rules, self.once);
            self.buf = Vec::new();
            *body = Some(Bytes::from(out));
        }
    }
}

/// Replaces each rule's `from` (lower-case; matched ignoring ASCII case)
/// with its `to`, scanning left to right; at each position the first rule
/// in order that matches wins. With `once`, a rule stops after its first hit.
pub fn substitute(body: &[u8], rules: &[(Vec<u8>, Vec<u8>)], once: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut used = vec![false; rules.len()];
    let mut i = 0;
    'scan: while i < body.len() {
        for (n, (from, to)) in rules.iter().enumerate() {
            if (once && used[n]) || from.is_empty() {
                continue;
            }
            if body.len() - i >= from.len() && body[i..i + from.len()].eq_ignore_ascii_case(from) {
                out.extend_from_slice(to);
                i += from.len();
                used[n] = true;
                continue 'scan;
            }
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(f, t)| (f.to_ascii_lowercase().into_bytes(), t.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn replaces_ignoring_case_all_or_once() {
        let r = rules(&[("url(\"/css/", "url(\"/tp/css/")]);
        let body = b"a URL(\"/css/x) b url(\"/CSS/y)";
        assert_eq!(
            substitute(body, &r, false),
            b"a url(\"/tp/css/x) b url(\"/tp/css/y)".to_vec()
        );
        assert_eq!(
            substitute(body, &r, true),
            b"a url(\"/tp/css/x) b url(\"/CSS/y)".to_vec()
        );
    }

    #[test]
    fn several_rules_each_once() {
        let r = rules(&[("foo", "1"), ("bar", "2")]);
        assert_eq!(substitute(b"bar foo foo bar", &r, true), b"2 1 foo bar");
        assert_eq!(substitute(b"fo", &r, true), b"fo");
    }

    #[test]
    fn over_the_cap_passes_unmodified() {
        let f = BodyFilter {
            rules: vec![("a".into(), "b".into())],
            types: vec!["*".into()],
            once: false,
            keep_last_modified: false,
        };
        let mut s = Substituter::new(&f, 4);
        let mut body = Some(Bytes::from_static(b"aaa"));
        s.filter(&mut body, false);
        assert_eq!(body, None);
        let mut body = Some(Bytes::from_static(b"aa"));
        s.filter(&mut body, false);
        assert_eq!(body.as_deref(), Some(&b"aaaaa"[..]));
        let mut body = Some(Bytes::from_static(b"a"));
        s.filter(&mut body, true);
        assert_eq!(body.as_deref(), Some(&b"a"[..]));
    }
}
