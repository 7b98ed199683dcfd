//! TLS listener settings: rustls with the SNI store, HTTP/2 by ALPN.
//!
//! Policy (SWAG's ssl.conf, Mozilla intermediate): TLS 1.2 and 1.3 only;
//! rustls' ring suites are exactly the AEAD ECDHE suites of that profile
//! (AES-GCM and ChaCha20-Poly1305; no CBC, no RSA key exchange, no DHE).
//! Stateless session tickets are off (rustls' default ticketer never issues
//! them), matching `ssl_session_tickets off`; stateful resumption from a
//! small in-memory cache stays on.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;

use super::certs::CertStore;

/// The SNI the client sent, kept in the session's TLS digest so routing can
/// see it (`RequestInfo::sni`).
#[derive(Debug, Clone)]
pub struct Sni(pub String);

struct SniCapture;

#[async_trait]
impl TlsAccept for SniCapture {
    async fn handshake_complete_callback(
        &self,
        tls: &TlsRef,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        tls.server_name()
            .map(|name| Arc::new(Sni(name.to_owned())) as Arc<dyn Any + Send + Sync>)
    }
}

/// Settings for one TLS listener reading `certs` on every handshake.
pub fn settings(certs: &CertStore) -> TlsSettings {
    let mut settings = TlsSettings::with_callbacks(Box::new(SniCapture))
        .expect("TlsSettings::with_callbacks never fails on the rustls backend");
    settings.set_cert_resolver(certs.resolver());
    settings.enable_h2();
    settings
}
