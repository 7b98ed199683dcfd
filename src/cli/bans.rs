//! `moat bans`: the running instance's fail2ban bans, through its metrics
//! endpoint (`/bans`, see `bans::control`). `moat bans` lists them
//! (address, jail, since, until); `moat bans ban ADDR [--jail J]
//! [--seconds N]` adds one (forever without `--seconds`); `moat bans unban
//! ADDR` lifts every ban of ADDR.

use std::net::IpAddr;

use anyhow::{anyhow, bail};

use super::endpoint;
use crate::settings::Settings;

/// Options of `moat bans`.
#[derive(Debug, clap::Args)]
pub struct BansArgs {
    /// What to do; `list` when omitted.
    #[command(subcommand)]
    pub action: Option<BansAction>,
}

/// The `moat bans` actions.
#[derive(Debug, clap::Subcommand)]
pub enum BansAction {
    /// The bans in force: address, jail, since, until.
    List,
    /// Ban an address now.
    Ban {
        /// The IPv4 or IPv6 address.
        addr: IpAddr,
        /// The jail it is filed under.
        #[arg(long, default_value = crate::bans::control::MANUAL_JAIL)]
        jail: String,
        /// How long; forever when omitted.
        #[arg(long, value_name = "N")]
        seconds: Option<u64>,
    },
    /// Lift every ban of an address.
    Unban {
        /// The IPv4 or IPv6 address.
        addr: IpAddr,
    },
}

/// Entry point; returns the exit code.
pub fn run(args: BansArgs) -> anyhow::Result<i32> {
    let settings = Settings::from_env().map_err(|e| anyhow!("{e}"))?;
    let Some(addr) = settings.metrics_addr else {
        bail!("METRICS_ADDR=off: moat bans talks to the running instance through its metrics endpoint");
    };
    let (method, path) = match &args.action {
        None | Some(BansAction::List) => ("GET", "/bans".to_owned()),
        Some(BansAction::Ban {
            addr,
            jail,
            seconds,
        }) => {
            let mut path = format!("/bans/ban?addr={addr}&jail={jail}");
            if let Some(n) = seconds {
                path.push_str(&format!("&seconds={n}"));
            }
            ("POST", path)
        }
        Some(BansAction::Unban { addr }) => ("POST", format!("/bans/unban?addr={addr}")),
    };
    let (code, body) = endpoint::request(addr, method, &path).map_err(|e| anyhow!(e))?;
    let json: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| anyhow!("{path}: the answer is not JSON ({e}): {body}"))?;
    if code != 200 {
        bail!(
            "{}",
            json["error"].as_str().map_or(body.clone(), str::to_owned)
        );
    }
    match &args.action {
        None | Some(BansAction::List) => print_list(&json),
        Some(BansAction::Ban { .. }) => {
            println!(
                "banned {} ({}) until {}",
                json["addr"].as_str().unwrap_or("?"),
                json["jail"].as_str().unwrap_or("?"),
                when(&json["until"])
            );
        }
        Some(BansAction::Unban { addr }) => {
            let lifted = json["lifted"].as_u64().unwrap_or(0);
            if lifted == 0 {
                println!("{addr} was not banned");
            } else {
                println!("unbanned {addr} ({lifted} ban(s) lifted)");
            }
        }
    }
    Ok(0)
}

fn print_list(json: &serde_json::Value) {
    let rows = json.as_array().map(Vec::as_slice).unwrap_or_default();
    if rows.is_empty() {
        println!("no bans in force");
        return;
    }
    println!("{:<40} {:<20} {:<20} UNTIL", "ADDRESS", "JAIL", "SINCE");
    for ban in rows {
        println!(
            "{:<40} {:<20} {:<20} {}",
            ban["addr"].as_str().unwrap_or("?"),
            ban["jail"].as_str().unwrap_or("?"),
            when(&ban["since"]),
            when(&ban["until"])
        );
    }
}

/// Unix seconds as an RFC 3339 UTC time (as `moat certs` prints them);
/// `null` is `forever`.
fn when(value: &serde_json::Value) -> String {
    value
        .as_i64()
        .map_or_else(|| "forever".to_owned(), super::certs::moat_time::fmt_ts)
}
