//! The immutable, fully-typed result of loading a config tree, and
//! [`load`], the I/O shell that produces it.

use std::collections::{BTreeMap, HashMap};

use super::fx_hash::FxHashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::compile::level::Level;
use super::compile::script::Stmt;
use super::compile::values::ListenSpec;
use super::compile::{self, Compiler};
use super::decision::{Listen, ServerRef};
use super::error::ConfError;
use super::include::{assemble, assemble_text, Assembled};
use super::locations::LocationSet;
use super::maps::MapDef;
use super::no_effect::NoEffect;
use super::server_names::{Name, PortServers};

/// Warnings and facts from a successful load.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// One line per warning, `file:line: message`.
    pub warnings: Vec<String>,
    /// Directives accepted without effect, in reading order; see
    /// [`crate::conf::no_effect_summary`] for the line to log.
    pub no_effect: Vec<NoEffect>,
    /// Every file that was read, in order: what a watcher should watch.
    pub files: Vec<PathBuf>,
}

/// One compiled `server` block.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub at: Arc<ServerRef>,
    pub listens: Vec<ListenSpec>,
    pub name_matchers: Vec<Name>,
    pub level: Arc<Level>,
    /// `ssl_verify_client` (not `off`), CA files read.
    pub client_verify: Option<Arc<crate::conf::client_cert::ClientVerify>>,
    pub script: Vec<Stmt>,
    pub locations: LocationSet,
}

/// Every server, location and rule from one load, ready to answer requests.
/// Cheap to share (`Arc` it); never mutated after [`load`].
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    pub(crate) servers: Vec<Server>,
    pub(crate) ports: FxHashMap<u16, PortServers>,
    pub(crate) listens: Vec<Listen>,
    pub(crate) maps: FxHashMap<String, MapDef>,
    pub(crate) config_dir: PathBuf,
    /// Set when no configuration could be loaded: every request answers
    /// 503 with this text (which names the broken file and line).
    pub(crate) broken: Option<Arc<str>>,
    /// The header-name rules when every server has the same ones (no conf
    /// sets `underscores_in_headers` or `ignore_invalid_headers`, as in
    /// SWAG's): [`RouteTable::header_rules`] then needs no server pick.
    pub(crate) uniform_header_rules: Option<super::HeaderRules>,
    /// Some server verifies client certificates (`ssl_verify_client`).
    pub(crate) client_verify_any: bool,
}

impl RouteTable {
    /// A table with no servers: every request gets 404.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A table for when the confs are broken and no earlier copy loads:
    /// every request answers 503 with `reason` (not 404, which would look
    /// like a missing site rather than a broken moat).
    pub fn broken(reason: impl Into<String>) -> Self {
        RouteTable {
            broken: Some(Arc::from(reason.into())),
            ..Self::default()
        }
    }

    /// The reason given to [`RouteTable::broken`], if this is such a table.
    pub fn broken_reason(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// The sockets the confs ask for (deduplicated; `ssl` when any server
    /// on that socket asks for TLS), sorted.
    pub fn listens(&self) -> &[Listen] {
        &self.listens
    }

    /// Whether connections to the confs' `port` (on the IPv6 sockets when
    /// `ipv6`) start with a PROXY protocol header: some `listen` of that
    /// port and family has `proxy_protocol`.
    pub fn proxy_protocol(&self, port: u16, ipv6: bool) -> bool {
        self.listens
            .iter()
            .any(|l| l.port == port && l.ipv6 == ipv6 && l.proxy_protocol)
    }

    /// The header-name rules of the server a request to the confs' `port`
    /// naming `host` goes to. nginx reads the header lines after `Host`
    /// with that server's settings (before it, the default server's):
    /// clients send `Host` (HTTP/2 `:authority`) first, so the chosen
    /// server's rules are applied to every line.
    pub fn header_rules(&self, port: u16, host: Option<&str>) -> super::HeaderRules {
        if let Some(rules) = self.uniform_header_rules {
            return rules;
        }
        let host = host.map(super::eval::host_name);
        self.ports
            .get(&port)
            .and_then(|p| p.pick(host.as_deref()))
            .map(|picked| self.servers[picked.server].level.header_rules)
            .unwrap_or_default()
    }

    /// Whether any server verifies client certificates: TLS listeners then
    /// keep what a client-certificate request needs on every handshake.
    pub fn wants_client_certificates(&self) -> bool {
        self.client_verify_any
    }

    /// Whether a TLS handshake on `port` with this SNI asks the client for
    /// a certificate, and naming which CAs: the server the SNI picks (else
    /// the port's default, as nginx) has `ssl_verify_client`; its
    /// `ssl_client_certificate` subjects are the names.
    pub fn client_certificate_request(
        &self,
        port: u16,
        sni: Option<&str>,
    ) -> Option<&'static [rustls::DistinguishedName]> {
        if !self.client_verify_any {
            return None;
        }
        let p = self.ports.get(&port)?;
        let host = sni.map(super::eval::host_name);
        let server = p
            .pick(host.as_deref())
            .map(|picked| picked.server)
            .or(p.default)?;
        self.servers[server]
            .client_verify
            .as_ref()
            .map(|v| v.ca_names)
    }

    /// The config directory the table was loaded from (`/config` maps here).
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    pub(crate) fn build(
        c: &mut Compiler<'_>,
        servers: Vec<Server>,
        maps: FxHashMap<String, MapDef>,
    ) -> RouteTable {
        let mut ports: FxHashMap<u16, PortServers> = FxHashMap::default();
        let mut defaults: HashMap<u16, usize> = HashMap::new();
        // Per socket: (ssl, proxy_protocol). As in nginx, a flag on any
        // server's `listen` of a socket applies to the socket.
        let mut sockets: BTreeMap<(Option<std::net::IpAddr>, u16, bool), (bool, bool)> =
            BTreeMap::new();
        for (i, s) in servers.iter().enumerate() {
            let mut seen_ports = Vec::new();
            for l in &s.listens {
                let (ssl, proxy_protocol) = sockets
                    .entry((l.listen.addr, l.listen.port, l.listen.ipv6))
                    .or_insert((false, false));
                *ssl |= l.listen.ssl;
                *proxy_protocol |= l.listen.proxy_protocol;
                let port = l.listen.port;
                let entry = ports.entry(port).or_default();
                if l.default_server {
                    match defaults.get(&port) {
                        Some(&first) if first != i && !l.listen.ipv6 => {
                            c.errors.push(ConfError::Invalid {
                                file: s.at.file.clone(),
                                line: s.at.line,
                                column: 1,
                                message: format!(
                                    "a duplicate default server for port {port}; the first is at {}:{}",
                                    servers[first].at.file.display(),
                                    servers[first].at.line
                                ),
                            });
                        }
                        Some(_) => {}
                        None => {
                            defaults.insert(port, i);
                            entry.default = Some(i);
                        }
                    }
                }
                if entry.default.is_none() {
                    entry.default = Some(i);
                }
                if seen_ports.contains(&port) {
                    continue;
                }
                seen_ports.push(port);
                for (name, written) in s.name_matchers.iter().zip(names_written(s)) {
                    if let Err(first) = entry.add(name, i) {
                        c.warnings.push(format!(
                            "{}:{}: conflicting server name \"{written}\" on port {port}, ignored; the first is at {}:{}",
                            s.at.file.display(),
                            s.at.line,
                            servers[first].at.file.display(),
                            servers[first].at.line
                        ));
                    }
                }
            }
        }
        // A default_server found later overrides the "first server" default.
        for (port, i) in defaults {
            if let Some(p) = ports.get_mut(&port) {
                p.default = Some(i);
            }
        }
        let listens = sockets
            .into_iter()
            .map(|((addr, port, ipv6), (ssl, proxy_protocol))| Listen {
                addr,
                port,
                ipv6,
                ssl,
                proxy_protocol,
            })
            .collect();
        // A request to no server gets the defaults, so they count as one.
        let uniform_header_rules = servers
            .iter()
            .map(|s| s.level.header_rules)
            .all(|r| r == super::HeaderRules::default())
            .then(super::HeaderRules::default);
        let client_verify_any = servers.iter().any(|s| s.client_verify.is_some());
        RouteTable {
            client_verify_any,
            servers,
            ports,
            listens,
            maps,
            config_dir: c.config_dir.to_path_buf(),
            broken: None,
            uniform_header_rules,
        }
    }
}

/// The written form of each name matcher, for warnings.
fn names_written(s: &Server) -> Vec<String> {
    let mut out = Vec::new();
    for n in &s.name_matchers {
        out.push(match n {
            Name::Exact(e) => e.clone(),
            Name::Head(h) => format!("*.{h}"),
            Name::Tail(t) => format!("{t}.*"),
            Name::Regex(r) => format!("~{}", r.as_str().trim_start_matches("(?i)")),
        });
    }
    out
}

fn finish(
    config_dir: &Path,
    assembled: Assembled,
) -> Result<(RouteTable, LoadReport), Vec<ConfError>> {
    let compiled = compile::compile(config_dir, &assembled.directives);
    let mut errors = assembled.errors;
    let (table, mut warnings, no_effect) = match compiled {
        Ok(ok) if errors.is_empty() => ok,
        Ok(_) => return Err(errors),
        Err(mut more) => {
            errors.append(&mut more);
            return Err(errors);
        }
    };
    let mut all = assembled.warnings;
    all.append(&mut warnings);
    Ok((
        table,
        LoadReport {
            warnings: all,
            no_effect,
            files: assembled.files,
        },
    ))
}

/// Loads `<config_dir>/nginx/nginx.conf` and everything it includes, the
/// way SWAG's nginx would. On any error, returns every error found and no
/// table, so the caller keeps serving its previous snapshot.
pub fn load(config_dir: &Path) -> Result<(RouteTable, LoadReport), Vec<ConfError>> {
    let assembled = assemble(config_dir)?;
    finish(config_dir, assembled)
}

/// Like [`load`], with `overlay` standing in for the files it names (new
/// text, or absent): what the tree would load as after a change that has
/// not been written yet.
pub fn load_over(
    config_dir: &Path,
    overlay: &super::include::Overlay,
) -> Result<(RouteTable, LoadReport), Vec<ConfError>> {
    let assembled = super::include::assemble_over(config_dir, overlay)?;
    finish(config_dir, assembled)
}

/// Like [`load`], but the confs (`nginx/nginx.conf` and every file it
/// includes under `/config`) are read from `conf_root`, a copy of an
/// earlier tree laid out like the config directory; everything else
/// (htpasswd files, certificates, `root`) still comes from `config_dir`.
/// For serving the last configuration that loaded when the live one is broken.
pub fn load_copy(
    config_dir: &Path,
    conf_root: &Path,
) -> Result<(RouteTable, LoadReport), Vec<ConfError>> {
    let assembled = assemble(conf_root)?;
    finish(config_dir, assembled)
}

/// Like [`load`], but the top-level file's text is given (named `origin`);
/// its includes are still read from `config_dir`. For tests and `explain`.
pub fn load_str(
    config_dir: &Path,
    origin: &Path,
    src: &str,
) -> Result<(RouteTable, LoadReport), Vec<ConfError>> {
    let assembled = assemble_text(config_dir, origin, src)?;
    finish(config_dir, assembled)
}
