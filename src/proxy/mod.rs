//! The data plane: a Pingora service that terminates TLS with certificates
//! chosen per SNI, answers ACME HTTP-01 on port 80, and forwards requests as
//! the current [`crate::conf::RouteTable`] snapshot decides.
//!
//! # What the supervisor does
//! Usually `supervisor.add(ProxyService::new(certs.clone(), tokens.clone()))`,
//! handing `certs.sink()` and `tokens` to the ACME renewer. Underneath,
//! [`ProxyService`] builds a [`ProxyConfig`] (routes as `Arc<ArcSwap<RouteTable>>`, a
//! [`CertStore`] with the default certificate loaded, the ACME side's
//! [`crate::acme::Http01Tokens`]), call [`spawn`], keep the
//! [`ProxyHandle`], and call [`ProxyHandle::shutdown`] on SIGTERM. A conf
//! reload is `routes.store(new_table)`; a new certificate is
//! [`CertStore::install`]. Neither needs the proxy restarted. The caller
//! installs rustls' ring `CryptoProvider` process-wide before [`spawn`].
//!
//! # Why rustls (and not OpenSSL)
//! Pingora's `rustls` backend: no OpenSSL build from source (perl, make,
//! gcc), a fully static binary for a `FROM scratch` image, memory-safe TLS
//! parsing on the public port, and a synchronous `ResolvesServerCert` that
//! reads an `ArcSwap` map per handshake, which makes certificate replacement
//! a pointer swap. Trade-offs accepted: Pingora's rustls path has no async
//! certificate callback (not needed: the map is in memory) and no DHE/CBC
//! suites (outside Mozilla intermediate's preferences anyway).
//!
//! # What this module does not do
//! It never parses a conf or interprets a directive name (that is `conf`),
//! never obtains certificates (that is `acme`), never installs signal
//! handlers, and never calls getaddrinfo: upstream names go through
//! hickory ([`UpstreamResolver`]) and listen addresses are numeric.
//!
//! # Invariants
//! - Each request asks the route table once on entering the request path
//!   (`engine/request.rs`), and once more only with an `auth_request`
//!   answer; later steps read that decision.
//! - Every failure status comes from one mapping (`status.rs`).
//! - `proxy_http_version 1.0` is served as 1.1 upstream (Pingora speaks 1.1).

mod access_log;
mod auth_request;
mod body_buffer;
mod certs;
mod engine;
mod error;
mod error_log;
mod failure_log;
mod head_checks;
mod header_deadline;
mod headers;
mod http01;
mod limits;
mod linger;
mod listeners;
mod log_file;
mod metrics;
mod metrics_endpoint;
mod proxy_protocol;
mod resolve;
mod respond;
mod routes;
mod service;
mod static_files;
mod status;
mod sub_filter;
mod supervised;
mod tls;
mod upstream;
mod websocket;

pub use access_log::{AccessLog, AccessLogConfig, AccessLogFormat, AccessRecord};
pub use certs::{CertStore, ServedCertificate, ServerCertificate};
pub use engine::RequestCtx;
pub use error::ProxyError;
pub use error_log::{ErrorLog, ErrorLogConfig, ErrorRecord};
pub use header_deadline::DEFAULT_HEADER_TIMEOUT;
pub use metrics::{
    escape_label, server_label, Failure, ProxyMetrics, ServerHealth, UpstreamHealth, UpstreamPeer,
    LATENCY_BUCKETS, NO_SERVER, RECENT_FAILURES,
};
pub use metrics_endpoint::{
    serve_metrics, ConfigHealth, Health, MetricsRender, StatusAnswer, StatusRender, StatusView,
    HEAD_TIMEOUT, MAX_HEAD,
};
pub use resolve::{
    ResolveError, UpstreamResolver, MAX_POSITIVE_TTL, NEGATIVE_TTL, RESOLVE_DEADLINE,
};
pub use routes::RouteSource;
pub use service::{spawn, BoundAddr, ProxyConfig, ProxyHandle, DEFAULT_GRACE};
pub use supervised::ProxyService;
pub use tls::Handshake;
