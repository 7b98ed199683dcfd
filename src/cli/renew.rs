//! `moat renew [--force]`: ask the running instance to renew (through its
//! control socket), or, when none runs, renew standalone: answer HTTP-01 on
//! `HTTP_PORT` itself, like `certbot certonly --standalone`.
//!
//! NOTE: `settings` is not merged yet, so standalone mode reads the few SWAG
//! variables it needs here ([`standalone_config`]); once `Settings` lands,
//! this builds `AcmeConfig` from it like the supervisor does. DNS-01
//! standalone waits for the providers of the DNS issue.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::acme::{
    self, AcmeConfig, ChallengeSolver, Directory, Http01Tokens, KeyType, LetsencryptPaths, Outcome,
    RenewThreshold, Renewer,
};

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
    let config = super::certs::config_dir(args.config);
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
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .map(|v| v.replace('"', "").trim().to_owned())
    };
    let cfg = standalone_config(config, &env)?;
    let validation = env("VALIDATION").unwrap_or_default().to_ascii_lowercase();
    if validation == "dns" || validation == "duckdns" {
        bail!("VALIDATION={validation}: standalone `moat renew` cannot use DNS-01 until the DNS providers are built in; use the running instance or VALIDATION=http");
    }
    let port: u16 = match env("HTTP_PORT") {
        Some(p) if !p.is_empty() => p
            .parse()
            .with_context(|| format!("HTTP_PORT: `{p}` is not a port number"))?,
        _ => 80,
    };
    let bind = env("HTTP_BIND_ADDR")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "0.0.0.0".into());
    let addr: std::net::SocketAddr = format!("{bind}:{port}")
        .parse()
        .with_context(|| format!("HTTP_BIND_ADDR: `{bind}` is not an IP address"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("HTTP_PORT: cannot listen on {addr} for HTTP-01 (is a web server already on it? then use the running instance)"))?;
    let tokens = Http01Tokens::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(acme::serve_http01(
        listener,
        tokens.clone(),
        stop_rx.clone(),
    ));
    let renewer = Renewer::new(cfg, ChallengeSolver::Http01(tokens), Arc::new(|_| {}));
    let (result, next) = renewer.attempt(force, Some(stop_rx)).await;
    let _ = stop_tx.send(true);
    let _ = server.await;
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

/// Build the `AcmeConfig` from SWAG's variables (`URL`, `SUBDOMAINS`,
/// `ONLY_SUBDOMAINS`, `EXTRA_DOMAINS`, `EMAIL`, `STAGING`, `CERTPROVIDER`,
/// `ACME_SERVER`, `ACME_CA_ROOT`, `KEY_TYPE`, `CERT_PROFILE`,
/// `RENEW_BEFORE`, `REVOKE_REPLACED`).
pub fn standalone_config(
    config: std::path::PathBuf,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<AcmeConfig> {
    let lower = |k: &str| env(k).unwrap_or_default().to_ascii_lowercase();
    let url = lower("URL");
    if url.is_empty() {
        bail!("URL: not set; it names the domain to get a certificate for");
    }
    let subdomains: Vec<String> = lower("SUBDOMAINS")
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let only_sub = env("ONLY_SUBDOMAINS").as_deref() == Some("true");
    let mut domains = Vec::new();
    if !(only_sub && !subdomains.is_empty()) {
        domains.push(url.clone());
    }
    for s in &subdomains {
        domains.push(if s == "wildcard" {
            format!("*.{url}")
        } else {
            format!("{s}.{url}")
        });
    }
    for e in lower("EXTRA_DOMAINS")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        domains.push(e.to_owned());
    }
    let directory = match env("ACME_SERVER").filter(|s| !s.is_empty()) {
        Some(url) => Directory::Custom {
            url,
            ca_root: env("ACME_CA_ROOT")
                .filter(|s| !s.is_empty())
                .map(Into::into),
        },
        None if lower("CERTPROVIDER") == "zerossl" => Directory::ZeroSsl,
        None if env("STAGING").as_deref() == Some("true") => Directory::LetsEncryptStaging,
        None => Directory::LetsEncrypt,
    };
    let mut cfg = AcmeConfig::new(config, domains, directory)?;
    cfg.email = env("EMAIL").filter(|e| e.contains('@'));
    cfg.key_type = KeyType::parse(&env("KEY_TYPE").unwrap_or_default())?;
    cfg.profile = env("CERT_PROFILE").filter(|s| !s.is_empty());
    cfg.revoke_replaced = env("REVOKE_REPLACED").as_deref() == Some("true");
    if let Some(rb) = env("RENEW_BEFORE").filter(|s| !s.is_empty()) {
        let secs: u64 = rb
            .parse()
            .with_context(|| format!("RENEW_BEFORE: `{rb}` is not a number of seconds"))?;
        cfg.renew_threshold = RenewThreshold::Before(Duration::from_secs(secs));
    }
    cfg.swag_params = [
        "URL",
        "SUBDOMAINS",
        "ONLY_SUBDOMAINS",
        "EXTRA_DOMAINS",
        "VALIDATION",
        "DNSPLUGIN",
        "PROPAGATION",
        "STAGING",
        "CERTPROVIDER",
        "EMAIL",
    ]
    .iter()
    .map(|k| (format!("ORIG{k}"), lower(k)))
    .collect();
    Ok(cfg)
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
