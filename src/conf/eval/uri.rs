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
        // 0xF4 leads the plane-16 characters that stand in for raw bytes.
        && !path.as_bytes().contains(&0xF4)
        && !path.split('/').any(|seg| seg == "." || seg == "..");
    if plain {
        return Some(path.to_owned());
    }
    resolve(path)
}

/// Decode `%XX`, merge slashes and resolve `.`/`..` (`None` above the root).
fn resolve(path: &str) -> Option<String> {
    let decoded = percent_decode(path)?;
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

/// Where a decoded byte that is not part of valid UTF-8 is kept: byte `b`
/// becomes the character `RAW_BYTE_BASE + b` (the last 256 code points of
/// plane 16, private use), and [`escape`] turns it back into `%XX`, so
/// `%FF` reaches the upstream as `%FF` as with nginx, whose `$uri` is bytes.
/// A request whose path already holds one of these characters is refused
/// (400) so the two can never be confused; no client has a reason to send
/// them.
const RAW_BYTE_BASE: u32 = 0x10_FF00;

/// The byte a [`RAW_BYTE_BASE`] character stands for.
fn raw_byte(c: char) -> Option<u8> {
    let v = c as u32;
    (v >= RAW_BYTE_BASE).then(|| (v - RAW_BYTE_BASE) as u8)
}

fn percent_decode(s: &str) -> Option<String> {
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
    let mut text = String::with_capacity(out.len());
    for chunk in out.utf8_chunks() {
        if chunk.valid().chars().any(|c| raw_byte(c).is_some()) {
            return None;
        }
        text.push_str(chunk.valid());
        for &byte in chunk.invalid() {
            text.push(char::from_u32(RAW_BYTE_BASE + u32::from(byte)).expect("plane 16 is valid"));
        }
    }
    Some(text)
}

/// Escapes a decoded path for an upstream request line (nginx's
/// `NGX_ESCAPE_URI`: spaces, `#`, `%`, `?`, controls and non-ASCII).
pub(crate) fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut buf = [0u8; 4];
    for c in path.chars() {
        if let Some(b) = raw_byte(c) {
            out.push_str(&format!("%{b:02X}"));
            continue;
        }
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            if b <= 0x20 || b >= 0x7f || matches!(b, b'"' | b'#' | b'%' | b'?') {
                out.push_str(&format!("%{b:02X}"));
            } else {
                out.push(b as char);
            }
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

    /// Bytes that are not UTF-8 survive decoding and go upstream as sent.
    #[test]
    fn bytes_that_are_not_utf8_are_escaped_back_as_themselves() {
        for (raw, upstream) in [
            ("/a%FF", "/a%FF"),
            ("/%C3%A9/%e9x", "/%C3%A9/%E9x"),
            ("/%FF%FE/%C3", "/%FF%FE/%C3"),
            ("/a%3Fb%25c%20d%23", "/a%3Fb%25c%20d%23"),
        ] {
            let decoded = normalize(raw).unwrap();
            assert_eq!(super::escape(&decoded), upstream, "{raw}");
        }
        // A path that spells one of the stand-in characters is refused.
        assert_eq!(normalize("/%F4%8F%BC%80"), None);
    }
}
