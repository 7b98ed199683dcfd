//! SWAG's `.donoteditthisfile.conf`: the parameters the current certificate
//! was ordered with (`ORIGURL="example.com"` ...). A difference means a new
//! certificate; moat orders it before retiring the old one.

use std::path::Path;

use super::fsio::write_atomic;
use super::AcmeError;

/// Parse `KEY="value"` pairs, one or several per line (SWAG writes them on
/// one line and sources the file from a shell).
pub fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_owned();
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(stripped) = after.strip_prefix('"') {
            match stripped.find('"') {
                Some(end) => (stripped[..end].to_owned(), &stripped[end + 1..]),
                None => (stripped.to_owned(), ""),
            }
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        if !key.is_empty() && !key.contains(char::is_whitespace) {
            out.push((key, value));
        }
        rest = next;
    }
    out
}

/// Render pairs as SWAG does, one `KEY="value"` per line.
pub fn render_params(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"\n", v.replace('"', "")))
        .collect()
}

/// The recorded parameters; empty when the file is missing.
pub fn read_params(path: &Path) -> Result<Vec<(String, String)>, AcmeError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(parse_params(&s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(AcmeError::io(path, e)),
    }
}

/// Record `params` atomically.
pub fn write_params(path: &Path, params: &[(String, String)]) -> Result<(), AcmeError> {
    write_atomic(path, render_params(params).as_bytes(), 0o644)
}

/// The keys recorded and current whose values differ. Keys present on one
/// side only are ignored (SWAG's file and moat's differ in a few keys), and
/// SWAG's empty defaults equal their spelled-out values (`""` = `false`,
/// `""` = `http` for VALIDATION, `""` = `letsencrypt` for CERTPROVIDER).
pub fn changed_keys(recorded: &[(String, String)], current: &[(String, String)]) -> Vec<String> {
    current
        .iter()
        .filter(|(k, v)| {
            recorded
                .iter()
                .find(|(rk, _)| rk == k)
                .map(|(_, rv)| normalise(k, rv) != normalise(k, v))
                .unwrap_or(false)
        })
        .map(|(k, _)| k.clone())
        .collect()
}

fn normalise<'a>(key: &str, value: &'a str) -> &'a str {
    match (key, value) {
        (_, "false") => "",
        ("ORIGVALIDATION", "http") => "",
        ("ORIGCERTPROVIDER", "letsencrypt") => "",
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    #[test]
    fn swag_single_line_file_parses() {
        let got = parse_params(
            "ORIGURL=\"example.com\" ORIGSUBDOMAINS=\"www,chat\" ORIGONLY_SUBDOMAINS=\"false\"\n",
        );
        assert_eq!(
            got,
            vec![
                p("ORIGURL", "example.com"),
                p("ORIGSUBDOMAINS", "www,chat"),
                p("ORIGONLY_SUBDOMAINS", "false")
            ]
        );
    }

    #[test]
    fn rendered_params_parse_back() {
        let v = vec![p("ORIGURL", "a.org"), p("ORIGEXTRA_DOMAINS", "")];
        assert_eq!(parse_params(&render_params(&v)), v);
    }

    #[test]
    fn changed_subdomains_is_reported() {
        let rec = vec![p("ORIGURL", "a.org"), p("ORIGSUBDOMAINS", "www")];
        let cur = vec![p("ORIGURL", "a.org"), p("ORIGSUBDOMAINS", "www,chat")];
        assert_eq!(changed_keys(&rec, &cur), vec!["ORIGSUBDOMAINS".to_string()]);
        assert!(changed_keys(&rec, &rec).is_empty());
        assert!(changed_keys(&[], &cur).is_empty());
    }

    #[test]
    fn swag_empty_defaults_equal_spelled_out_values() {
        let swag = vec![
            p("ORIGSTAGING", ""),
            p("ORIGVALIDATION", ""),
            p("ORIGSUBDOMAINS", "www"),
        ];
        let moat = vec![
            p("ORIGSTAGING", "false"),
            p("ORIGVALIDATION", "http"),
            p("ORIGACME_SERVER", "x"),
        ];
        assert!(changed_keys(&swag, &moat).is_empty());
        let staging = vec![p("ORIGSTAGING", "true")];
        assert_eq!(
            changed_keys(&swag, &staging),
            vec!["ORIGSTAGING".to_string()]
        );
    }
}
