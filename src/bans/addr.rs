//! The machine's own addresses, for fail2ban's `ignoreself` (`ignoreip`'s
//! blocks are [`Cidr`]s, the type the confs' allow/deny use too).

use std::net::IpAddr;

use crate::cidr::Cidr;

/// fail2ban's `ignoreself`: the host's own addresses (loopback's
/// 127.0.0.1 and ::1, and every interface address), never the rest of
/// 127.0.0.0/8 (tests use 127.0.0.x as other clients).
pub fn own_addresses() -> Vec<Cidr> {
    let mut out = vec![
        Cidr::host(IpAddr::from([127, 0, 0, 1])),
        Cidr::host(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
    ];
    // The kernel's own lists (no unsafe getifaddrs): IPv4 addresses that
    // the local routing table marks `/32 host LOCAL`, and every IPv6
    // interface address.
    if let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") {
        let mut last: Option<IpAddr> = None;
        for line in trie.lines() {
            let t = line.trim();
            if let Some(a) = t.strip_prefix("|-- ").or_else(|| t.strip_prefix("+-- ")) {
                last = a.split('/').next().and_then(|a| a.parse().ok());
            } else if t.contains("host LOCAL") {
                if let Some(ip) = last {
                    out.push(Cidr::host(ip));
                }
            }
        }
    }
    if let Ok(v6) = std::fs::read_to_string("/proc/net/if_inet6") {
        for hex in v6.lines().filter_map(|l| l.split_whitespace().next()) {
            if let Ok(n) = u128::from_str_radix(hex, 16) {
                out.push(Cidr::host(IpAddr::from(std::net::Ipv6Addr::from(n))));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn own_addresses_are_loopback_and_interfaces_only() {
        let own = own_addresses();
        assert!(own.iter().any(|c| c.contains(ip("127.0.0.1"))));
        assert!(!own.iter().any(|c| c.contains(ip("127.0.0.9"))));
    }
}
