//! Request evaluation: nginx's phases for one request, in pure code.
//! Server selection, the server rewrite phase, location search (again
//! after `rewrite ... last`), the location rewrite phase, access control
//! (`internal`, `allow`/`deny`, `auth_basic`, `auth_request`), then the
//! content handler. File tests (`if (-f ...)`) go through a [`FileProbe`].

mod context;
mod limits;
mod realip;
mod script;
mod upstream;
pub(crate) mod uri;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use context::Eval;
use script::Flow;

use crate::conf::compile::level::{AuthRule, Handler};
use crate::conf::compile::script::FileTest;
use crate::conf::decision::{Action, Decision, HeaderRule, LocationRef, RequestInfo, ServerRef};
use crate::conf::include::map_path;
use crate::conf::route_table::RouteTable;
use crate::conf::variables::VarSource;

/// Answers `if (-f ...)`-style tests; lets the evaluator stay pure.
pub trait FileProbe {
    /// `true` when `path` passes `test`.
    fn test(&self, path: &Path, test: FileTest) -> bool;
}

/// A [`FileProbe`] that looks at the real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskProbe;

impl FileProbe for DiskProbe {
    fn test(&self, path: &Path, test: FileTest) -> bool {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        match test {
            FileTest::File => meta.is_file(),
            FileTest::Dir => meta.is_dir(),
            FileTest::Exists => true,
            FileTest::Executable => {
                use std::os::unix::fs::PermissionsExt;
                meta.is_file() && meta.permissions().mode() & 0o111 != 0
            }
        }
    }
}

/// nginx's limit on URI changes per request (`rewrite or internal redirection cycle`).
const MAX_URI_CHANGES: usize = 10;

/// The lower-cased host without port and trailing dot.
pub(crate) fn host_name(raw: &str) -> String {
    let raw = raw.trim();
    let host = if raw.starts_with('[') {
        raw.find(']').map_or(raw, |end| &raw[..=end])
    } else {
        raw.split(':').next().unwrap_or_default()
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl RouteTable {
    /// The decision nginx would take for this request (file tests read the
    /// real filesystem under the config directory).
    pub fn decide(&self, req: &RequestInfo) -> Decision {
        self.decide_with(req, &DiskProbe)
    }

    /// [`RouteTable::decide`] with file tests answered by `probe`.
    pub fn decide_with(&self, req: &RequestInfo, probe: &dyn FileProbe) -> Decision {
        if let Some(reason) = &self.broken {
            return unrouted(
                no_server(),
                Action::Return {
                    status: 503,
                    location: None,
                    body: Some(format!("503 Service Unavailable\n\n{reason}\n")),
                },
            );
        }
        let host = req.host.as_deref().map(host_name);
        let Some(picked) = self
            .ports
            .get(&req.server_port)
            .and_then(|p| p.pick(host.as_deref()))
        else {
            return unrouted(no_server(), Action::NotFound);
        };
        let server = &self.servers[picked.server];
        // A server meant to require client certificates: nginx refuses the
        // handshake before any request, so not even the server's `return`
        // or `rewrite` may answer. moat does not verify them: 503.
        if let Some(guard) = server
            .level
            .unenforced_guard
            .as_deref()
            .filter(|g| g.starts_with("ssl_verify_client"))
        {
            return unrouted(
                server.at.clone(),
                Action::Unavailable {
                    reason: format!(
                        "{guard}: client certificates are not verified by moat; refusing rather than serving anyone"
                    ),
                },
            );
        }
        let (path, args) = uri::split(&req.uri);
        let mut ev = Eval {
            table: self,
            req,
            server,
            // nginx: the Host header, else the server's (first) name.
            host: host.filter(|h| !h.is_empty()).unwrap_or_else(|| {
                server
                    .at
                    .names
                    .first()
                    .filter(|n| !n.starts_with('~'))
                    .cloned()
                    .unwrap_or_default()
            }),
            uri: String::new(),
            args: args.to_string(),
            uri_changed: false,
            location_valid: true,
            vars: picked.captures.into_iter().collect::<HashMap<_, _>>(),
            captures: picked.numbered.unwrap_or_default(),
            level: server.level.clone(),
            proxy_host: String::new(),
            proxy_port: String::new(),
            remote_text: std::cell::OnceCell::new(),
            rewrote: false,
            realip: None,
        };
        // nginx's post-read phase: realip with the server's settings.
        ev.apply_realip();
        let Some(uri) = uri::normalize(path) else {
            return ev.finish(None, bad_request());
        };
        ev.uri = uri;
        match ev.run(&server.script, probe) {
            Flow::Respond(a) => return ev.finish(None, *a),
            Flow::Done | Flow::Stop | Flow::Last => {}
        }
        let mut location = None;
        let mut searches = 0;
        loop {
            searches += 1;
            if searches > MAX_URI_CHANGES {
                return ev.finish(
                    location,
                    Action::Return {
                        status: 500,
                        location: None,
                        body: None,
                    },
                );
            }
            let found = server.locations.find(&ev.uri);
            let Some(loc) = server.locations.resolve(&found.path) else {
                ev.level = server.level.clone();
                location = None;
                break;
            };
            location = Some(loc.at.clone());
            if found.auto_redirect {
                ev.level = loc.level.clone();
                if loc.level.internal && !ev.uri_changed {
                    return ev.finish(location, Action::Deny { status: 404 });
                }
                let mut to = format!("{}/", ev.uri);
                if !ev.args.is_empty() {
                    to.push('?');
                    to.push_str(&ev.args);
                }
                let action = ev.respond(301, Some(to));
                return ev.finish(location, action);
            }
            if let Some(c) = found.captures {
                ev.captures = c;
            }
            ev.vars.extend(found.named);
            ev.level = loc.level.clone();
            // nginx's `r->internal`: set by any rewrite that changed the URI
            // (server or location level, `last` or none), so an `internal`
            // location answers 404 only to a request as the client sent it.
            // moat has no other internal redirects: `error_page` has no
            // effect, `try_files` serves files without redirecting, and
            // `auth_request` answers 503.
            if loc.level.internal && !ev.uri_changed {
                return ev.finish(location, Action::Deny { status: 404 });
            }
            ev.rewrote = false;
            ev.location_valid = true;
            match ev.run(&loc.script, probe) {
                Flow::Respond(a) => return ev.finish(location, *a),
                Flow::Last => continue,
                Flow::Done if ev.rewrote => continue,
                Flow::Done | Flow::Stop => break,
            }
        }
        // nginx's pre-access phase: realip with the location's settings,
        // when the server's did not already change the address.
        ev.apply_realip();
        // ... then limit_req / limit_conn (carried out by the proxy).
        let limits = ev.limits();
        let action = ev.access().unwrap_or_else(|| ev.content());
        Decision {
            limits,
            ..ev.finish(location, action)
        }
    }
}

/// A decision taken before any location is evaluated (broken tree, no
/// server for the port, a server refused outright): no headers, no body
/// limit, no realip address.
fn unrouted(server: Arc<ServerRef>, action: Action) -> Decision {
    Decision {
        server,
        location: None,
        action,
        response_headers: vec![],
        max_body_size: None,
        client_addr: None,
        limits: Default::default(),
    }
}

/// The server reference of a request no server block took.
fn no_server() -> Arc<ServerRef> {
    Arc::new(ServerRef {
        file: Default::default(),
        line: 0,
        names: vec![],
    })
}

fn bad_request() -> Action {
    Action::Return {
        status: 400,
        location: None,
        body: None,
    }
}

impl Eval<'_> {
    /// The access phase: `None` when the request may go on.
    fn access(&self) -> Option<Action> {
        let ip = self.remote_ip();
        for rule in self.level.access.iter() {
            if rule.net.is_none_or(|n| n.contains(ip)) {
                if rule.allow {
                    break;
                }
                return Some(Action::Deny { status: 403 });
            }
        }
        match self.level.auth()? {
            AuthRule::Basic { realm, users } => {
                let ok = self
                    .header("authorization")
                    .is_some_and(|v| users.verify_header(v));
                (!ok).then_some(Action::Unauthorized { realm })
            }
            AuthRule::Unavailable(reason) => Some(Action::Unavailable { reason }),
        }
    }

    /// The content phase.
    fn content(&mut self) -> Action {
        match self.level.handler.clone() {
            Some(Handler::Proxy(p)) => match self.target(&p, false) {
                Ok(t) => Action::Proxy(t),
                Err(_) => Action::Return {
                    status: 500,
                    location: None,
                    body: None,
                },
            },
            Some(Handler::Grpc(p)) => match self.target(&p, true) {
                Ok(t) => Action::Grpc(t),
                Err(_) => Action::Return {
                    status: 500,
                    location: None,
                    body: None,
                },
            },
            Some(Handler::FastCgi) => Action::Unsupported {
                reason: "fastcgi_pass: moat has no FastCGI (PHP) support".to_string(),
            },
            None => match &self.level.root {
                Some(root) => Action::Static {
                    root: map_path(&self.table.config_dir, root),
                    path: self.uri.clone(),
                    index: self.level.index.to_vec(),
                },
                None => Action::NotFound,
            },
        }
    }

    fn finish(&self, location: Option<Arc<LocationRef>>, action: Action) -> Decision {
        let response_headers = self
            .level
            .add_headers
            .iter()
            .filter_map(|h| {
                let value = h.value.render(self as &dyn VarSource);
                (!value.is_empty()).then(|| HeaderRule {
                    name: h.name.clone(),
                    value,
                    always: h.always,
                })
            })
            .collect();
        Decision {
            server: self.server.at.clone(),
            location,
            action,
            response_headers,
            max_body_size: (self.level.max_body != 0).then_some(self.level.max_body),
            client_addr: self.realip,
            limits: Default::default(),
        }
    }
}
