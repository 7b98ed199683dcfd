//! Name arithmetic every zone-based provider needs: the suffixes a record
//! name's zone may be (longest first) and the name relative to its zone.

/// `name` and its parent domains down to two labels, longest first:
/// `_acme-challenge.a.example.com` → itself, `a.example.com`, `example.com`.
pub(crate) fn zone_candidates(name: &str) -> Vec<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    (0..labels.len().saturating_sub(1))
        .map(|start| labels[start..].join("."))
        .collect()
}

/// `fqdn` relative to `zone`; `@` for the apex.
pub(crate) fn relative_name(fqdn: &str, zone: &str) -> String {
    let fqdn = fqdn.trim_end_matches('.');
    match fqdn.strip_suffix(zone) {
        Some("") => "@".to_owned(),
        Some(rest) => rest.trim_end_matches('.').to_owned(),
        None => fqdn.to_owned(),
    }
}

/// The names a certificate's domains need challenges at, for preflight:
/// `*.` taken off (a wildcard's challenge is at its base name), lower case,
/// each once, in order.
pub(crate) fn challenge_bases(domains: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in domains {
        let base = d
            .trim_start_matches("*.")
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if !out.contains(&base) {
            out.push(base);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_the_suffixes_longest_first() {
        assert_eq!(
            zone_candidates("_acme-challenge.A.example.com."),
            [
                "_acme-challenge.a.example.com",
                "a.example.com",
                "example.com"
            ]
        );
        assert!(zone_candidates("com").is_empty());
    }

    #[test]
    fn wildcards_share_their_base_for_preflight() {
        let d = [
            "Example.com".to_owned(),
            "*.example.com".to_owned(),
            "www.example.com".to_owned(),
        ];
        assert_eq!(challenge_bases(&d), ["example.com", "www.example.com"]);
    }

    #[test]
    fn relative_names() {
        assert_eq!(
            relative_name("_acme-challenge.example.com", "example.com"),
            "_acme-challenge"
        );
        assert_eq!(relative_name("example.com.", "example.com"), "@");
    }
}
