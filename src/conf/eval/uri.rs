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
    // Most request paths are already normal: nothing to decode, merge or
    // resolve, so one copy is the whole job.
    let plain = path.starts_with('/')
        && !path.contains('%')
        && !path.contains("//")
        && !path.split('/').any(|seg| seg == "." || seg == "..");
    if plain {
        return Some(path.to_owned());
    }
    resolve(path)
}

/// Decode `%XX`, merge slashes and resolve `.`/`..` (`None` above the root).
fn resolve(path: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::{normalize, resolve};

    /// The shortcut for already-normal paths gives what the full
    /// decode-merge-resolve gives.
    #[test]
    fn plain_paths_take_the_shortcut_to_the_same_answer() {
        for path in [
            "/",
            "/a",
            "/a/",
            "/a/b.c/d",
            "/.well-known/x",
            "/a/..b/c.",
            "/~u/ä",
        ] {
            assert_eq!(normalize(path), resolve(path), "{path}");
        }
        assert_eq!(normalize("/a/./b//c/../d").as_deref(), Some("/a/b/d"));
        assert_eq!(normalize("/a%2Fb/%7e").as_deref(), Some("/a/b/~"));
        assert_eq!(normalize("/.."), None);
        assert_eq!(normalize("http://h/x/../y").as_deref(), Some("/y"));
    }
}
