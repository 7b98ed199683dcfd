//! The certificate names the generated confs serve (AUTO_PROXY_CERTS):
//! `server_name radarr.*` means `radarr.<URL>`, as SWAG's samples assume;
//! a full name counts when it is under URL (the zone the certificate's
//! validation is set up for); regexes and other wildcards never do.

use super::reconcile::is_generated;
use crate::conf::RouteTable;

/// The names of every server block discovery generated, under `apex`,
/// sorted and without repeats.
pub fn published_names(table: &RouteTable, apex: &str) -> Vec<String> {
    let apex = apex.trim_end_matches('.').to_ascii_lowercase();
    let mut out: Vec<String> = table
        .describe()
        .into_iter()
        .filter(|s| is_generated(&s.file))
        .flat_map(|s| s.names)
        .filter_map(|name| certificate_name(&name, &apex))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn certificate_name(server_name: &str, apex: &str) -> Option<String> {
    let name = server_name.to_ascii_lowercase();
    let name = match name.strip_suffix(".*") {
        Some(label) => format!("{label}.{apex}"),
        None => name,
    };
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !name.starts_with('.')
        && !name.contains("..");
    let under = name == apex || name.ends_with(&format!(".{apex}"));
    (plain && under).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::certificate_name;

    #[test]
    fn names_under_the_apex_only() {
        let apex = "example.com";
        assert_eq!(
            certificate_name("radarr.*", apex).as_deref(),
            Some("radarr.example.com")
        );
        assert_eq!(
            certificate_name("Films.Example.com", apex).as_deref(),
            Some("films.example.com")
        );
        assert_eq!(certificate_name("a.other.org", apex), None);
        assert_eq!(certificate_name("*.example.com", apex), None);
        assert_eq!(certificate_name("~^x$", apex), None);
        assert_eq!(certificate_name("notexample.com", apex), None);
    }
}
