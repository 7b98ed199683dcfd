//! What `$upstream_app` is for a container without `swag_address`, and
//! whether moat can reach it at all: its name, which Docker's DNS
//! (127.0.0.11) resolves on a user-defined network moat shares with it, or
//! its address on a shared network without names (Docker's default
//! `bridge`). A container on no network moat is on is not published:
//! Docker isolates networks from each other, so nothing would answer.

use super::labels::ContainerFacts;

/// Networks whose members get no DNS name from Docker.
const NO_NAMES: &[&str] = &["bridge", "host", "none"];

/// The upstream host for `facts`, `None` when moat shares no network with
/// it; `own` is the networks moat's own container is on (`None` when moat
/// is not in a container or cannot see itself: then every network is taken
/// as reachable, as swag-auto-proxy assumes).
pub fn upstream_address(facts: &ContainerFacts, own: Option<&[String]>) -> Option<String> {
    let shared: Vec<&(String, Option<std::net::IpAddr>)> = facts
        .networks
        .iter()
        .filter(|(net, _)| own.is_none_or(|own| own.iter().any(|o| o == net)))
        .collect();
    if shared
        .iter()
        .any(|(net, _)| !NO_NAMES.contains(&net.as_str()))
    {
        return Some(facts.name.clone());
    }
    match shared.iter().find_map(|(_, ip)| *ip) {
        Some(ip) => Some(ip.to_string()),
        None if own.is_none() => Some(facts.name.clone()),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(nets: &[(&str, Option<&str>)]) -> ContainerFacts {
        ContainerFacts {
            name: "app".into(),
            networks: nets
                .iter()
                .map(|(n, ip)| (n.to_string(), ip.map(|i| i.parse().unwrap())))
                .collect(),
            ..ContainerFacts::default()
        }
    }

    #[test]
    fn name_on_a_shared_user_network_address_on_a_shared_bridge_else_nothing() {
        let own = vec!["web".to_string(), "bridge".to_string()];
        let f = facts(&[("web", Some("172.20.0.5"))]);
        assert_eq!(upstream_address(&f, Some(&own)).as_deref(), Some("app"));
        let f = facts(&[("bridge", Some("172.17.0.3"))]);
        assert_eq!(
            upstream_address(&f, Some(&own)).as_deref(),
            Some("172.17.0.3")
        );
        let f = facts(&[
            ("other", Some("172.30.0.2")),
            ("bridge", Some("172.17.0.3")),
        ]);
        assert_eq!(
            upstream_address(&f, Some(&own)).as_deref(),
            Some("172.17.0.3")
        );
        let f = facts(&[("other", Some("172.30.0.2"))]);
        assert_eq!(upstream_address(&f, Some(&own)), None);
        assert_eq!(upstream_address(&f, None).as_deref(), Some("app"));
        assert_eq!(upstream_address(&facts(&[]), None).as_deref(), Some("app"));
        assert_eq!(upstream_address(&facts(&[]), Some(&own)), None);
    }
}
