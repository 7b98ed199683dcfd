//! Addresses in jail settings: `ignoreip`'s addresses and CIDRs, and the
//! machine's own addresses for `ignoreself`.

use std::net::IpAddr;

/// An address block (`10.0.0.0/8`, `::1`, `192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d`, `a.b.c.d/n`, `v6`, `v6/n`; `None` for anything
    /// else (host names, which moat does not resolve for ignoreip).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let net: IpAddr = addr.trim_matches(['[', ']']).parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { net, prefix })
    }

    /// A block holding exactly `ip`.
    pub fn host(ip: IpAddr) -> Cidr {
        Cidr {
            net: ip,
            prefix: if ip.is_ipv4() { 32 } else { 128 },
        }
    }

    /// Whether `ip` is inside (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), u32::from(a).into(), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), u128::from(a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(net: u128, addr: u128, prefix: u8, bits: u32) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = bits - u32::from(prefix);
    (net >> shift) == (addr >> shift)
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) as IPv4, so a ban on
/// one form holds for the other.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

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
    out.sort_by_key(|c| (c.net, c.prefix));
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
    fn blocks_contain_what_they_say() {
        let lan = Cidr::parse("192.168.0.0/16").unwrap();
        assert!(lan.contains(ip("192.168.44.1")));
        assert!(lan.contains(ip("::ffff:192.168.1.1")));
        assert!(!lan.contains(ip("192.169.0.1")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(!Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("2001:db8::9")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert_eq!(Cidr::parse("example.com"), None);
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
    }

    #[test]
    fn own_addresses_are_loopback_and_interfaces_only() {
        let own = own_addresses();
        assert!(own.iter().any(|c| c.contains(ip("127.0.0.1"))));
        assert!(!own.iter().any(|c| c.contains(ip("127.0.0.9"))));
    }
}
