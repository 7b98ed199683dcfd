//! DuckDNS keeps a single TXT record per domain, so one order can never
//! validate both `URL` and `*.URL` (the second value overwrites the first).
//! SWAG therefore narrows the names with DuckDNS: `SUBDOMAINS=wildcard`
//! gives `*.URL` alone, anything else `URL` alone. moat does the same, and
//! says at start what it left out instead of failing every order.

use super::domain::DomainName;

/// The names a DuckDNS order can hold, and a note when some were dropped.
pub(super) fn narrow(
    url: &DomainName,
    domains: Vec<DomainName>,
) -> (Vec<DomainName>, Option<String>) {
    let wildcard = domains
        .iter()
        .find(|d| d.is_wildcard() && d.as_str().strip_prefix("*.") == Some(url.as_str()))
        .cloned();
    let kept = wildcard.unwrap_or_else(|| url.clone());
    if domains.len() == 1 && domains[0] == kept {
        return (domains, None);
    }
    let dropped: Vec<&str> = domains
        .iter()
        .filter(|d| **d != kept)
        .map(DomainName::as_str)
        .collect();
    let note = format!(
        "DuckDNS holds one TXT record per domain, so the certificate covers {} only, as SWAG does with DuckDNS; left out: {}",
        kept.as_str(),
        dropped.join(", ")
    );
    (vec![kept], Some(note))
}
