//! [`Status`]: the data the status page and `/api/status` show.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::acme::RenewalState;
use crate::bans::BanHandle;
use crate::clock::LocalZone;
use crate::conf::{LocationSummary, RouteTable};
use crate::proxy::{CertStore, ConfigHealth, Health, ProxyMetrics, ServerHealth, UpstreamHealth};

/// Where the status is read from: the same shared snapshots the proxy,
/// ACME and the jails use, read once per page.
#[derive(Clone)]
pub struct Sources {
    /// The route table in service.
    pub routes: Arc<ArcSwap<RouteTable>>,
    /// The certificates in service.
    pub certs: CertStore,
    /// Which configuration serves, and protections that are off.
    pub health: Health,
    /// The fail2ban jails, when on.
    pub bans: Option<BanHandle>,
    /// The proxy's counters and its latest failures.
    pub metrics: ProxyMetrics,
    /// `etc/letsencrypt/moat-renewal-state.json`.
    pub renewal_state: PathBuf,
    /// `TZ`, for the times shown.
    pub zone: LocalZone,
}

/// Everything the page shows, as `/api/status` serves it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// When this was read (RFC 3339 in `TZ`).
    pub generated_at: String,
    /// The same instant, seconds since the epoch.
    pub generated_at_unix: i64,
    /// Which configuration serves.
    pub config: ConfigState,
    /// Protections configured but not running (a jail file moat cannot read).
    pub degraded: Vec<String>,
    /// Every `server` block in service, in load order.
    pub routes: Vec<Route>,
    /// Every certificate in service, soonest expiry first.
    pub certificates: Vec<Certificate>,
    /// The ACME lineages and their renewal schedule.
    pub renewals: Vec<Renewal>,
    /// The fail2ban jails; `None` when they are off or cannot be read.
    pub bans: Option<BansSummary>,
    /// Each server block's traffic since start: requests, 5xx, the latest
    /// status and upstream time.
    pub traffic: Vec<ServerHealth>,
    /// Each upstream address forwarded to since start: requests, 5xx
    /// (refused connections included), the latest status and upstream time.
    pub upstreams: Vec<UpstreamHealth>,
    /// The latest requests moat or an upstream failed (5xx), newest first.
    pub recent_errors: Vec<RecentError>,
}

/// One failed request.
#[derive(Debug, Clone, Serialize)]
pub struct RecentError {
    /// When (RFC 3339 in `TZ`).
    pub at: String,
    /// The status sent.
    pub status: u16,
    /// The conf `file:line` that routed it.
    pub conf: String,
    /// The upstream URL, or `-`.
    pub upstream: String,
    /// The cause in words.
    pub cause: String,
}

/// The configuration in service.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigState {
    /// `current`, `last_good` or `broken`.
    pub state: &'static str,
    /// The first error of the live confs, when they are broken.
    pub problem: Option<String>,
    /// When the copy serving instead was saved (`last_good`).
    pub saved_at: Option<String>,
}

/// One `server` block.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// `server_name` values as written.
    pub names: Vec<String>,
    /// The file, relative to /config.
    pub file: String,
    /// Line of the `server` keyword.
    pub line: u32,
    /// Its sockets, as `443 ssl`, `[::]:80`.
    pub listens: Vec<String>,
    /// Ports on which it is the default server.
    pub default_for: Vec<u16>,
    /// `docker` for a conf Docker discovery generated from a container's
    /// labels, `file` for every other conf in /config.
    pub source: &'static str,
    /// Its locations, nested ones after their parent with a larger depth.
    pub locations: Vec<RouteLocation>,
}

/// One `location` block.
#[derive(Debug, Clone, Serialize)]
pub struct RouteLocation {
    /// The match as written (`^~ /app/`, `@auth`).
    pub r#match: String,
    /// `proxy`, `grpc`, `return`, `static`, `fastcgi`, `deny`, `auth`, `none`.
    pub action: String,
    /// The `proxy_pass`/`grpc_pass` URL as written.
    pub upstream: Option<String>,
    /// `basic`, `unavailable`, or `None`.
    pub auth: Option<String>,
    /// Not reachable from outside.
    pub internal: bool,
    /// The file holding it, relative to /config (an include may differ
    /// from the server's).
    pub file: String,
    /// Line of the `location` keyword.
    pub line: u32,
    /// 0 for a server's own locations.
    pub depth: u32,
}

/// One certificate in service.
#[derive(Debug, Clone, Serialize)]
pub struct Certificate {
    /// The SNI names (or `_default`) it is served for.
    pub served_for: Vec<String>,
    /// Its subject alternative names.
    pub names: Vec<String>,
    /// Its issuer.
    pub issuer: String,
    /// Valid from (RFC 3339).
    pub not_before: String,
    /// Valid until (RFC 3339).
    pub not_after: String,
    /// Valid from, seconds since the epoch.
    pub not_before_unix: i64,
    /// Valid until, seconds since the epoch.
    pub not_after_unix: i64,
    /// Whole days until `not_after` (negative once expired).
    pub days_left: i64,
}

/// One ACME lineage's schedule.
#[derive(Debug, Clone, Serialize)]
pub struct Renewal {
    /// The lineage (its directory under `etc/letsencrypt/live`).
    pub lineage: String,
    /// The names last ordered.
    pub domains: Vec<String>,
    /// Last successful issuance.
    pub last_success: Option<String>,
    /// When the scheduler looks again.
    pub next_attempt: Option<String>,
    /// `next_attempt`, seconds since the epoch.
    pub next_attempt_unix: Option<i64>,
    /// Consecutive failures.
    pub failures: u32,
    /// The last error, cleared on success.
    pub last_error: Option<String>,
    /// Its likely cause, in words.
    pub likely_cause: Option<String>,
}

/// The jails' state.
#[derive(Debug, Clone, Serialize)]
pub struct BansSummary {
    /// The jails that are on.
    pub jails: Vec<String>,
    /// Addresses banned now.
    pub active: Vec<ActiveBan>,
    /// Bans issued per jail, across restarts.
    pub issued: Vec<(String, u64)>,
    /// Connections and requests refused because the client is banned.
    pub refused: u64,
}

/// One address banned now.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveBan {
    /// The address.
    pub addr: String,
    /// The jail (or `manual`).
    pub jail: String,
    /// Until when; `None` is forever.
    pub until: Option<String>,
}

/// Reads every source once, at `now` (seconds since the epoch).
pub fn collect(sources: &Sources, now: i64) -> Status {
    let zone = &sources.zone;
    let when = |t: i64| zone.rfc3339(t, 0).replacen(".000000", "", 1);
    let table = sources.routes.load();
    let root = table.config_dir().to_path_buf();
    let config = match sources.health.config() {
        ConfigHealth::Current => ConfigState {
            state: "current",
            problem: None,
            saved_at: None,
        },
        ConfigHealth::LastGood { saved_at, problem } => ConfigState {
            state: "last_good",
            problem: Some(problem),
            saved_at: Some(saved_at),
        },
        ConfigHealth::Broken { problem } => ConfigState {
            state: "broken",
            problem: Some(problem),
            saved_at: None,
        },
    };
    let routes = table
        .describe()
        .into_iter()
        .map(|s| {
            let mut locations = Vec::new();
            flatten(&root, &s.locations, 0, &mut locations);
            Route {
                names: s.names,
                file: relative(&root, &s.file),
                line: s.line,
                listens: s.listens.iter().map(listen_text).collect(),
                default_for: s.default_for,
                source: if crate::discovery::is_generated(&s.file) {
                    "docker"
                } else {
                    "file"
                },
                locations,
            }
        })
        .collect();
    let certificates = sources
        .certs
        .served()
        .into_iter()
        .map(|c| Certificate {
            served_for: c.served_for,
            names: c.names,
            issuer: c.issuer,
            not_before: when(c.not_before),
            not_after: when(c.not_after),
            not_before_unix: c.not_before,
            not_after_unix: c.not_after,
            days_left: (c.not_after - now).div_euclid(86_400),
        })
        .collect();
    let renewals = RenewalState::load(&sources.renewal_state)
        .unwrap_or_default()
        .lineages
        .into_iter()
        .map(|(lineage, s)| Renewal {
            lineage,
            domains: s.domains,
            last_success: s.last_success.map(when),
            next_attempt: s.next_attempt.map(when),
            next_attempt_unix: s.next_attempt,
            failures: s.failures,
            last_error: s.last_error,
            likely_cause: s.likely_cause,
        })
        .collect();
    let bans = sources.bans.as_ref().map(|handle| {
        let bans = handle.bans();
        BansSummary {
            jails: bans.jail_names().into_iter().map(str::to_owned).collect(),
            active: bans
                .list()
                .into_iter()
                .map(|b| ActiveBan {
                    addr: b.addr.to_string(),
                    jail: b.jail,
                    until: b.until.map(|t| when(i64::try_from(t).unwrap_or(i64::MAX))),
                })
                .collect(),
            issued: bans.issued(),
            refused: bans.refused(),
        }
    });
    Status {
        generated_at: when(now),
        generated_at_unix: now,
        config,
        degraded: sources.health.lapses(),
        routes,
        certificates,
        renewals,
        bans,
        traffic: sources.metrics.server_health(),
        upstreams: sources.metrics.upstream_health(),
        recent_errors: sources
            .metrics
            .recent_failures()
            .into_iter()
            .map(|f| RecentError {
                at: when(f.at),
                status: f.status,
                conf: relative(&root, std::path::Path::new(&f.conf)),
                upstream: f.upstream,
                cause: f.cause,
            })
            .collect(),
    }
}

fn flatten(root: &Path, locations: &[LocationSummary], depth: u32, out: &mut Vec<RouteLocation>) {
    for l in locations {
        out.push(RouteLocation {
            r#match: l.r#match.clone(),
            action: l.action.clone(),
            upstream: l.upstream.clone(),
            auth: l.auth.clone(),
            internal: l.internal,
            file: relative(root, &l.file),
            line: l.line,
            depth,
        });
        flatten(root, &l.locations, depth + 1, out);
    }
}

fn relative(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string()
}

fn listen_text(l: &crate::conf::Listen) -> String {
    let addr = match (l.addr, l.ipv6) {
        (Some(std::net::IpAddr::V6(a)), _) => format!("[{a}]:"),
        (Some(a), _) => format!("{a}:"),
        (None, true) => "[::]:".to_owned(),
        (None, false) => String::new(),
    };
    let mut text = format!("{addr}{}", l.port);
    if l.ssl {
        text.push_str(" ssl");
    }
    if l.proxy_protocol {
        text.push_str(" proxy_protocol");
    }
    text
}
