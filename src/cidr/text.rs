//! Addresses and counts written as text on the request path (`$remote_addr`,
//! the access log's address, status and byte count): straight digits into
//! the caller's buffer, where `Display` through `core::fmt` costs about a
//! thousand instructions an address (bench/RESULTS.md, 2026-12-07).

use std::fmt::Write as _;
use std::net::IpAddr;

/// Appends `ip` as `Display` writes it (IPv4 dotted quad; IPv6 through
/// `Display`, which is rare on the path and has compression rules).
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_u8(out, octet);
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// `ip` as text, from [`push_ip`].
pub fn ip_text(ip: IpAddr) -> String {
    let mut out = String::with_capacity(15);
    push_ip(&mut out, ip);
    out
}

/// Appends an octet in decimal, digit by digit.
fn push_u8(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

/// Appends `n` in decimal.
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same text as `Display`, for the edges of each octet and number.
    #[test]
    fn writes_what_display_writes() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "192.0.2.7",
            "10.100.9.1",
            "::1",
            "2001:db8::8:800:200c:417a",
            "::ffff:192.0.2.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
        for n in [0u64, 9, 10, 99, 100, 404, 65535, u64::MAX] {
            let mut out = String::from("x");
            push_u64(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }
}
