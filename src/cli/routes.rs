//! `moat routes`: the loaded route table, server by server, so a user can see
//! what moat made of their `proxy-confs` before sending traffic.
//!
//! Also home of [`load_table`], the config loading shared with `explain`:
//! errors print as `file:line:column: message` on stderr and give exit 1.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::conf::{Listen, LocationSummary, RouteTable, ServerSummary};
use crate::settings::Settings;

/// Options of `moat routes`.
#[derive(Debug, clap::Args)]
pub struct RoutesArgs {
    /// The /config directory (default: `CONFIG_DIR`, else `/config`).
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--config`, else `CONFIG_DIR` (or `FILE__CONFIG_DIR`), else `/config`
/// (read by `settings`).
pub fn config_dir(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    match flag {
        Some(dir) => Ok(dir.to_path_buf()),
        None => Ok(Settings::config_dir_from_env()?),
    }
}

/// Loads the route table; on errors prints every one and returns `Err(1)`,
/// the exit code. Warnings are only counted, `moat check` lists them.
pub fn load_table(flag: Option<&Path>) -> anyhow::Result<Result<RouteTable, i32>> {
    let dir = config_dir(flag)?;
    if !dir.is_dir() {
        anyhow::bail!(
            "config directory `{}` does not exist (set --config or CONFIG_DIR)",
            dir.display()
        );
    }
    match crate::conf::load(&dir) {
        Ok((table, report)) => {
            if !report.warnings.is_empty() {
                eprintln!(
                    "moat: {} warning(s) while loading {}; `moat check` lists them",
                    report.warnings.len(),
                    dir.display()
                );
            }
            Ok(Ok(table))
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("moat: {} error(s) in {}", errors.len(), dir.display());
            Ok(Err(1))
        }
    }
}

/// The JSON shape of `moat routes --json`.
#[derive(Debug, Serialize)]
pub struct RoutesSummary {
    /// Every socket the confs listen on.
    pub listens: Vec<Listen>,
    /// Every server block, in load order, with its locations.
    pub servers: Vec<ServerSummary>,
}

/// Entry point; returns the exit code.
pub fn run(args: RoutesArgs) -> anyhow::Result<i32> {
    let table = match load_table(args.config.as_deref())? {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    let summary = RoutesSummary {
        listens: table.listens().to_vec(),
        servers: table.describe(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(0);
    }
    let listens: Vec<String> = summary.listens.iter().map(listen_text).collect();
    println!("listening: {}", listens.join(", "));
    for s in &summary.servers {
        println!();
        println!("server {}:{}", s.file.display(), s.line);
        let listens: Vec<String> = s.listens.iter().map(listen_text).collect();
        let default = if s.default_for.is_empty() {
            String::new()
        } else {
            let ports: Vec<String> = s.default_for.iter().map(u16::to_string).collect();
            format!("  (default server for {})", ports.join(", "))
        };
        println!("  listen {}{default}", listens.join(", "));
        if s.names.is_empty() {
            println!("  server_name (none)");
        } else {
            println!("  server_name {}", s.names.join(" "));
        }
        if let Some((cert, key)) = &s.tls {
            println!("  tls {} {}", cert.display(), key.display());
        }
        print_locations(&s.locations, 1);
    }
    Ok(0)
}

fn print_locations(locations: &[LocationSummary], depth: usize) {
    let indent = "  ".repeat(depth);
    for l in locations {
        let mut what = l.action.clone();
        if let Some(u) = &l.upstream {
            what.push_str(&format!(" {u}"));
        }
        if l.internal {
            what.push_str(" (internal)");
        }
        if let Some(a) = &l.auth {
            what.push_str(&format!(" (auth: {a})"));
        }
        println!(
            "{indent}location {:<32} {:<48} {}:{}",
            l.r#match,
            what,
            l.file.display(),
            l.line
        );
        print_locations(&l.locations, depth + 1);
    }
}

fn listen_text(l: &Listen) -> String {
    let addr = match (l.addr, l.ipv6) {
        (Some(a), true) => format!("[{a}]:"),
        (Some(a), false) => format!("{a}:"),
        (None, true) => "[::]:".to_string(),
        (None, false) => String::new(),
    };
    format!("{addr}{}{}", l.port, if l.ssl { " ssl" } else { "" })
}
