//! Binding the listening sockets before Pingora starts.
//!
//! moat binds every socket itself and hands the descriptors to Pingora
//! (through the same table Pingora uses for zero-downtime upgrades), so that
//! a taken port is an error returned by [`super::spawn`] rather than a panic
//! inside a Pingora thread, `[::]` can be skipped on hosts without IPv6 (a
//! known SWAG complaint), ports can be ephemeral in tests, and no listen
//! address ever goes through getaddrinfo.

use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use super::error::ProxyError;

/// Pending-connection queue length, as nginx's default on Linux.
const BACKLOG: i32 = 511;

/// One socket to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenSpec {
    /// Address to bind.
    pub addr: SocketAddr,
    /// The port the confs know this listener by.
    pub conf_port: u16,
    /// Terminate TLS on it.
    pub tls: bool,
}

/// A bound, listening socket and what it is for.
#[derive(Debug)]
pub struct BoundListener {
    /// The address actually bound (the real port when 0 was asked).
    pub addr: SocketAddr,
    /// The port the confs know this listener by.
    pub conf_port: u16,
    /// TLS is terminated on it.
    pub tls: bool,
    /// The socket.
    pub socket: std::net::TcpListener,
}

/// Bind `spec`. An IPv6 wildcard on a host without IPv6 gives `Ok(None)`
/// with a warning; every other failure is an error naming the address.
pub fn bind(spec: ListenSpec) -> Result<Option<BoundListener>, ProxyError> {
    match bind_socket(spec.addr) {
        Ok(socket) => {
            let addr = socket.local_addr().map_err(|source| ProxyError::Bind {
                addr: spec.addr,
                source,
            })?;
            Ok(Some(BoundListener {
                addr,
                conf_port: spec.conf_port,
                tls: spec.tls,
                socket,
            }))
        }
        Err(e) if spec.addr.is_ipv6() && ipv6_unavailable(&e) => {
            tracing::warn!(addr = %spec.addr, error = %e, "IPv6 is not available on this host; listening on IPv4 only");
            Ok(None)
        }
        Err(source) => Err(ProxyError::Bind {
            addr: spec.addr,
            source,
        }),
    }
}

fn bind_socket(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // `[::]` must not also claim the IPv4 port moat binds separately.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

fn ipv6_unavailable(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
    )
}

/// The specs for one logical port on each of `addresses`, sharing the port
/// that the first bind picked when `port` is 0.
pub fn bind_all(
    addresses: &[IpAddr],
    port: u16,
    conf_port: u16,
    tls: bool,
) -> Result<Vec<BoundListener>, ProxyError> {
    let mut out: Vec<BoundListener> = Vec::new();
    let mut port = port;
    for ip in addresses {
        let spec = ListenSpec {
            addr: SocketAddr::new(*ip, port),
            conf_port,
            tls,
        };
        if let Some(bound) = bind(spec)? {
            port = bound.addr.port();
            out.push(bound);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn ephemeral_port_is_shared_across_addresses_and_reported() {
        let bound = bind_all(
            &[
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            ],
            0,
            443,
            true,
        )
        .expect("loopback binds");
        assert_eq!(bound.len(), 2);
        assert_ne!(bound[0].addr.port(), 0);
        assert_eq!(bound[0].addr.port(), bound[1].addr.port());
        assert!(bound.iter().all(|b| b.conf_port == 443 && b.tls));
    }

    #[test]
    fn taken_port_names_the_address() {
        let first = bind_all(&[IpAddr::V4(Ipv4Addr::LOCALHOST)], 0, 80, false).unwrap();
        let port = first[0].addr.port();
        // A listening socket with SO_REUSEADDR still excludes a second listener.
        let err = bind_all(&[IpAddr::V4(Ipv4Addr::LOCALHOST)], port, 80, false).unwrap_err();
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }
}
