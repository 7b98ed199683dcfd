//! `moat routes`: the loaded route table, server by server, so a user can see
//! what moat made of their `proxy-confs` before sending traffic.
//!
//! Also home of [`load_table`], the config loading shared with `explain`:
//! errors print as `file:line:column: message` on stderr and give exit 1.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::conf::{Listen, RouteTable};

/// The env var that names the /config directory when `--config` is absent.
pub const CONFIG_DIR_ENV: &str = "CONFIG_DIR";
/// The /config directory when neither `--config` nor `CONFIG_DIR` is given.
pub const DEFAULT_CONFIG_DIR: &str = "/config";

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

/// `--config`, else `CONFIG_DIR`, else `/config`.
pub fn config_dir(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os(CONFIG_DIR_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_DIR))
}

/// Loads the route table; on errors prints every one and returns `Err(1)`,
/// the exit code. Warnings are only counted, `moat check` lists them.
pub fn load_table(flag: Option<&Path>) -> anyhow::Result<Result<RouteTable, i32>> {
    let dir = config_dir(flag);
    if !dir.is_dir() {
        anyhow::bail!(
            "config directory `{}` does not exist (set --config or {CONFIG_DIR_ENV})",
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

/// One `server` block.
#[derive(Debug, Serialize)]
pub struct ServerSummary {
    /// The file that holds it.
    pub file: PathBuf,
    /// The line of `server`.
    pub line: u32,
    /// `listen` values as written.
    pub listen: Vec<String>,
    /// `server_name` values as written.
    pub names: Vec<String>,
    /// Its locations, in file order (nested ones after their parent).
    pub locations: Vec<LocationSummary>,
}

/// One `location` block.
#[derive(Debug, Serialize)]
pub struct LocationSummary {
    /// The file that holds it.
    pub file: PathBuf,
    /// The line of `location`.
    pub line: u32,
    /// The match as written, modifier included.
    pub r#match: String,
}

/// ADAPTER (oracle branch), until `conf` exposes a per-server description:
/// only the listen sockets are available from [`RouteTable`] today, so
/// `servers` stays empty. Replace the body with `table.describe()` mapping.
fn summarize(table: &RouteTable) -> RoutesSummary {
    RoutesSummary {
        listens: table.listens().to_vec(),
        servers: vec![],
    }
}

/// Entry point; returns the exit code.
pub fn run(args: RoutesArgs) -> anyhow::Result<i32> {
    let table = match load_table(args.config.as_deref())? {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    let summary = summarize(&table);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(0);
    }
    let listens: Vec<String> = summary.listens.iter().map(listen_text).collect();
    println!("listening: {}", listens.join(", "));
    for s in &summary.servers {
        println!();
        println!("server {}:{}", s.file.display(), s.line);
        println!("  listen {}", s.listen.join(", "));
        println!("  server_name {}", s.names.join(" "));
        for l in &s.locations {
            println!(
                "  location {:<40} {}:{}",
                l.r#match,
                l.file.display(),
                l.line
            );
        }
    }
    Ok(0)
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
