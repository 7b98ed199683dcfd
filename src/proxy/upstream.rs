//! How a resolved target becomes a Pingora peer.

use std::net::SocketAddr;
use std::time::Duration;

use pingora::protocols::ALPN;
use pingora::upstreams::peer::HttpPeer;

use crate::conf::ProxyTarget;

/// How long an upstream connection may sit idle in the keep-alive pool.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// The Pingora peer for a resolved target: TLS without verification and
/// without SNI unless the conf asks (nginx's defaults), timeouts from the conf.
pub fn peer(addr: SocketAddr, target: &ProxyTarget, grpc: bool) -> HttpPeer {
    let tls = matches!(target.scheme.as_str(), "https" | "grpcs");
    // Pingora's rustls connector cannot handshake with an empty SNI (it
    // parses "" as a server name and fails). An IP literal is a valid
    // rustls `ServerName` for which no SNI extension is sent, which is
    // nginx's `proxy_ssl_server_name off`.
    let sni = if tls && target.options.ssl_server_name {
        target.host.clone()
    } else if tls {
        addr.ip().to_string()
    } else {
        String::new()
    };
    let mut peer = HttpPeer::new(addr, tls, sni);
    let o = &target.options;
    peer.options.connection_timeout = Some(o.connect_timeout);
    peer.options.read_timeout = Some(o.read_timeout);
    peer.options.write_timeout = Some(o.send_timeout);
    peer.options.idle_timeout = Some(POOL_IDLE);
    peer.options.verify_cert = o.ssl_verify;
    peer.options.verify_hostname = o.ssl_verify;
    if grpc {
        peer.options.set_http_version(2, 2);
        peer.options.alpn = ALPN::H2;
    } else {
        peer.options.set_http_version(1, 1);
    }
    peer
}
