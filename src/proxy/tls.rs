//! TLS listener settings: rustls with the SNI store, HTTP/2 by ALPN, and
//! client certificates where a server asks for them.
//!
//! Policy (SWAG's ssl.conf, Mozilla intermediate): TLS 1.2 and 1.3 only;
//! rustls' ring suites are exactly the AEAD ECDHE suites of that profile
//! (AES-GCM and ChaCha20-Poly1305; no CBC, no RSA key exchange, no DHE).
//! Stateless session tickets are off (rustls' default ticketer never issues
//! them), matching `ssl_session_tickets off`; stateful resumption from a
//! small in-memory cache stays on.
//!
//! Client certificates (`ssl_verify_client`): as nginx, the handshake asks
//! for one when the server the SNI picks verifies them, never requires one,
//! and accepts any chain whose holder proves its key; whether the chain is
//! good is decided per request by the server the request is routed to
//! (`conf::client_cert`), which answers 400 as nginx does. rustls asks its
//! verifier whether to request a certificate without telling it the SNI,
//! so the certificate resolver (which sees the ClientHello, on the same
//! thread, just before) leaves the SNI in a thread-local for it.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::certs::CertStore;
use super::routes::RouteSource;

/// What the TLS handshake established, kept in the session's TLS digest so
/// routing can see it (`RequestInfo::sni`, `RequestInfo::client_certs`).
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The SNI the client sent.
    pub sni: Option<String>,
    /// The certificate chain the client sent (leaf first), if any.
    pub client_certs: Option<Arc<[CertificateDer<'static>]>>,
}

struct HandshakeCapture;

#[async_trait]
impl TlsAccept for HandshakeCapture {
    async fn handshake_complete_callback(
        &self,
        tls: &TlsRef,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        let sni = tls.server_name().map(str::to_owned);
        let client_certs = tls
            .peer_cert_chain_der()
            .filter(|c| !c.is_empty())
            .map(Arc::from);
        if sni.is_none() && client_certs.is_none() {
            return None;
        }
        Some(Arc::new(Handshake { sni, client_certs }) as Arc<dyn Any + Send + Sync>)
    }
}

thread_local! {
    /// The SNI of the ClientHello this thread is answering right now:
    /// `Some(sni)` from the resolver until the verifier reads it.
    static HELLO_SNI: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
    /// The CA names of the certificate request this thread is writing:
    /// set by `offer_client_auth`, read by `root_hint_subjects` right
    /// after it (rustls asks both while writing one flight).
    static REQUEST_NAMES: Cell<&'static [DistinguishedName]> = const { Cell::new(&[]) };
}

/// Forgets a ClientHello's SNI that no certificate request read (a resumed
/// handshake sends none): called just before a new TLS session starts on
/// this thread, whose first question is then answered for any SNI.
pub(crate) fn forget_hello() {
    HELLO_SNI.with(|s| s.borrow_mut().take());
}

/// The certificate store, noting each ClientHello's SNI for
/// [`ClientCerts`] when some server verifies client certificates.
struct NotingResolver {
    inner: Arc<dyn ResolvesServerCert>,
    routes: Arc<dyn RouteSource>,
}

impl std::fmt::Debug for NotingResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotingResolver")
            .field("inner", &self.inner)
            .finish()
    }
}

impl ResolvesServerCert for NotingResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello.server_name().map(str::to_owned);
        let key = self.inner.resolve(hello)?;
        if self.routes.wants_client_certificates() {
            HELLO_SNI.with(|s| *s.borrow_mut() = Some(sni));
        }
        Some(key)
    }
}

/// The listener's client-certificate verifier: asks where the SNI's
/// server wants a certificate, accepts any chain (the request decides).
struct ClientCerts {
    routes: Arc<dyn RouteSource>,
    conf_port: u16,
    algorithms: WebPkiSupportedAlgorithms,
}

impl std::fmt::Debug for ClientCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCerts")
            .field("conf_port", &self.conf_port)
            .finish()
    }
}

impl ClientCertVerifier for ClientCerts {
    /// Asked when the connection starts (with no SNI yet: whether the
    /// handshake must keep what a certificate request needs) and again
    /// when the server's flight is written (the SNI just resolved).
    fn offer_client_auth(&self) -> bool {
        let (asks, names) = match HELLO_SNI.with(|s| s.borrow_mut().take()) {
            Some(sni) => match self
                .routes
                .client_certificate_request(self.conf_port, sni.as_deref())
            {
                Some(names) => (true, names),
                None => (false, &[][..]),
            },
            None => (self.routes.wants_client_certificates(), &[][..]),
        };
        REQUEST_NAMES.with(|n| n.set(names));
        asks
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// The SNI's server's `ssl_client_certificate` subjects, as nginx
    /// sends them (none for a handshake whose SNI was not noted: a client
    /// then offers any certificate, and the request decides).
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        REQUEST_NAMES.with(Cell::get)
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Settings for one TLS listener (the confs' `conf_port`) reading `certs`
/// on every handshake and asking for client certificates where `routes`
/// says so.
pub fn settings(certs: &CertStore, routes: Arc<dyn RouteSource>, conf_port: u16) -> TlsSettings {
    let mut settings = TlsSettings::with_callbacks(Box::new(HandshakeCapture))
        .expect("TlsSettings::with_callbacks never fails on the rustls backend");
    settings.set_cert_resolver(Arc::new(NotingResolver {
        inner: certs.resolver(),
        routes: routes.clone(),
    }));
    settings.set_client_cert_verifier(Arc::new(ClientCerts {
        routes,
        conf_port,
        algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
    }));
    settings.enable_h2();
    settings
}
