//! PROXY protocol (v1 and v2) on `listen ... proxy_protocol` sockets.
//!
//! As in nginx, a socket whose `listen` has `proxy_protocol` reads a header
//! at the start of every connection, before TLS on an `ssl` socket; a
//! connection without a valid header, or whose header does not arrive
//! within `client_header_timeout`, is closed before anything reaches a
//! server block. A socket without the flag never reads one (a PROXY line
//! there is a bad request, 400). The flag is read from the current route
//! table for each connection, so a reload that adds or removes it applies
//! to the next connection.
//!
//! On TLS sockets the header is read by Pingora's pre-TLS callback
//! ([`PreTls`]); on plain sockets by the connection's task, before the
//! first request (`header_deadline.rs`). Either way the addresses are filed
//! in a [`registry::Registry`] under the connection's 4-tuple, where the
//! request phases find them (`RequestInfo::proxy_protocol`).

mod parse;
mod registry;

use crate::conf::fx_hash::FxHashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{GetSocketDigest, SocketDigest};
use tokio::io::AsyncRead;

pub use parse::HeaderError;
pub use registry::ConnKey;

use super::engine::ListenerRole;
use super::routes::RouteSource;
use crate::bans::BanHandle;
use crate::conf::ProxyProtocolAddrs;

/// Decides which connections carry a PROXY header, reads it, and keeps
/// the addresses of live connections.
pub struct Gate {
    routes: Arc<dyn RouteSource>,
    /// Local port → listener, as the engine's table.
    roles: FxHashMap<u16, ListenerRole>,
    registry: registry::Registry,
    timeout: Duration,
    /// fail2ban: a banned peer's connection is closed here, at accept.
    bans: Option<BanHandle>,
}

impl Gate {
    /// A gate for these listeners; a header gets `timeout` to arrive.
    pub fn new(
        routes: Arc<dyn RouteSource>,
        roles: FxHashMap<u16, ListenerRole>,
        timeout: Duration,
        bans: Option<BanHandle>,
    ) -> Self {
        Self {
            routes,
            roles,
            registry: registry::Registry::default(),
            timeout,
            bans,
        }
    }

    /// Whether a new connection from `peer` is closed because the peer is
    /// banned (said at debug level: a banned scanner would flood the log).
    pub fn closes(&self, peer: SocketAddr) -> bool {
        let banned = self.bans.as_ref().is_some_and(|b| b.refuses(peer.ip()));
        if banned {
            tracing::debug!(%peer, "closed a connection from a banned address (fail2ban)");
        }
        banned
    }

    /// The listener a connection to `local` was accepted on.
    pub fn role(&self, local: SocketAddr) -> Option<ListenerRole> {
        self.roles.get(&local.port()).copied()
    }

    /// Whether connections to `local` must begin with a PROXY header.
    pub fn wanted(&self, local: SocketAddr) -> bool {
        self.role(local)
            .is_some_and(|r| self.routes.proxy_protocol(r.conf_port, local.is_ipv6()))
    }

    /// Read the header from the start of `stream`, within the timeout.
    pub async fn read<S: AsyncRead + Unpin + ?Sized>(
        &self,
        stream: &mut S,
    ) -> Result<Option<ProxyProtocolAddrs>, HeaderError> {
        tokio::time::timeout(self.timeout, parse::read_header(stream))
            .await
            .unwrap_or(Err(HeaderError::TimedOut))
    }

    /// The addresses announced on the connection `key`, if it had a header.
    pub fn addrs(&self, key: &ConnKey) -> Option<ProxyProtocolAddrs> {
        if !self.wanted(key.1) {
            return None;
        }
        self.registry.get(key)
    }

    /// File a header the connection's own task read.
    pub fn insert_claimed(&self, key: ConnKey, addrs: Option<ProxyProtocolAddrs>) {
        self.registry.insert_claimed(key, addrs);
    }

    /// Take over the entry the pre-TLS callback filed; `false` if none.
    pub fn claim(&self, key: &ConnKey) -> bool {
        self.registry.claim(key)
    }

    /// Forget a connection that ended.
    pub fn remove(&self, key: &ConnKey) {
        self.registry.remove(key);
    }
}

/// The 4-tuple of a TCP connection, from its socket digest.
pub fn conn_key(digest: Option<&SocketDigest>) -> Option<ConnKey> {
    let digest = digest?;
    let peer = *digest.peer_addr()?.as_inet()?;
    let local = *digest.local_addr()?.as_inet()?;
    Some((peer, local))
}

/// Pingora's pre-TLS hook: reads the header on TLS sockets that want one.
pub struct PreTls(pub Arc<Gate>);

#[async_trait]
impl PreTlsProcess for PreTls {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        let result = self.before_tls(stream).await;
        // Pingora creates the TLS session right after this returns, in the
        // same poll: no earlier handshake's ClientHello may be taken for it.
        crate::proxy::tls::forget_hello();
        result
    }
}

impl PreTls {
    async fn before_tls(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        let digest = stream.get_socket_digest();
        let Some(key) = conn_key(digest.as_deref()) else {
            return Ok(());
        };
        if self.0.closes(key.0) {
            return Err(pingora::Error::explain(
                pingora::ErrorType::Custom("banned"),
                "the peer is banned (fail2ban)",
            ));
        }
        if !self.0.wanted(key.1) {
            return Ok(());
        }
        match self.0.read(stream).await {
            Ok(addrs) => {
                self.0.registry.insert_pending(key, addrs);
                Ok(())
            }
            Err(e) => {
                tracing::info!(peer = %key.0, listener = %key.1, error = %e, "closed a connection on a proxy_protocol listener");
                Err(pingora::Error::explain(
                    pingora::ErrorType::Custom("PROXY protocol"),
                    e.to_string(),
                ))
            }
        }
    }
}
