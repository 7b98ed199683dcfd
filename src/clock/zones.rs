//! Every IANA zone's current rule, as data: `zones.tsv` holds one line per
//! zone, its name and the POSIX TZ string that ends its TZif file (what
//! the zone follows after its last listed transition, i.e. now). Made from
//! Debian's tzdata; `tests` checks it against `/usr/share/zoneinfo` when the
//! machine has one, so a newer tzdata shows which lines to refresh.

const TABLE: &str = include_str!("zones.tsv");

/// The POSIX rule of IANA zone `name`, when the table has it.
pub fn rule_of(name: &str) -> Option<&'static str> {
    TABLE.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.split_once('\t')
            .filter(|(n, _)| *n == name)
            .map(|(_, r)| r)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tzdata release a `# version X` or `tzdata X` comment names.
    fn version_in(text: &str, marker: &str) -> Option<String> {
        text.lines()
            .filter(|l| l.starts_with('#'))
            .find_map(|l| l.split_once(marker))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .map(|v| {
                v.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                    .to_owned()
            })
    }

    /// Every rule parses; where the machine has tzdata, each zone's TZif
    /// footer is compared with the table. When the machine's tzdata is the
    /// release the table was made from, any difference fails (the table was
    /// made wrong); when it is another release (a fresh machine with a newer
    /// tzdata), the zones that changed are printed for a refresh, since an
    /// older snapshot is not a fault of the machine running the tests.
    #[test]
    fn every_rule_parses_and_matches_the_system_tzdata_when_present() {
        let ours = version_in(TABLE, "tzdata ").expect("zones.tsv names its tzdata release");
        let system = std::fs::read_to_string("/usr/share/zoneinfo/tzdata.zi")
            .ok()
            .and_then(|zi| version_in(&zi, "version "));
        let (mut compared, mut changed) = (0, Vec::new());
        for line in TABLE.lines().filter(|l| !l.starts_with('#')) {
            let (name, rule) = line.split_once('\t').expect("name<TAB>rule");
            assert!(
                super::super::posix::Rule::parse(rule).is_some(),
                "{name}: {rule}"
            );
            let Ok(tzif) = std::fs::read(format!("/usr/share/zoneinfo/{name}")) else {
                continue;
            };
            let text = String::from_utf8_lossy(&tzif);
            let footer = text
                .trim_end_matches('\n')
                .rsplit('\n')
                .next()
                .unwrap_or("");
            if footer != rule {
                changed.push(format!("{name}: table {rule:?}, system {footer:?}"));
            }
            compared += 1;
        }
        eprintln!(
            "zones.tsv (tzdata {ours}): {compared} zones compared with /usr/share/zoneinfo (tzdata {})",
            system.as_deref().unwrap_or("unknown")
        );
        if system.as_deref() == Some(ours.as_str()) {
            assert!(
                changed.is_empty(),
                "zones.tsv differs from the same tzdata release: {changed:#?}"
            );
        } else if !changed.is_empty() {
            eprintln!(
                "*** zones.tsv is from tzdata {ours}; this machine's tzdata changed {} zones (refresh the table): {changed:#?}",
                changed.len()
            );
        }
        assert_eq!(rule_of("Europe/Paris"), Some("CET-1CEST,M3.5.0,M10.5.0/3"));
    }
}
