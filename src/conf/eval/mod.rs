//! Request evaluation: nginx's phases for one request, in pure code.
//! Server selection, the server rewrite phase, location search (again
//! after `rewrite ... last`), the location rewrite phase, access control
//! (`internal`, `allow`/`deny`, `auth_basic`, `auth_request`), `try_files`
//! and the index lookup, then the content handler. File tests (`if (-f
//! ...)`, `try_files`, `index`) go through a [`FileProbe`].

mod access;
mod context;
mod error_page;
mod limits;
mod realip;
mod script;
mod try_files;
mod upstream;
pub(crate) mod uri;

use std::path::Path;
use std::sync::Arc;

use context::Eval;
use script::Flow;

use error_page::error_status;

use crate::conf::compile::level::Handler;
use crate::conf::compile::script::FileTest;
use crate::conf::decision::{Action, AuthOutcome, Decision, HeaderRule, RequestInfo, ServerRef};
use crate::conf::include::map_path;
use crate::conf::locations::Location;
use crate::conf::route_table::{RouteTable, Server};
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
        self.evaluate(req, probe, None)
    }

    /// The decision once the auth server has answered the
    /// [`Action::Authenticate`] subrequest that [`RouteTable::decide`]
    /// asked for: nginx's phases run again with `auth` as the
    /// subrequest's result (2xx goes on, 401/403 answer or go to their
    /// `error_page`, anything else is 500).
    pub fn decide_after_auth(&self, req: &RequestInfo, auth: &AuthOutcome) -> Decision {
        self.decide_after_auth_with(req, auth, &DiskProbe)
    }

    /// [`RouteTable::decide_after_auth`] with file tests answered by `probe`.
    pub fn decide_after_auth_with(
        &self,
        req: &RequestInfo,
        auth: &AuthOutcome,
        probe: &dyn FileProbe,
    ) -> Decision {
        self.evaluate(req, probe, Some(auth))
    }

    fn evaluate(
        &self,
        req: &RequestInfo,
        probe: &dyn FileProbe,
        auth: Option<&AuthOutcome>,
    ) -> Decision {
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
        // Client certificates, checked as nginx does when the request
        // head is read: before the server's `return` or `rewrite`.
        let client_verdict = match &server.client_verify {
            Some(policy) if req.tls => {
                if let Some(refusal) = misdirected(req, host.as_deref()) {
                    return unrouted(server.at.clone(), refusal);
                }
                let verdict = policy.verify(req.client_certs.as_deref());
                if let Err(page) = policy.admits(&verdict) {
                    let mut d = unrouted(
                        server.at.clone(),
                        Action::Return {
                            status: 400,
                            location: None,
                            body: Some(format!("400 Bad Request\n\n{page}\n")),
                        },
                    );
                    d.errors.push(match &verdict {
                        crate::conf::client_cert::Verdict::Failed(why) => {
                            format!("client SSL certificate verify error: ({why})")
                        }
                        _ => "client sent no required SSL certificate".to_string(),
                    });
                    return d;
                }
                Some(verdict)
            }
            // A certificate the SNI's server asked for, seen by a server
            // that does not verify: nginx's variables still tell its verdict.
            _ if req.tls && req.client_certs.is_some() => self
                .ports
                .get(&req.server_port)
                .and_then(|p| p.pick(req.sni.as_deref().map(host_name).as_deref()))
                .and_then(|p| self.servers[p.server].client_verify.as_ref())
                .map(|policy| policy.verify(req.client_certs.as_deref())),
            _ => None,
        };
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
            vars: {
                let mut vars = context::Vars::default();
                vars.extend(picked.captures);
                vars
            },
            captures: picked.numbered.unwrap_or_default(),
            level: server.level.clone(),
            proxy_host: String::new(),
            proxy_port: String::new(),
            remote_text: std::cell::OnceCell::new(),
            rewrote: false,
            realip: None,
            realip_port: 0,
            location: None,
            searches: 0,
            auth,
            upstream_headers: None,
            in_subrequest: false,
            in_error_page: false,
            status_override: None,
            auth_headers: Vec::new(),
            method_get: false,
            errors: Vec::new(),
            found_limits: None,
            client_verdict,
        };
        // nginx's post-read phase: realip with the server's settings.
        ev.apply_realip();
        let Some(uri) = uri::normalize(path) else {
            return ev.finish(bad_request());
        };
        ev.uri = uri;
        let action = ev.phases(probe);
        ev.finish(action)
    }
}

/// Where a run of nginx's phases starts.
#[derive(Clone, Copy)]
pub(crate) enum Entry<'t> {
    /// The server rewrite phase, then a location search for `$uri` (a new
    /// request, an internal redirect, a subrequest).
    Server,
    /// A named location's rewrite phase (`error_page ... @name`).
    Named(&'t Location),
}

impl<'a> Eval<'a> {
    /// Runs the phases for the request, following `error_page` redirects,
    /// and returns what answers it.
    fn phases(&mut self, probe: &dyn FileProbe) -> Action {
        let mut entry = Entry::Server;
        loop {
            let action = self.run_request(probe, entry);
            let Some(code) = error_status(&action) else {
                return self.overridden(action);
            };
            // A new error replaces the status an earlier error_page imposed.
            self.status_override = None;
            match self.error_page(code, &action) {
                Some(Ok(next)) => entry = next,
                Some(Err(answer)) => return answer,
                None => return action,
            }
        }
    }

    /// One pass from `entry` through the rewrite, access and content phases.
    pub(crate) fn run_request(&mut self, probe: &dyn FileProbe, entry: Entry<'a>) -> Action {
        let server: &'a Server = self.server;
        let mut search = true;
        match entry {
            Entry::Server => {
                self.level = server.level.clone();
                self.location = None;
                if let Flow::Respond(a) = self.run(&server.script, probe) {
                    return *a;
                }
            }
            Entry::Named(loc) => {
                self.location = Some(loc.at.clone());
                self.level = loc.level.clone();
                self.rewrote = false;
                self.location_valid = true;
                match self.run(&loc.script, probe) {
                    Flow::Respond(a) => return *a,
                    Flow::Last => {}
                    Flow::Done if self.rewrote => {}
                    Flow::Done | Flow::Stop => search = false,
                }
            }
        }
        if search {
            if let Some(answer) = self.find_location(probe) {
                return answer;
            }
        }
        // nginx's pre-access phase: realip with the location's settings,
        // when the server's did not already change the address.
        self.apply_realip();
        // ... then limit_req / limit_conn (carried out by the proxy), once
        // per request as nginx's pre-access phase applies them.
        if self.found_limits.is_none() && !self.in_subrequest {
            self.found_limits = Some(self.limits());
        }
        if let Some(answer) = self.access(probe) {
            return answer;
        }
        match self.precontent(probe) {
            try_files::Next::Content => self.content(probe),
            try_files::Next::Again(entry) => self.run_request(probe, entry),
            try_files::Next::Answer(answer) => *answer,
        }
    }

    /// nginx's find-config and location rewrite phases, again after
    /// `rewrite ... last`; `Some` when they answer the request themselves.
    fn find_location(&mut self, probe: &dyn FileProbe) -> Option<Action> {
        let server: &'a Server = self.server;
        loop {
            self.searches += 1;
            if self.searches > MAX_URI_CHANGES {
                return Some(Action::Return {
                    status: 500,
                    location: None,
                    body: None,
                });
            }
            let found = server.locations.find(&self.uri);
            let Some(loc) = server.locations.resolve(&found.path) else {
                self.level = server.level.clone();
                self.location = None;
                return None;
            };
            self.location = Some(loc.at.clone());
            if found.auto_redirect {
                self.level = loc.level.clone();
                if loc.level.internal && !self.uri_changed {
                    return Some(Action::Deny { status: 404 });
                }
                let mut to = format!("{}/", self.uri);
                if !self.args.is_empty() {
                    to.push('?');
                    to.push_str(&self.args);
                }
                return Some(self.respond(301, Some(to)));
            }
            if let Some(c) = found.captures {
                self.captures = c;
            }
            self.vars.extend(found.named);
            self.level = loc.level.clone();
            // nginx's `r->internal`: set by any rewrite that changed the URI
            // (server or location level, `last` or none), by `error_page`
            // redirects and for the `auth_request` subrequest, so an
            // `internal` location answers 404 only to a request as the
            // client sent it.
            if loc.level.internal && !self.uri_changed {
                return Some(Action::Deny { status: 404 });
            }
            self.rewrote = false;
            self.location_valid = true;
            match self.run(&loc.script, probe) {
                Flow::Respond(a) => return Some(*a),
                Flow::Last => continue,
                Flow::Done if self.rewrote => continue,
                Flow::Done | Flow::Stop => return None,
            }
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
        request_buffering: true,
        client_addr: None,
        status_override: None,
        remote_user: None,
        errors: Vec::new(),
        limits: Default::default(),
    }
}

/// The methods nginx's index and static modules answer (others: 405).
pub(crate) fn serves_files(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "POST")
}

/// The server reference of a request no server block took.
fn no_server() -> Arc<ServerRef> {
    Arc::new(ServerRef {
        file: Default::default(),
        line: 0,
        names: vec![],
    })
}

/// nginx's 421: a request whose Host is not the name the TLS handshake
/// negotiated, to a server that verifies client certificates (the
/// certificate was asked for, and checked, by the SNI's server).
fn misdirected(req: &RequestInfo, host: Option<&str>) -> Option<Action> {
    let sni = req.sni.as_deref()?;
    let host = host.filter(|h| !h.is_empty())?;
    (!sni.eq_ignore_ascii_case(host)).then_some(Action::Return {
        status: 421,
        location: None,
        body: None,
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
    /// The content phase.
    fn content(&mut self, probe: &dyn FileProbe) -> Action {
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
            None => match self
                .file_path(&self.uri, false)
                .filter(|_| self.level.root.is_some() || self.level.alias.is_some())
            {
                // nginx's static module serves GET, HEAD and POST only.
                Some(_) if !serves_files(self.method()) => Action::Return {
                    status: 405,
                    location: None,
                    body: None,
                },
                // What nginx's index and static modules answer themselves,
                // decided here so that `error_page` applies to it.
                Some(_) if self.uri.ends_with('/') => {
                    // No index file (precontent would have redirected).
                    let status = if self.exists(&self.uri, FileTest::Dir, probe) {
                        403
                    } else {
                        404
                    };
                    Action::Return {
                        status,
                        location: None,
                        body: None,
                    }
                }
                Some(_)
                    if !self.exists(&self.uri, FileTest::Dir, probe)
                        && !self.exists(&self.uri, FileTest::File, probe) =>
                {
                    Action::NotFound
                }
                Some(_)
                    if self.method() == "POST" && self.exists(&self.uri, FileTest::File, probe) =>
                {
                    Action::Return {
                        status: 405,
                        location: None,
                        body: None,
                    }
                }
                Some((root, path)) => {
                    let mut add_slash = format!("{}/", self.uri);
                    if !self.args.is_empty() {
                        add_slash.push('?');
                        add_slash.push_str(&self.args);
                    }
                    Action::Static {
                        root: map_path(&self.table.config_dir, &root),
                        path,
                        index: self.level.index.to_vec(),
                        add_slash: self.absolute(&add_slash),
                        post: self.method() == "POST",
                    }
                }
                None => Action::NotFound,
            },
        }
    }

    fn finish(&self, action: Action) -> Decision {
        let mut response_headers: Vec<HeaderRule> = self
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
        response_headers.extend(self.auth_headers.iter().cloned());
        let status_override = match &action {
            Action::Proxy(_) | Action::Grpc(_) | Action::Static { .. } => self.status_override,
            _ => None,
        };
        Decision {
            server: self.server.at.clone(),
            location: self.location.clone(),
            action,
            response_headers,
            max_body_size: (self.level.max_body != 0).then_some(self.level.max_body),
            request_buffering: self.level.request_buffering,
            client_addr: self.realip,
            status_override,
            remote_user: self.remote_user(),
            errors: self.errors.clone(),
            limits: self.found_limits.clone().unwrap_or_default(),
        }
    }
}
