//! `bench-proxy`: moat's proxy engine with one fixed route, for
//! `bench/proxy.sh` (TLS termination for one name, HTTP/1.1 keep-alive to
//! one backend, SWAG's proxy.conf header set).
//!
//! Usage: `bench-proxy <https-port> <cert.pem> <key.pem> <backend host:port> [workers]`.
//! Prints `ready` once listening; stops on SIGTERM/SIGINT.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use moat::conf::{Action, Decision, Listen, ProxyTarget, RequestInfo, ServerRef, UpstreamOptions};
use moat::proxy::{CertStore, ProxyConfig, RouteSource};

struct OneRoute {
    backend: SocketAddr,
}

impl RouteSource for OneRoute {
    fn decide(&self, req: &RequestInfo) -> Decision {
        let host = req.host.clone().unwrap_or_default();
        let remote = req.remote.ip().to_string();
        let mut headers: Vec<(String, String)> = req
            .headers
            .iter()
            .filter(|(n, _)| {
                !matches!(
                    n.as_str(),
                    "host" | "connection" | "upgrade" | "x-forwarded-for"
                )
            })
            .cloned()
            .collect();
        headers.extend([
            ("Host".to_owned(), host.clone()),
            ("X-Forwarded-For".to_owned(), remote.clone()),
            ("X-Forwarded-Host".to_owned(), host),
            ("X-Forwarded-Proto".to_owned(), "https".to_owned()),
            ("X-Real-IP".to_owned(), remote),
            ("Connection".to_owned(), "close".to_owned()),
        ]);
        Decision {
            server: ServerRef {
                file: PathBuf::from("bench"),
                line: 1,
                names: vec!["bench.test".into()],
            },
            location: None,
            action: Action::Proxy(ProxyTarget {
                url: format!("http://{}{}", self.backend, req.uri),
                scheme: "http".into(),
                host: self.backend.ip().to_string(),
                port: self.backend.port(),
                path_and_query: req.uri.clone(),
                headers,
                hide_headers: vec![],
                redirects: vec![],
                cookie_paths: vec![],
                body_filter: None,
                options: UpstreamOptions {
                    connect_timeout: Duration::from_secs(5),
                    read_timeout: Duration::from_secs(240),
                    send_timeout: Duration::from_secs(240),
                    http11: true,
                    resolver: vec![],
                    resolver_valid: None,
                    resolver_ipv6: false,
                    ssl_verify: false,
                    ssl_server_name: false,
                },
            }),
            response_headers: vec![],
            max_body_size: None,
        }
    }

    fn listens(&self) -> Vec<Listen> {
        Vec::new()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        return Err(
            "usage: bench-proxy <https-port> <cert.pem> <key.pem> <backend host:port> [workers]"
                .into(),
        );
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = CertStore::new();
    let chain = std::fs::read_to_string(&args[2])?;
    let key = std::fs::read_to_string(&args[3])?;
    certs.set_default_pem(&chain, &key, &args[2])?;
    let routes = Arc::new(OneRoute {
        backend: args[4].parse()?,
    });
    let mut config = ProxyConfig::new(routes, certs, moat::acme::Http01Tokens::new());
    config.https_port = args[1].parse()?;
    config.http_port = 0;
    config.addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    if let Some(workers) = args.get(5) {
        config.workers = workers.parse()?;
    }
    let handle = moat::proxy::spawn(config)?;
    println!("ready");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        handle.shutdown().await;
        Ok::<_, std::io::Error>(())
    })?;
    Ok(())
}
