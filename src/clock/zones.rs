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

    #[test]
    fn every_rule_parses_and_matches_the_system_tzdata_when_present() {
        let mut compared = 0;
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
            assert_eq!(
                footer, rule,
                "{name}: zones.tsv is older than this machine's tzdata"
            );
            compared += 1;
        }
        eprintln!("zones.tsv: {compared} zones compared with /usr/share/zoneinfo");
        assert_eq!(rule_of("Europe/Paris"), Some("CET-1CEST,M3.5.0,M10.5.0/3"));
    }
}
