//! Reading one PROXY protocol header (HAProxy's spec, v1 text and v2
//! binary) from the start of a stream.
//!
//! Reads are exact: not one byte past the header is consumed, so what
//! follows (a TLS ClientHello, an HTTP request) is read by the next layer
//! from the same buffered stream.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::conf::ProxyProtocolAddrs;

/// The v2 signature.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 line, CRLF included (the spec's 107 bytes).
const V1_MAX: usize = 107;
/// The longest v2 address-and-TLV block accepted; real senders (HAProxy,
/// AWS NLB, Cloudflare Spectrum) send far less.
const V2_MAX: usize = 4096;

/// Why a connection's PROXY protocol header was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// The stream failed or closed before the header was complete.
    #[error("PROXY protocol header not received: {0}")]
    Io(#[from] std::io::Error),
    /// The stream does not begin with a PROXY protocol header.
    #[error("the connection did not begin with a PROXY protocol header")]
    Missing,
    /// A header that does not follow the spec.
    #[error("broken PROXY protocol header: {0}")]
    Malformed(&'static str),
    /// No complete header within the client header timeout.
    #[error("PROXY protocol header not received within client_header_timeout")]
    TimedOut,
}

/// Read the header at the start of `stream`: the addresses it announces,
/// or `None` for a header without any (v2 `LOCAL`, v1 `UNKNOWN`, v2 UNIX or
/// unspecified families).
pub async fn read_header<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
) -> Result<Option<ProxyProtocolAddrs>, HeaderError> {
    let mut start = [0u8; 12];
    stream.read_exact(&mut start).await?;
    if start == V2_SIGNATURE {
        let mut fixed = [0u8; 4];
        stream.read_exact(&mut fixed).await?;
        let len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        if len > V2_MAX {
            return Err(HeaderError::Malformed("v2 header too long"));
        }
        let mut rest = vec![0u8; len];
        stream.read_exact(&mut rest).await?;
        return parse_v2(fixed[0], fixed[1], &rest);
    }
    if !start.starts_with(b"PROXY ") {
        return Err(HeaderError::Missing);
    }
    let mut line = Vec::with_capacity(V1_MAX);
    line.extend_from_slice(&start);
    while !line.ends_with(b"\r\n") {
        if line.len() >= V1_MAX {
            return Err(HeaderError::Malformed("v1 line longer than 107 bytes"));
        }
        line.push(stream.read_u8().await?);
    }
    parse_v1(&line[..line.len() - 2])
}

/// A v1 line without its CRLF: `PROXY TCP4 src dst sport dport`.
pub fn parse_v1(line: &[u8]) -> Result<Option<ProxyProtocolAddrs>, HeaderError> {
    let bad = HeaderError::Malformed;
    let text = std::str::from_utf8(line).map_err(|_| bad("v1 line is not text"))?;
    let mut fields = text.split(' ');
    if fields.next() != Some("PROXY") {
        return Err(HeaderError::Missing);
    }
    let family = fields.next().ok_or(bad("v1 line without protocol"))?;
    let v6 = match family {
        "UNKNOWN" => return Ok(None),
        "TCP4" => false,
        "TCP6" => true,
        _ => return Err(bad("v1 protocol is not TCP4, TCP6 or UNKNOWN")),
    };
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(bad("v1 line does not have four address fields"));
    };
    let ip = |s: &str| -> Result<IpAddr, HeaderError> {
        if v6 {
            s.parse::<Ipv6Addr>().map(IpAddr::V6)
        } else {
            s.parse::<Ipv4Addr>().map(IpAddr::V4)
        }
        .map_err(|_| bad("v1 address does not match its protocol"))
    };
    let port = |s: &str| -> Result<u16, HeaderError> {
        // The spec: decimal, no leading zeros (nginx accepts them; so do we
        // as long as the value fits).
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("v1 port is not a number"));
        }
        s.parse().map_err(|_| bad("v1 port out of range"))
    };
    Ok(Some(ProxyProtocolAddrs {
        source: SocketAddr::new(ip(src)?, port(sport)?),
        destination: SocketAddr::new(ip(dst)?, port(dport)?),
    }))
}

/// A v2 header after its signature: version/command, family/transport and
/// the `len` bytes of addresses and TLVs (TLVs are skipped).
pub fn parse_v2(
    ver_cmd: u8,
    family: u8,
    rest: &[u8],
) -> Result<Option<ProxyProtocolAddrs>, HeaderError> {
    let bad = HeaderError::Malformed;
    if ver_cmd >> 4 != 2 {
        return Err(bad("v2 version is not 2"));
    }
    match ver_cmd & 0x0f {
        // LOCAL: the proxy's own connection (a health check); no addresses.
        0 => return Ok(None),
        1 => {}
        _ => return Err(bad("v2 command is neither LOCAL nor PROXY")),
    }
    let stream = family & 0x0f == 1;
    match family >> 4 {
        1 if stream => {
            let a = rest.get(..12).ok_or(bad("v2 IPv4 block too short"))?;
            let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]));
            let port = |o: usize| u16::from_be_bytes([a[o], a[o + 1]]);
            Ok(Some(ProxyProtocolAddrs {
                source: SocketAddr::new(ip(0), port(8)),
                destination: SocketAddr::new(ip(4), port(10)),
            }))
        }
        2 if stream => {
            let a = rest.get(..36).ok_or(bad("v2 IPv6 block too short"))?;
            let ip = |o: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&a[o..o + 16]);
                IpAddr::V6(Ipv6Addr::from(b))
            };
            let port = |o: usize| u16::from_be_bytes([a[o], a[o + 1]]);
            Ok(Some(ProxyProtocolAddrs {
                source: SocketAddr::new(ip(0), port(32)),
                destination: SocketAddr::new(ip(16), port(34)),
            }))
        }
        // UNSPEC, UNIX, or a datagram transport: accepted without addresses
        // (the spec's advice, and nginx's).
        0..=3 => Ok(None),
        _ => Err(bad("v2 address family unknown")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> (Result<Option<ProxyProtocolAddrs>, HeaderError>, Vec<u8>) {
        let mut s = bytes;
        let r = read_header(&mut s).await;
        (r, s.to_vec())
    }

    fn addrs(src: &str, dst: &str) -> Option<ProxyProtocolAddrs> {
        Some(ProxyProtocolAddrs {
            source: src.parse().unwrap(),
            destination: dst.parse().unwrap(),
        })
    }

    #[tokio::test]
    async fn v1_tcp4_and_tcp6_leave_the_request_unread() {
        let (r, rest) = read(b"PROXY TCP4 198.51.100.7 10.0.0.1 40000 443\r\nGET /").await;
        assert_eq!(r.unwrap(), addrs("198.51.100.7:40000", "10.0.0.1:443"));
        assert_eq!(rest, b"GET /");
        let (r, _) = read(b"PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\n").await;
        assert_eq!(r.unwrap(), addrs("[2001:db8::7]:1", "[2001:db8::1]:65535"));
        let (r, rest) = read(b"PROXY UNKNOWN whatever\r\nX").await;
        assert_eq!(r.unwrap(), None);
        assert_eq!(rest, b"X");
    }

    #[tokio::test]
    async fn v1_garbage_is_refused() {
        for bad in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"PROXY TCP4 198.51.100.7 10.0.0.1 40000\r\n",
            b"PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 198.51.100.7 10.0.0.1 1 70000\r\n",
            b"PROXY UDP4 198.51.100.7 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 1.1.1.1 1.1.1.1 1 2",
        ] {
            assert!(
                read(bad).await.0.is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = [b"PROXY UNKNOWN ".as_slice(), &[b'a'; 200]].concat();
        assert!(matches!(
            read(&long).await.0,
            Err(HeaderError::Malformed(_))
        ));
    }

    fn v2(cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut v = V2_SIGNATURE.to_vec();
        v.push(0x20 | cmd);
        v.push(fam);
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[tokio::test]
    async fn v2_addresses_local_and_tlvs() {
        let mut body = vec![198, 51, 100, 7, 10, 0, 0, 1];
        body.extend_from_slice(&40000u16.to_be_bytes());
        body.extend_from_slice(&443u16.to_be_bytes());
        body.extend_from_slice(&[0x04, 0x00, 0x02, b'h', b'i']); // a TLV, skipped
        let mut bytes = v2(1, 0x11, &body);
        bytes.extend_from_slice(b"\x16\x03\x01");
        let (r, rest) = read(&bytes).await;
        assert_eq!(r.unwrap(), addrs("198.51.100.7:40000", "10.0.0.1:443"));
        assert_eq!(rest, b"\x16\x03\x01");

        let mut body6 = Vec::new();
        body6.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        body6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        body6.extend_from_slice(&[0, 80, 1, 187]);
        let (r, _) = read(&v2(1, 0x21, &body6)).await;
        assert_eq!(r.unwrap(), addrs("[2001:db8::7]:80", "[2001:db8::1]:443"));

        let (r, rest) = read(&[v2(0, 0x00, &[]), b"GET".to_vec()].concat()).await;
        assert_eq!(r.unwrap(), None);
        assert_eq!(rest, b"GET");
    }

    #[tokio::test]
    async fn v2_broken_headers_are_refused() {
        let mut wrong_version = v2(1, 0x11, &[0; 12]);
        wrong_version[12] = 0x11;
        assert!(read(&wrong_version).await.0.is_err());
        assert!(read(&v2(1, 0x11, &[0; 11])).await.0.is_err());
        assert!(read(&v2(1, 0x21, &[0; 12])).await.0.is_err());
        assert!(read(&v2(2, 0x11, &[0; 12])).await.0.is_err());
        // Truncated: the announced length never arrives.
        let cut = v2(1, 0x11, &[0; 12]);
        assert!(matches!(read(&cut[..20]).await.0, Err(HeaderError::Io(_))));
    }
}
