//! `moat certs`: list each certificate lineage under
//! `<config>/etc/letsencrypt` with its names, issuer, expiry, days left,
//! next renewal attempt and last error (from the renewal state file).

use std::path::PathBuf;

use moat_time::fmt_ts;

use crate::acme::{certinfo_days_left, CertStore, LetsencryptPaths, RenewalState};

/// Options of `moat certs`.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// The /config directory (default: `CONFIG_DIR`, else `/config`).
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<std::path::PathBuf>,
    /// Print JSON (one object per lineage) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One row of the listing.
#[derive(Debug, serde::Serialize)]
struct Row {
    lineage: String,
    names: Vec<String>,
    issuer: Option<String>,
    not_after: Option<String>,
    days_left: Option<i64>,
    next_attempt: Option<String>,
    last_error: Option<String>,
    likely_cause: Option<String>,
    problem: Option<String>,
}

/// Entry point; returns the exit code (1 when a lineage is unreadable or
/// its last renewal failed).
pub fn run(args: CertsArgs) -> anyhow::Result<i32> {
    let config = config_dir(args.config)?;
    let paths = LetsencryptPaths::new(&config);
    let store = CertStore::new(paths.clone());
    let state = RenewalState::load(&paths.state_file()).unwrap_or_default();
    let mut names: Vec<String> = store.list();
    for l in state.lineages.keys() {
        if !names.contains(l) {
            names.push(l.clone());
        }
    }
    names.sort();
    let mut rows = Vec::new();
    for lineage in names {
        let st = state.lineages.get(&lineage).cloned().unwrap_or_default();
        let mut row = Row {
            lineage: lineage.clone(),
            names: st.domains.clone(),
            issuer: None,
            not_after: None,
            days_left: None,
            next_attempt: st.next_attempt.map(fmt_ts),
            last_error: st.last_error.clone(),
            likely_cause: st.likely_cause.clone(),
            problem: None,
        };
        match store.load(&lineage) {
            Ok(Some(c)) => {
                row.names = c.info.names.clone();
                row.issuer = Some(c.info.issuer.clone());
                row.not_after = Some(fmt_ts(c.info.not_after));
                row.days_left = Some(certinfo_days_left(c.info.not_after));
            }
            Ok(None) => row.problem = Some("no certificate stored yet".into()),
            Err(e) => row.problem = Some(e.to_string()),
        }
        rows.push(row);
    }
    let bad = rows.iter().any(|r| r.last_error.is_some());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("no certificates under {}", paths.live_root().display());
    } else {
        for r in &rows {
            println!("{}", r.lineage);
            println!("  names:        {}", r.names.join(" "));
            println!("  issuer:       {}", r.issuer.as_deref().unwrap_or("-"));
            println!(
                "  not after:    {}{}",
                r.not_after.as_deref().unwrap_or("-"),
                r.days_left
                    .map(|d| format!(" ({d} days left)"))
                    .unwrap_or_default()
            );
            println!(
                "  next attempt: {}",
                r.next_attempt.as_deref().unwrap_or("-")
            );
            match (&r.last_error, &r.likely_cause) {
                (Some(e), Some(c)) => println!("  last error:   {e}\n  likely cause: {c}"),
                (Some(e), None) => println!("  last error:   {e}"),
                _ => println!("  last error:   -"),
            }
            if let Some(p) = &r.problem {
                println!("  problem:      {p}");
            }
        }
    }
    Ok(if bad { 1 } else { 0 })
}

/// `--config`, else `CONFIG_DIR` (or `FILE__CONFIG_DIR`), else `/config`.
pub(crate) fn config_dir(arg: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    // Settings are not merged yet: the one variable read here is CONFIG_DIR.
    match arg {
        Some(dir) => Ok(dir),
        None => Ok(crate::settings::Settings::config_dir_from_env()?),
    }
}

/// Dates as the CLI prints them (also `moat bans`).
pub(super) mod moat_time {
    /// RFC 3339 UTC for seconds since the epoch.
    pub fn fmt_ts(t: i64) -> String {
        time::OffsetDateTime::from_unix_timestamp(t)
            .ok()
            .and_then(|d| {
                d.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| t.to_string())
    }
}
