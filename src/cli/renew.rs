//! `moat renew [--force]`: ask the running instance to renew (through its
//! control socket, `etc/letsencrypt/.moat-renew.sock`), or, when none runs,
//! renew standalone: HTTP-01 answered on `HTTP_PORT` by a listener of our
//! own (like `certbot certonly --standalone`), or DNS-01 through `DNSPLUGIN`.
//!
//! Settings come from `Settings::from_env` like the running instance. Two
//! extra knobs are read here for tests and one-off runs: `RENEW_BEFORE`
//! (seconds before expiry that count as due, instead of a third of the
//! lifetime) and `HTTP_BIND_ADDR` (address for the standalone HTTP-01
//! listener, default `0.0.0.0`); like every variable, either may come from
//! a `FILE__` secret.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::acme::{self, Http01Tokens, LetsencryptPaths, Outcome, RenewThreshold, Renewer};
use crate::settings::{Settings, Validation};

/// `RENEW_BEFORE`: seconds before notAfter at which a certificate is due.
pub const RENEW_BEFORE: &str = "RENEW_BEFORE";
/// `HTTP_BIND_ADDR`: the standalone HTTP-01 listener's address.
pub const HTTP_BIND_ADDR: &str = "HTTP_BIND_ADDR";

/// Options of `moat renew`.
#[derive(Debug, clap::Args)]
pub struct RenewArgs {
    /// The /config directory (default: `CONFIG_DIR`, else `/config`).
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<std::path::PathBuf>,
    /// Renew even when the certificate is not due.
    #[arg(long)]
    pub force: bool,
}

/// Entry point; returns the exit code.
pub fn run(args: RenewArgs) -> anyhow::Result<i32> {
    let config = super::certs::config_dir(args.config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let paths = LetsencryptPaths::new(&config);
        if let Some(reply) = acme::request_renewal(&paths.renew_socket(), args.force)
            .await
            .with_context(|| format!("{}", paths.renew_socket().display()))?
        {
            println!("running instance: {reply}");
            return Ok(if reply.starts_with("ok") { 0 } else { 1 });
        }
        init_logging();
        standalone(config, args.force).await
    })
}

async fn standalone(config: std::path::PathBuf, force: bool) -> anyhow::Result<i32> {
    let mut settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("moat renew: invalid settings:\n{e}");
            return Ok(78);
        }
    };
    settings.config_dir = config;
    let mut cfg = acme::config_from_settings(&settings)?;
    if let Some(rb) = Settings::var_from_env(RENEW_BEFORE)? {
        let secs: u64 = rb
            .trim()
            .parse()
            .with_context(|| format!("{RENEW_BEFORE}: `{rb}` is not a number of seconds"))?;
        cfg.renew_threshold = RenewThreshold::Before(Duration::from_secs(secs));
    }
    let tokens = Http01Tokens::new();
    let solver = acme::solver_from_settings(&settings, &tokens)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = if settings.validation == Validation::Http {
        let bind = Settings::var_from_env(HTTP_BIND_ADDR)?.unwrap_or_else(|| "0.0.0.0".into());
        let addr: std::net::SocketAddr = format!("{bind}:{}", settings.http_port)
            .parse()
            .with_context(|| format!("{HTTP_BIND_ADDR}: `{bind}` is not an IP address"))?;
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => bail!(
                "HTTP_PORT: cannot listen on {addr} for HTTP-01 ({e}); is a web server already on it? then renew through the running instance"
            ),
        };
        Some(tokio::spawn(acme::serve_http01(
            listener,
            tokens,
            stop_rx.clone(),
        )))
    } else {
        None
    };
    let renewer = Renewer::new(cfg, solver, Arc::new(|_| {}));
    let (result, next) = renewer.attempt(force, Some(stop_rx)).await;
    let _ = stop_tx.send(true);
    if let Some(server) = server {
        let _ = server.await;
    }
    match result {
        Ok(Outcome::Issued(c)) => {
            println!(
                "issued {} for {} (next check in {} s)",
                c.lineage.dir.display(),
                c.info.names.join(" "),
                next.as_secs()
            );
            Ok(0)
        }
        Ok(Outcome::Current(c)) => {
            println!(
                "{} is valid for {} and not due; nothing to do (use --force to renew anyway)",
                c.lineage.dir.display(),
                c.info.names.join(" ")
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("moat renew: {e}\n  likely cause: {}", e.likely_cause());
            Ok(1)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
