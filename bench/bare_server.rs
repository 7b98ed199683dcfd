//! What the bare bench proxies share: their arguments and a Pingora
//! `Server` with one worker per requested thread and no grace period.

use pingora::server::configuration::ServerConf;
use pingora::server::Server;

/// The arguments `<https-port> <cert.pem> <key.pem> <backend host:port>
/// [workers]` (checked, `usage` otherwise) and a bootstrapped server.
pub fn start(usage: &str) -> Result<(Vec<String>, Server), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        return Err(format!(
            "usage: {usage} <https-port> <cert.pem> <key.pem> <backend host:port> [workers]"
        )
        .into());
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let workers: usize = args.get(5).map_or(Ok(1), |w| w.parse())?;
    let conf = ServerConf {
        threads: workers,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    Ok((args, server))
}
