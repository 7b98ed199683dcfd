//! nginx's realip module: when the connection comes from a trusted proxy
//! (`set_real_ip_from`), the client address is taken from `real_ip_header`
//! (`X-Real-IP` by default, `X-Forwarded-For`, `CF-Connecting-IP`, any
//! header, or `proxy_protocol`: the source of the connection's PROXY
//! protocol header), and `$remote_addr`, `allow`/`deny`, `$proxy_add_x_forwarded_for`,
//! logs and limits see that address; `$realip_remote_addr` keeps the
//! connection's.
//!
//! As in nginx it runs twice: first with the server level's settings
//! (nginx's post-read phase, before the server's rewrite scripts), and if
//! that did not change the address, again with the chosen location's
//! (nginx's pre-access phase, before `allow`/`deny`). The address is the
//! rightmost in the header value; with `real_ip_recursive on`, trusted
//! addresses are skipped from the right and the first untrusted one (or the
//! leftmost) is used. A value that is not an address leaves the address
//! unchanged (nginx: `NGX_DECLINED`), or keeps the last good one found while
//! walking left.

use std::net::IpAddr;

use crate::conf::compile::level::Level;
use crate::conf::compile::values::Network;
use crate::conf::decision::ProxyProtocolAddrs;

/// The client address and port `level`'s realip settings give for a
/// connection from `conn` with these request headers and this PROXY protocol
/// header (port 0 when the header gave none), or `None` when they change
/// nothing.
pub(crate) fn client_addr(
    level: &Level,
    conn: IpAddr,
    headers: &[(String, String)],
    proxy_protocol: Option<&ProxyProtocolAddrs>,
) -> Option<(IpAddr, u16)> {
    let trusted = &level.realip_from;
    if trusted.is_empty() {
        return None;
    }
    let name = level.realip_header.as_ref();
    if name.eq_ignore_ascii_case("proxy_protocol") {
        // nginx: the PROXY source, when the connection is from a trusted
        // address and began with a header that had one; no recursion.
        return proxy_protocol
            .filter(|_| is_trusted(conn, trusted))
            .map(|p| (p.source.ip().to_canonical(), p.source.port()));
    }
    // nginx reads one X-Real-IP (the first) or every X-Forwarded-For line.
    let value = if name.eq_ignore_ascii_case("x-forwarded-for") {
        let all: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        if all.is_empty() {
            return None;
        }
        all.join(", ")
    } else {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())?
    };
    forwarded(conn, &value, trusted, level.realip_recursive)
}

fn is_trusted(ip: IpAddr, trusted: &[Network]) -> bool {
    trusted.iter().any(|n| n.contains(ip))
}

/// nginx's `ngx_http_get_forwarded_addr_internal`.
fn forwarded(
    conn: IpAddr,
    value: &str,
    trusted: &[Network],
    recursive: bool,
) -> Option<(IpAddr, u16)> {
    let mut addr = conn;
    let mut found = None;
    let mut rest = value;
    loop {
        if !is_trusted(addr, trusted) {
            return found;
        }
        let trimmed = rest.trim_end_matches([' ', ',']);
        let start = trimmed.rfind([' ', ',']).map_or(0, |i| i + 1);
        let Some((ip, port)) = parse_addr(&trimmed[start..]) else {
            return found;
        };
        addr = ip;
        found = Some((ip, port));
        if !recursive || start == 0 {
            return found;
        }
        rest = &trimmed[..start - 1];
    }
}

/// nginx's `ngx_parse_addr_port`: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]:80`;
/// the port is 0 when none is written.
fn parse_addr(s: &str) -> Option<(IpAddr, u16)> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip.to_canonical(), 0));
    }
    if let Some(inner) = s.strip_prefix('[') {
        let (host, port) = inner.split_once(']')?;
        let port = match port.strip_prefix(':') {
            None if port.is_empty() => 0,
            Some(p) => valid_port(p)?,
            None => return None,
        };
        return host
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|v6| (IpAddr::V6(v6).to_canonical(), port));
    }
    let (host, port) = s.rsplit_once(':')?;
    let port = valid_port(port)?;
    host.parse::<std::net::Ipv4Addr>()
        .ok()
        .map(|v4| (IpAddr::V4(v4), port))
}

fn valid_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Network> {
        list.iter().map(|s| Network::parse(s).unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rightmost_address_unless_recursive() {
        let t = nets(&["10.0.0.0/8"]);
        let v = "1.1.1.1, 10.0.0.2, 10.0.0.3";
        assert_eq!(
            forwarded(ip("10.0.0.1"), v, &t, false),
            Some((ip("10.0.0.3"), 0))
        );
        assert_eq!(
            forwarded(ip("10.0.0.1"), v, &t, true),
            Some((ip("1.1.1.1"), 0))
        );
        // Every hop trusted: the leftmost.
        assert_eq!(
            forwarded(ip("10.0.0.1"), "10.0.0.9,10.0.0.8", &t, true),
            Some((ip("10.0.0.9"), 0))
        );
        // An untrusted connection changes nothing.
        assert_eq!(forwarded(ip("8.8.8.8"), v, &t, true), None);
        // Garbage on the right: nothing; garbage further left: the last good one.
        assert_eq!(forwarded(ip("10.0.0.1"), "1.1.1.1, junk", &t, true), None);
        assert_eq!(
            forwarded(ip("10.0.0.1"), "junk, 10.0.0.5", &t, true),
            Some((ip("10.0.0.5"), 0))
        );
    }

    #[test]
    fn addresses_with_ports_and_brackets() {
        assert_eq!(parse_addr("1.2.3.4:8080"), Some((ip("1.2.3.4"), 8080)));
        assert_eq!(
            parse_addr("[2001:db8::1]:443"),
            Some((ip("2001:db8::1"), 443))
        );
        assert_eq!(parse_addr("2001:db8::1"), Some((ip("2001:db8::1"), 0)));
        assert_eq!(parse_addr("::ffff:1.2.3.4"), Some((ip("1.2.3.4"), 0)));
        assert_eq!(parse_addr("1.2.3.4:"), None);
        assert_eq!(parse_addr("example.com"), None);
        assert_eq!(parse_addr(""), None);
    }
}
