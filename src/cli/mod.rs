//! Command-line subcommands. Each subcommand lives in its own file and is the
//! only place besides `main.rs` that uses `anyhow`.
//!
//! Exit codes: 0 success; 1 a check found problems; 78 (`EX_CONFIG`) invalid
//! settings at start; 2 usage errors (clap).

mod bans;
mod certs;
mod check;
mod dns_check;
mod endpoint;
mod explain;
mod health;
mod renew;
mod routes;
mod run;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// moat: SWAG's job (ACME certificates + nginx-conf reverse proxy) in one binary.
#[derive(Debug, Parser)]
#[command(name = "moat", version, about)]
pub struct Cli {
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the supervisor: proxy, certificates, reloads (the container's main job).
    Run(ConfigArg),
    /// Validate settings and the /config tree without serving (like `nginx -t`).
    Check(ConfigArg),
    /// Print the route table: every server and its locations.
    Routes(routes::RoutesArgs),
    /// Print the decision nginx would take for one request.
    Explain(explain::ExplainArgs),
    /// List certificates: names, issuer, expiry, next renewal, last error.
    Certs(certs::CertsArgs),
    /// Trigger a renewal in the running instance, or run one standalone.
    Renew(renew::RenewArgs),
    /// Check the DNS provider's credentials and zone access without changing records.
    DnsCheck(ConfigArg),
    /// Report whether the running instance is healthy (for Docker's HEALTHCHECK).
    Health(ConfigArg),
    /// The running instance's fail2ban bans: list, ban, unban.
    Bans(bans::BansArgs),
}

/// The `--config DIR` option shared by most subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// The /config directory (default: `CONFIG_DIR`, else `/config`).
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<PathBuf>,
}

/// Parse argv and run the chosen subcommand; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli
        .command
        .unwrap_or(Command::Run(ConfigArg { config: None }))
    {
        Command::Run(a) => run::run(a),
        Command::Check(a) => check::run(a),
        Command::Routes(a) => routes::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Certs(a) => certs::run(a),
        Command::Renew(a) => renew::run(a),
        Command::DnsCheck(a) => dns_check::run(a),
        Command::Health(a) => health::run(a),
        Command::Bans(a) => bans::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("moat: {e:#}");
            1
        }
    }
}
