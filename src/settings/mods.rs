//! `DOCKER_MODS`: linuxserver images download and run "mods" at start; moat
//! is one static binary and runs none. A SWAG user's compose file often
//! lists some, so moat says once, per mod, what it does instead rather than
//! ignoring the variable.

/// What moat offers in place of each common SWAG mod (matched on the mod's
/// name after `linuxserver/mods:`, with or without the `swag-` prefix).
const REPLACEMENTS: &[(&str, &str)] = &[
    (
        "auto-reload",
        "built in: confs are reloaded on every change",
    ),
    (
        "auto-proxy",
        "built in: Docker discovery publishes containers labelled swag=enable with the same labels; mount /var/run/docker.sock read-only or set DOCKER_HOST",
    ),
    (
        "dashboard",
        "built in: the status page on METRICS_ADDR (`/`, and `/api/status` as JSON): routes, certificates with an expiry time-line, renewals, bans",
    ),
    (
        "maxmind",
        "not available: no GeoIP database is fetched; a conf with geoip2 does not load and geoip_* answer 503",
    ),
    (
        "crowdsec",
        "not available: run CrowdSec's own bouncer in front of moat",
    ),
    (
        "cloudflare-real-ip",
        "not built in (Cloudflare's ranges are not fetched), but realip is supported: list the ranges with set_real_ip_from and real_ip_header CF-Connecting-IP in a conf",
    ),
    (
        "f2bdiscord",
        "not available: moat's in-process jails log each ban (and count them in /metrics) but send no notifications",
    ),
];

/// The warning for a `DOCKER_MODS` value, or `None` when it is unset/empty.
pub(super) fn note(value: Option<&str>) -> Option<String> {
    let value = value.unwrap_or("").trim().trim_matches('"');
    if value.is_empty() {
        return None;
    }
    let per_mod: Vec<String> = value
        .split('|')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| {
            let name = m.rsplit(':').next().unwrap_or(m);
            let short = name.strip_prefix("swag-").unwrap_or(name);
            let what = REPLACEMENTS
                .iter()
                .find(|(k, _)| *k == short)
                .map(|(_, v)| *v)
                .unwrap_or("not available: moat runs no mods");
            format!("{m}: {what}")
        })
        .collect();
    Some(format!(
        "DOCKER_MODS is ignored: moat is one binary and runs no mods; {}",
        per_mod.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::note;

    #[test]
    fn each_mod_is_named_with_its_replacement() {
        let n = note(Some(
            "linuxserver/mods:swag-auto-reload|linuxserver/mods:swag-dashboard|ghcr.io/x/y:z",
        ))
        .unwrap();
        assert_eq!(
            n,
            "DOCKER_MODS is ignored: moat is one binary and runs no mods; \
             linuxserver/mods:swag-auto-reload: built in: confs are reloaded on every change; \
             linuxserver/mods:swag-dashboard: built in: the status page on METRICS_ADDR \
             (`/`, and `/api/status` as JSON): routes, certificates with an expiry time-line, renewals, bans; \
             ghcr.io/x/y:z: not available: moat runs no mods"
        );
        assert_eq!(note(Some("  ")), None);
        assert_eq!(note(None), None);
    }

    #[test]
    fn the_readme_table_says_what_the_warning_says() {
        let readme = include_str!("../../README.md");
        for (name, what) in super::REPLACEMENTS {
            let row = format!("| `swag-{name}` | {what} |");
            assert!(readme.contains(&row), "README.md lacks the row\n{row}");
        }
    }
}
