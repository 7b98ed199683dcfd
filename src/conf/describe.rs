//! Serializable summaries of a [`RouteTable`] for `moat routes`, and the
//! TLS certificates per server for the proxy's SNI certificate store.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::compile::level::{AuthRule, Handler, Level};
use super::compile::script::Stmt;
use super::decision::Listen;
use super::eval::host_name;
use super::locations::Location;
use super::route_table::RouteTable;

/// One `server` block as `moat routes` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerSummary {
    /// File holding the block.
    pub file: PathBuf,
    /// Line of the `server` keyword.
    pub line: u32,
    /// `server_name` values as written.
    pub names: Vec<String>,
    /// Its `listen` sockets.
    pub listens: Vec<Listen>,
    /// Ports on which it is the default server.
    pub default_for: Vec<u16>,
    /// Certificate and key paths, when the server has both.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Its locations, in file order.
    pub locations: Vec<LocationSummary>,
}

/// One `location` block as `moat routes` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocationSummary {
    /// File holding the block.
    pub file: PathBuf,
    /// Line of the `location` keyword.
    pub line: u32,
    /// The match as written (`^~ /app/`, `~ (/app)?/api`, `@auth`).
    pub r#match: String,
    /// `proxy`, `grpc`, `return`, `static`, `fastcgi`, `deny`, `auth` or `none`.
    pub action: String,
    /// The `proxy_pass`/`grpc_pass` URL as written.
    pub upstream: Option<String>,
    /// `internal`: not reachable from outside.
    pub internal: bool,
    /// `basic` (auth_basic) or `unavailable` (answers 503).
    pub auth: Option<String>,
    /// Nested locations.
    pub locations: Vec<LocationSummary>,
}

/// A certificate a server terminates TLS with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsCertificate {
    /// `ssl_certificate`, mapped onto the config directory.
    pub certificate: PathBuf,
    /// `ssl_certificate_key`, mapped onto the config directory.
    pub key: PathBuf,
    /// The server's names as written.
    pub names: Vec<String>,
    /// Ports on which the server listens with `ssl`.
    pub ports: Vec<u16>,
    /// The server's file and line.
    pub file: PathBuf,
    /// Line of the `server` keyword.
    pub line: u32,
}

fn cert_of(level: &Level) -> Option<(&Path, &Path)> {
    Some((
        level.ssl_certificate.as_deref()?,
        level.ssl_certificate_key.as_deref()?,
    ))
}

impl RouteTable {
    /// Every server and its locations, for `moat routes`.
    pub fn describe(&self) -> Vec<ServerSummary> {
        self.servers
            .iter()
            .enumerate()
            .map(|(i, s)| ServerSummary {
                file: s.at.file.clone(),
                line: s.at.line,
                names: s.at.names.clone(),
                listens: s.listens.iter().map(|l| l.listen.clone()).collect(),
                default_for: self.default_ports(i),
                tls: cert_of(&s.level).map(|(c, k)| (c.to_path_buf(), k.to_path_buf())),
                locations: s.locations.all.iter().map(summary).collect(),
            })
            .collect()
    }

    fn default_ports(&self, i: usize) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .ports
            .iter()
            .filter(|(_, p)| p.default == Some(i))
            .map(|(&port, _)| port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// Every server that listens with `ssl` and names a certificate and key.
    pub fn tls_certificates(&self) -> Vec<TlsCertificate> {
        self.servers
            .iter()
            .filter_map(|s| {
                let (c, k) = cert_of(&s.level)?;
                let mut ports: Vec<u16> = s
                    .listens
                    .iter()
                    .filter(|l| l.listen.ssl)
                    .map(|l| l.listen.port)
                    .collect();
                ports.sort_unstable();
                ports.dedup();
                (!ports.is_empty()).then(|| TlsCertificate {
                    certificate: c.to_path_buf(),
                    key: k.to_path_buf(),
                    names: s.at.names.clone(),
                    ports,
                    file: s.at.file.clone(),
                    line: s.at.line,
                })
            })
            .collect()
    }

    /// The certificate and key for a TLS handshake on `port` with this SNI,
    /// picked by nginx's `server_name` priority; like nginx, a server with
    /// no certificate of its own is answered with the port's default
    /// server's certificate.
    pub fn tls_certificate_for(&self, port: u16, sni: Option<&str>) -> Option<(&Path, &Path)> {
        let p = self.ports.get(&port)?;
        let host = sni.map(host_name);
        let picked = p.pick(host.as_deref())?;
        cert_of(&self.servers[picked.server].level)
            .or_else(|| p.default.and_then(|d| cert_of(&self.servers[d].level)))
    }
}

fn summary(l: &Location) -> LocationSummary {
    let level = &l.level;
    let returns = l.script.iter().any(|s| matches!(s, Stmt::Return { .. }));
    let (action, upstream) = match &level.handler {
        Some(Handler::Proxy(p)) => ("proxy", Some(p.written.clone())),
        Some(Handler::Grpc(p)) => ("grpc", Some(p.written.clone())),
        Some(Handler::FastCgi) => ("fastcgi", None),
        None if returns => ("return", None),
        None if level.access.iter().any(|r| !r.allow && r.net.is_none())
            && level.access.len() == 1 =>
        {
            ("deny", None)
        }
        None if level.root.is_some() || level.alias.is_some() => ("static", None),
        None => ("none", None),
    };
    let auth = if level.unenforced().is_some() {
        Some("unavailable".to_string())
    } else {
        let mut parts = Vec::new();
        match level.basic_auth() {
            Some(AuthRule::Basic { .. }) => parts.push("basic".to_string()),
            Some(AuthRule::Unavailable(_)) => parts.push("unavailable".to_string()),
            None => {}
        }
        if let Some(uri) = level.auth_request_uri() {
            parts.push(format!("request {uri}"));
        }
        (!parts.is_empty()).then(|| parts.join(if level.satisfy_any { " | " } else { " + " }))
    };
    let action = if auth.as_deref().is_some_and(|a| a.contains("unavailable")) {
        "auth"
    } else {
        action
    };
    LocationSummary {
        file: l.at.file.clone(),
        line: l.at.line,
        r#match: l.at.r#match.clone(),
        action: action.to_string(),
        upstream,
        internal: level.internal,
        auth,
        locations: l.children.all.iter().map(summary).collect(),
    }
}
