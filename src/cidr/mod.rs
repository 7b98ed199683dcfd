//! [`Cidr`]: an address block, the one type behind nginx's `allow`/`deny`
//! and `set_real_ip_from` and fail2ban's `ignoreip`, so the confs and the
//! jails agree on what a block holds (IPv4-mapped IPv6 counts as IPv4 in
//! both).

use std::net::IpAddr;

mod text;
pub use text::{ip_text, push_ip, push_u64};

/// An address block (`10.0.0.0/8`, `::1`, `192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d`, `a.b.c.d/n`, `v6`, `v6/n`; `None` for anything
    /// else (a host name, a prefix longer than the address).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let net: IpAddr = addr.parse().ok()?;
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
        match (self.net, ip.to_canonical()) {
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
        assert!(!Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("2001:db9::9")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(!Cidr::parse("0.0.0.0/0").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("10.1.2.0/23")
            .unwrap()
            .contains(ip("10.1.3.255")));
        assert!(!Cidr::parse("10.1.2.0/23").unwrap().contains(ip("10.1.4.0")));
        assert_eq!(Cidr::parse("example.com"), None);
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("[::1]"), None);
    }
}
