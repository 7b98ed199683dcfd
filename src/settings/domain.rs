//! Domain names as they go into a certificate, and the SWAG rule that turns
//! URL, SUBDOMAINS, ONLY_SUBDOMAINS and EXTRA_DOMAINS into the name list.

use std::fmt;

/// A lower-case DNS name, checked label by label; a leading `*.` is allowed
/// only where a wildcard makes sense (SUBDOMAINS=wildcard, EXTRA_DOMAINS).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// Checks `text` (already lower-cased); `allow_wildcard` permits one
    /// leading `*.`. The error says what is wrong, for the settings message.
    pub fn parse(text: &str, allow_wildcard: bool) -> Result<Self, String> {
        let body = match text.strip_prefix("*.") {
            Some(rest) if allow_wildcard => rest,
            Some(_) => return Err("a wildcard is not allowed here".into()),
            None => text,
        };
        if body.is_empty() {
            return Err("empty name".into());
        }
        if body.len() > 253 {
            return Err(format!("{} characters, more than 253", body.len()));
        }
        if body.ends_with('.') {
            return Err("ends with a dot".into());
        }
        if body.contains("://") || body.contains('/') {
            return Err("a domain name, not a URL (no scheme or path)".into());
        }
        for label in body.split('.') {
            check_label(label)?;
        }
        Ok(DomainName(text.to_string()))
    }

    /// The name as text, e.g. `*.example.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `true` for `*.example.com`.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// The name without a leading `*.`: the lineage name rule.
    pub fn without_wildcard(&self) -> &str {
        self.0.strip_prefix("*.").unwrap_or(&self.0)
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("empty label (two dots in a row, or a leading dot)".into());
    }
    if label.len() > 63 {
        return Err(format!("label {label:?} is longer than 63 characters"));
    }
    if label == "*" {
        return Err("`*` is only allowed as the whole first label".into());
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        let hint = if c.is_ascii() {
            ""
        } else {
            " (write internationalised names in punycode, xn--...)"
        };
        return Err(format!(
            "label {label:?} contains {c:?}; only a-z, 0-9 and '-' are allowed{hint}"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label {label:?} starts or ends with '-'"));
    }
    Ok(())
}

/// Splits a SWAG list variable the way its shell does (`tr ',' ' '` then word
/// splitting): commas and whitespace separate, empty entries vanish. Unlike
/// SWAG, `*` is never glob-expanded.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

/// The certificate's names in SWAG's order:
/// `[URL unless (SUBDOMAINS non-empty and ONLY_SUBDOMAINS)]`, then
/// `*.URL` for `wildcard` or `label.URL` for each label, then EXTRA_DOMAINS.
/// A name listed twice is kept once, at its first place.
pub fn certificate_names(
    url: &DomainName,
    subdomains: &[DomainName],
    only_subdomains: bool,
    extra: &[DomainName],
) -> Vec<DomainName> {
    let mut names = Vec::new();
    // SWAG bug not copied: ONLY_SUBDOMAINS with no SUBDOMAINS leaves the
    // apex in rather than producing an empty list (and `live/.URL`).
    if subdomains.is_empty() || !only_subdomains {
        names.push(url.clone());
    }
    for name in subdomains.iter().chain(extra) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}
