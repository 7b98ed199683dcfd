//! URI handling as nginx does it before location matching: percent-decode,
//! merge slashes, resolve `.` and `..`; and escaping back for upstreams.

/// Splits a request target into (path, args).
pub(crate) fn split(target: &str) -> (&str, &str) {
    match target.split_once('?') {
        Some((p, a)) => (p, a),
        None => (target, ""),
    }
}

/// Decodes and normalises a request path the way nginx builds `$uri`.
/// `None` for a path that climbs above the root (nginx answers 400).
pub(crate) fn normalize(path: &str) -> Option<String> {
    // An absolute-form target (`http://host/path`) keeps only the path.
    let path = if let Some(rest) = path
        .strip_prefix("http://")
        .or_else(|| path.strip_prefix("https://"))
    {
        rest.find('/').map(|i| &rest[i..]).unwrap_or("/")
    } else {
        path
    };
    let decoded = percent_decode(path);
    let mut out: Vec<&str> = Vec::new();
    let ends_with_slash =
        decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    let mut s = String::with_capacity(decoded.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if s.is_empty() || ends_with_slash {
        s.push('/');
    }
    Some(s)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes a decoded path for an upstream request line (nginx's
/// `NGX_ESCAPE_URI`: spaces, `#`, `%`, `?`, controls and non-ASCII).
pub(crate) fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b <= 0x20 || b >= 0x7f || matches!(b, b'"' | b'#' | b'%' | b'?') {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Escapes everything but unreserved characters (`set_escape_uri`).
pub(crate) fn escape_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
