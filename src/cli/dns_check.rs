//! `moat dns-check`: load the DNS provider's credentials and run its
//! preflight (credentials and zone access, no records created), printing one
//! line that says what works or what is wrong.

use std::time::Duration;

use anyhow::Context as _;

use super::ConfigArg;
use crate::dns;
use crate::settings::{Settings, Validation};

/// Exit code for invalid settings (`EX_CONFIG`).
const EX_CONFIG: i32 = 78;
/// The whole preflight must finish within this.
const PREFLIGHT_LIMIT: Duration = Duration::from_secs(120);

/// Entry point; returns the exit code (0 works, 1 the check failed, 78 bad settings).
pub fn run(args: ConfigArg) -> anyhow::Result<i32> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("moat dns-check: invalid settings:\n{e}");
            return Ok(EX_CONFIG);
        }
    };
    let config_dir = args.config.unwrap_or_else(|| settings.config_dir.clone());
    let plugin = match &settings.validation {
        Validation::Dns(plugin) => plugin.clone(),
        Validation::Http => {
            println!("dns-check: VALIDATION=http uses no DNS provider; nothing to check");
            return Ok(0);
        }
    };
    let provider = match dns::provider_for(&plugin, &config_dir) {
        Ok(p) => p,
        Err(e @ dns::DnsError::UnknownProvider { .. }) => {
            eprintln!("moat dns-check: {e}");
            return Ok(EX_CONFIG);
        }
        Err(e) => {
            println!("{e}");
            return Ok(1);
        }
    };
    // A wildcard lives in its base name's zone; check each zone once.
    let mut domains: Vec<String> = Vec::new();
    for d in &settings.domains {
        let base = d.without_wildcard().to_owned();
        if !domains.contains(&base) {
            domains.push(base);
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        tokio::time::timeout(PREFLIGHT_LIMIT, provider.preflight(&domains)).await
    });
    match result {
        Ok(Ok(line)) => {
            println!("{line}");
            Ok(0)
        }
        Ok(Err(e)) => {
            println!("{e}");
            Ok(1)
        }
        Err(_) => {
            println!(
                "{plugin}: the preflight did not finish within {} s",
                PREFLIGHT_LIMIT.as_secs()
            );
            Ok(1)
        }
    }
}
