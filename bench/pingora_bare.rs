//! `bench-pingora-bare`: the smallest Pingora reverse proxy that does what
//! `bench/proxy.sh` asks of every proxy (TLS for one name with h2 offered,
//! HTTP/1.1 keep-alive to one backend, the proxy.conf forwarding headers),
//! built on Pingora's own `Server` the way its examples are.
//!
//! It is the ceiling for moat's engine on this machine: whatever Pingora and
//! rustls cost per request before moat routes anything. `bench/proxy.sh`
//! prints it as the `pingora` row.
//!
//! Usage: `bench-pingora-bare <https-port> <cert.pem> <key.pem> <backend host:port> [workers]`.

#[path = "bare_server.rs"]
mod bare_server;

use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::listeners::tls::TlsSettings;
use pingora::prelude::*;

struct Bare {
    backend: std::net::SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.backend, false, String::new())))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        let remote = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let host = upstream_request
            .headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        upstream_request.remove_header("connection");
        upstream_request.insert_header("X-Forwarded-For", &remote)?;
        upstream_request.insert_header("X-Forwarded-Host", &host)?;
        upstream_request.insert_header("X-Forwarded-Proto", "https")?;
        upstream_request.insert_header("X-Real-IP", &remote)?;
        Ok(())
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let (args, mut server) = bare_server::start("bench-pingora-bare")?;
    let mut service = http_proxy_service(
        &server.configuration,
        Bare {
            backend: args[4].parse()?,
        },
    );
    let mut tls = TlsSettings::intermediate(&args[2], &args[3])?;
    tls.enable_h2();
    service.add_tls_with_settings(&format!("127.0.0.1:{}", args[1]), None, tls);
    server.add_service(service);
    println!("ready");
    server.run_forever();
}
