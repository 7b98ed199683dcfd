//! `moat dns-check`: load the DNS provider's credentials and run its
//! preflight (credentials and zone access, no records created), printing one
//! line that says what works or what is wrong.
//!
//! Reads VALIDATION, DNSPLUGIN, URL and EXTRA_DOMAINS itself, minimally (strip
//! quotes, lower-case), because `settings` had not landed when this was
//! written; once `Settings::from_env()` exists this should take the plugin and
//! domain list from it instead.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use super::ConfigArg;
use crate::dns;

/// Exit code for invalid settings (`EX_CONFIG`).
const EX_CONFIG: i32 = 78;

/// Entry point; returns the exit code (0 works, 1 the check failed, 78 bad settings).
pub fn run(args: ConfigArg) -> anyhow::Result<i32> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let config_dir = args
        .config
        .or_else(|| std::env::var_os("CONFIG_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/config"));
    let validation = env("VALIDATION");
    let plugin = match validation.as_str() {
        "duckdns" => "duckdns".to_owned(),
        "dns" => env("DNSPLUGIN"),
        "" | "http" => {
            println!(
                "dns-check: VALIDATION={} uses no DNS provider; nothing to check",
                if validation.is_empty() {
                    "http"
                } else {
                    &validation
                }
            );
            return Ok(0);
        }
        other => {
            eprintln!("moat dns-check: VALIDATION={other} is not one of http, dns, duckdns");
            return Ok(EX_CONFIG);
        }
    };
    if plugin.is_empty() {
        eprintln!(
            "moat dns-check: VALIDATION=dns needs DNSPLUGIN (one of {})",
            dns::PROVIDER_NAMES.join(", ")
        );
        return Ok(EX_CONFIG);
    }
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
    let domains = domains();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), provider.preflight(&domains)).await
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
            println!("{plugin}: the preflight did not finish within 120 s");
            Ok(1)
        }
    }
}

/// A SWAG variable as SWAG reads it: `"` stripped, lower-cased, trimmed.
fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_default()
        .replace('"', "")
        .trim()
        .to_ascii_lowercase()
}

/// The names whose zones must be reachable: URL and EXTRA_DOMAINS (a
/// wildcard's zone is its base name's).
fn domains() -> Vec<String> {
    let mut out = Vec::new();
    let url = env("URL");
    if !url.is_empty() {
        out.push(url);
    }
    for extra in env("EXTRA_DOMAINS").split(',') {
        let d = extra.trim().trim_start_matches("*.").to_owned();
        if !d.is_empty() && !out.contains(&d) {
            out.push(d);
        }
    }
    out
}
