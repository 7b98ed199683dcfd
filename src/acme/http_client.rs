//! The HTTP client instant-acme talks through: hyper-rustls on rustls' ring
//! provider, names resolved by hickory (never getaddrinfo, which a static
//! binary in a `FROM scratch` image cannot rely on), and either the one
//! root `ACME_CA_ROOT` names or the system bundle (`SSL_CERT_FILE`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, HttpClient};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::AcmeError;

/// Resolves host names for hyper through hickory.
#[derive(Clone)]
struct HickoryResolve(Arc<TokioResolver>);

impl tower_service::Service<Name> for HickoryResolve {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.0.clone();
        Box::pin(async move {
            let ips = resolver
                .lookup_ip(format!("{}.", name.as_str().trim_end_matches('.')))
                .await?;
            let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(addrs.into_iter())
        })
    }
}

/// The client for the ACME server: trusts only `ca_root` when given, else
/// the system roots; resolves through `nameservers` when given, else the
/// system resolver configuration (`/etc/resolv.conf`).
pub fn acme_http_client(
    ca_root: Option<&Path>,
    nameservers: Option<&[SocketAddr]>,
) -> Result<Box<dyn HttpClient>, AcmeError> {
    super::account::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    match ca_root {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| AcmeError::Config {
                setting: "ACME_CA_ROOT",
                message: format!("{}: {e}", path.display()),
            })?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| AcmeError::Config {
                    setting: "ACME_CA_ROOT",
                    message: format!("{}: not a PEM certificate ({e})", path.display()),
                })?;
                roots.add(cert).map_err(|e| AcmeError::Config {
                    setting: "ACME_CA_ROOT",
                    message: format!("{}: {e}", path.display()),
                })?;
            }
            if roots.is_empty() {
                return Err(AcmeError::Config {
                    setting: "ACME_CA_ROOT",
                    message: format!("{}: no CERTIFICATE block", path.display()),
                });
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(AcmeError::Config {
                    setting: "SSL_CERT_FILE",
                    message: "no CA certificates found for the ACME server (ship /etc/ssl/certs/ca-certificates.crt or set SSL_CERT_FILE)".into(),
                });
            }
        }
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let builder = match nameservers {
        Some(servers) => TokioResolver::builder_with_config(
            crate::dns::servers_config(servers),
            TokioRuntimeProvider::default(),
        ),
        None => TokioResolver::builder_tokio().map_err(|e| AcmeError::Config {
            setting: "/etc/resolv.conf",
            message: format!("no resolver configuration to find the ACME server: {e}"),
        })?,
    };
    let resolver = builder
        .build()
        .map_err(|e| AcmeError::Internal(format!("resolver: {e}")))?;
    let mut http = HttpConnector::new_with_resolver(HickoryResolve(Arc::new(resolver)));
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    let client: Client<_, BodyWrapper<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    Ok(Box::new(client))
}
