//! The spellings of a path that a static file server must map exactly as
//! nginx does (issue 17 item 1): trailing `/`, `//`, `/.`, `/./`, a doubled
//! leading slash, `/./` or `/sub/..` in front, `%2f`/`%2F` for a slash,
//! `%2e`/`%2E` for a dot, a percent-encoded letter, upper and flipped case.
//! Shared by `static_files_nginx` and the nginx oracle's `static` class.
#![allow(dead_code)]

use std::collections::BTreeSet;

/// Every spelling of `base`'s path the generator makes, its query kept.
pub fn variants(base: &str) -> Vec<String> {
    let (path, query) = match base.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (base, String::new()),
    };
    path_variants(path)
        .into_iter()
        .map(|p| format!("{p}{query}"))
        .collect()
}

/// Every spelling of the path `base` (no query).
pub fn path_variants(base: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    out.insert(base.to_string());
    let trimmed = base.trim_end_matches('/');
    for tail in ["/", "//", "/.", "/./", "%2f", "%2F", "%2e", "."] {
        out.insert(format!("{trimmed}{tail}"));
    }
    out.insert(format!("/{base}"));
    out.insert(format!("/.{base}"));
    out.insert(format!("/sub/..{base}"));
    out.insert(base.replacen('/', "//", 1));
    out.insert(base.to_ascii_uppercase());
    // Case of the first letter flipped.
    if let Some(i) = base.find(|c: char| c.is_ascii_alphabetic()) {
        let mut s = base.to_string();
        let c = s.as_bytes()[i] as char;
        let flipped = if c.is_ascii_lowercase() {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        };
        s.replace_range(i..=i, &flipped.to_string());
        out.insert(s);
        // The letter percent-encoded.
        let mut e = base.to_string();
        e.replace_range(i..=i, &format!("%{:02x}", c as u8));
        out.insert(e);
    }
    // Each dot, and each inner slash, encoded (both cases).
    for (i, c) in base.char_indices() {
        let code = match c {
            '.' => "2e",
            '/' if i > 0 => "2f",
            _ => continue,
        };
        for code in [code.to_string(), code.to_ascii_uppercase()] {
            let mut s = base.to_string();
            s.replace_range(i..i + 1, &format!("%{code}"));
            out.insert(s);
        }
    }
    out.into_iter().collect()
}
