//! Typed directive values: nginx's time and size syntax, `listen`
//! addresses, and `allow`/`deny` networks. Each parser returns a message
//! that the caller turns into a positioned [`super::super::ConfError`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::conf::decision::Listen;

/// nginx time: `240` (seconds), `500ms`, `30s`, `1m`, `1h30m`, `1d`, ...
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid time \"{s}\", expected e.g. 60, 500ms, 30s, 5m, 1h, 1d");
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total_ms: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.chars().next() {
                Some('s') => (1000, 1),
                Some('m') => (60_000, 1),
                Some('h') => (3_600_000, 1),
                Some('d') => (86_400_000, 1),
                Some('w') => (604_800_000, 1),
                Some('M') => (2_592_000_000, 1),
                Some('y') => (31_536_000_000, 1),
                None => (1000, 0),
                _ => return Err(bad()),
            }
        };
        rest = &rest[len..];
        total_ms = n
            .checked_mul(unit_ms)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// nginx size: `0`, `512`, `8k`, `10m`, `1g` (case-insensitive units).
pub(crate) fn size(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid size \"{s}\", expected e.g. 0, 512, 8k, 10m, 1g");
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024),
        Some('m' | 'M') => (&s[..s.len() - 1], 1024 * 1024),
        Some('g' | 'G') => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(bad)
}

/// `on`/`off`.
pub(crate) fn flag(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("invalid value \"{s}\", expected \"on\" or \"off\"")),
    }
}

/// An `allow`/`deny` or `set_real_ip_from` block: the address type the
/// jails' `ignoreip` shares.
pub(crate) type Network = crate::cidr::Cidr;

/// Parses an `allow`/`deny` subject: `all` (`None`), `1.2.3.4`,
/// `10.0.0.0/8`, `::1`, `fd00::/8`.
pub(crate) fn network(s: &str) -> Result<Option<Network>, String> {
    if s == "all" {
        return Ok(None);
    }
    Network::parse(s).map(Some).ok_or_else(|| {
        format!("invalid address \"{s}\", expected an IP, a CIDR network or \"all\"")
    })
}

/// One parsed `listen` directive.
#[derive(Debug, Clone)]
pub(crate) struct ListenSpec {
    /// The socket.
    pub listen: Listen,
    /// `default_server` (or the old `default`).
    pub default_server: bool,
}

/// Parses `listen` arguments: `443 ssl`, `[::]:443 ssl default_server`,
/// `127.0.0.1:8080`, `*:80`; `http2`, `quic`, `reuseport` and the socket
/// options are accepted. `Ok(None)` for a `quic` (UDP) listener, which moat
/// does not serve.
pub(crate) fn listen(args: &[&str]) -> Result<Option<ListenSpec>, String> {
    let first = args.first().ok_or("\"listen\" needs an address or port")?;
    let bad =
        || format!("invalid listen address \"{first}\", expected a port, ADDR:PORT or [IPv6]:PORT");
    let (addr, port, ipv6) = if let Some(rest) = first.strip_prefix('[') {
        let (ip, tail) = rest.split_once(']').ok_or_else(bad)?;
        let ip: Ipv6Addr = ip.parse().map_err(|_| bad())?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse::<u16>().map_err(|_| bad())?,
            None if tail.is_empty() => 80,
            None => return Err(bad()),
        };
        let addr = (!ip.is_unspecified()).then_some(IpAddr::V6(ip));
        (addr, port, true)
    } else if let Ok(port) = first.parse::<u16>() {
        (None, port, false)
    } else if first.starts_with("unix:") {
        return Err(format!("listen {first}: unix sockets are not supported"));
    } else {
        let (host, port) = match first.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
            None => (*first, 80),
        };
        let addr = if host == "*" {
            None
        } else {
            let ip: Ipv4Addr = host.parse().map_err(|_| bad())?;
            (!ip.is_unspecified()).then_some(IpAddr::V4(ip))
        };
        (addr, port, false)
    };
    let mut ssl = false;
    let mut proxy_protocol = false;
    let mut default_server = false;
    for opt in &args[1..] {
        match *opt {
            "ssl" => ssl = true,
            "proxy_protocol" => proxy_protocol = true,
            "default_server" | "default" => default_server = true,
            "quic" => return Ok(None),
            "http2" | "http3" | "spdy" | "reuseport" | "deferred" | "bind" => {}
            o if o.starts_with("backlog=")
                || o.starts_with("rcvbuf=")
                || o.starts_with("sndbuf=")
                || o.starts_with("ipv6only=")
                || o.starts_with("so_keepalive=")
                || o.starts_with("fastopen=")
                || o.starts_with("accept_filter=")
                || o.starts_with("setfib=") => {}
            o => return Err(format!("invalid listen parameter \"{o}\"")),
        }
    }
    Ok(Some(ListenSpec {
        listen: Listen {
            addr,
            port,
            ipv6,
            ssl,
            proxy_protocol,
        },
        default_server,
    }))
}
