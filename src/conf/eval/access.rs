//! nginx's access phase: `allow`/`deny`, `auth_basic` and `auth_request`
//! in that order (ngx_http_access, auth_basic, auth_request), combined by
//! `satisfy all` (the first refusal answers) or `satisfy any` (the first
//! grant lets the request on; otherwise 401 wins over 403).
//!
//! `auth_request` is a subrequest routed through the same server's
//! locations. The evaluator is pure, so it happens in two steps: without
//! an answer the phase returns [`Action::Authenticate`] with the
//! subrequest's target; the proxy asks the auth server and decides again
//! with its [`crate::conf::AuthOutcome`], which this phase then applies:
//! `auth_request_set` values, and the status as nginx maps it.

use super::context::Eval;
use super::{Entry, FileProbe};
use crate::conf::compile::level::AuthRule;
use crate::conf::decision::{Action, AuthRequest, HeaderRule, ProxyTarget};
use crate::conf::htpasswd::BasicCheck;

/// What one access check said (nginx's `NGX_OK` / `NGX_DECLINED` / a code).
enum Verdict {
    /// Not configured at this level.
    Declined,
    /// Access granted.
    Granted,
    /// Refused with this answer (401 or 403).
    Refused(u16, Action),
    /// Answer now whatever `satisfy` says (ask the auth server, 500, 503).
    Final(Action),
}

impl<'a> Eval<'a> {
    /// The access phase: `None` when the request may go on.
    pub(super) fn access(&mut self, probe: &dyn FileProbe) -> Option<Action> {
        if let Some(reason) = self.level.unenforced() {
            return Some(Action::Unavailable { reason });
        }
        let any = self.level.satisfy_any;
        // nginx's `r->access_code` under `satisfy any`.
        let mut refused: Option<(u16, Action)> = None;
        for check in 0..3 {
            let verdict = match check {
                0 => self.allow_deny(),
                1 => self.basic(),
                _ => self.auth_request(probe),
            };
            match verdict {
                Verdict::Declined => {}
                Verdict::Granted if any => return None,
                Verdict::Granted => {}
                Verdict::Refused(_, answer) if !any => return Some(answer),
                Verdict::Refused(code, answer) => {
                    if refused.as_ref().is_none_or(|(c, _)| *c != 401) {
                        refused = Some((code, answer));
                    }
                }
                Verdict::Final(answer) => return Some(answer),
            }
        }
        refused.map(|(_, answer)| answer)
    }

    fn allow_deny(&mut self) -> Verdict {
        let ip = self.remote_ip();
        match self
            .level
            .access
            .iter()
            .find(|rule| rule.net.is_none_or(|n| n.contains(ip)))
        {
            None => Verdict::Declined,
            Some(rule) if rule.allow => Verdict::Granted,
            Some(_) => {
                // nginx logs the refusal only under `satisfy all`.
                if !self.level.satisfy_any {
                    self.errors.push("access forbidden by rule".to_string());
                }
                Verdict::Refused(403, Action::Deny { status: 403 })
            }
        }
    }

    fn basic(&mut self) -> Verdict {
        match self.level.basic_auth() {
            None => Verdict::Declined,
            Some(AuthRule::Basic { realm, users }) => {
                match users.check_header(self.header("authorization")) {
                    BasicCheck::Granted => return Verdict::Granted,
                    BasicCheck::NoCredentials => {}
                    BasicCheck::UnknownUser(user) => self.errors.push(format!(
                        "user \"{}\" was not found in \"{}\"",
                        log_safe(&user),
                        users.source()
                    )),
                    BasicCheck::Mismatch(user) => self
                        .errors
                        .push(format!("user \"{}\": password mismatch", log_safe(&user))),
                }
                Verdict::Refused(401, Action::Unauthorized { realm })
            }
            Some(AuthRule::Unavailable(reason)) => Verdict::Final(Action::Unavailable { reason }),
        }
    }

    fn auth_request(&mut self, probe: &dyn FileProbe) -> Verdict {
        let Some(uri) = self.level.auth_request_uri().map(str::to_owned) else {
            return Verdict::Declined;
        };
        if self.in_subrequest {
            // nginx nests the subrequest until its "subrequests cycle" limit
            // and fails with 500.
            return Verdict::Final(server_error());
        }
        // The subrequest runs every time (also when applying the answer):
        // its `set`s change the shared variables, as in nginx.
        let target = self.subrequest(&uri, probe);
        let (status, headers): (u16, &'a [(String, String)]) = match (self.auth, target) {
            (Some(outcome), _) if outcome.uri == uri => (outcome.status, &outcome.headers),
            // The configuration changed between the two steps: the answer
            // is for another auth_request. Fail closed.
            (Some(_), _) => return Verdict::Final(server_error()),
            (None, Ok(target)) => {
                return Verdict::Final(Action::Authenticate(Box::new(AuthRequest { uri, target })))
            }
            // The subrequest was answered without an auth server
            // (`return 200`, a refusal, no such location).
            (None, Err(status)) => (status, &[]),
        };
        self.apply_auth_outcome(status, headers)
    }

    /// `auth_request_set` (its `$upstream_http_*` read the auth response's
    /// headers), then nginx's mapping of the subrequest status.
    fn apply_auth_outcome(&mut self, status: u16, headers: &'a [(String, String)]) -> Verdict {
        let sets = self.level.auth_request_set.clone();
        self.upstream_headers = Some(headers);
        let values: Vec<(String, String)> = sets
            .iter()
            .map(|(name, value)| (name.clone(), value.render(&*self)))
            .collect();
        self.upstream_headers = None;
        self.vars.extend(values);
        match status {
            200..=299 => Verdict::Granted,
            401 => {
                // nginx copies the auth server's WWW-Authenticate to the reply.
                for (name, value) in headers {
                    if name.eq_ignore_ascii_case("www-authenticate") {
                        self.auth_headers.push(HeaderRule {
                            name: "WWW-Authenticate".to_string(),
                            value: value.clone(),
                            always: true,
                        });
                    }
                }
                Verdict::Refused(401, plain(401))
            }
            403 => Verdict::Refused(403, plain(403)),
            _ => Verdict::Final(server_error()),
        }
    }

    /// Routes the `auth_request` subrequest for `uri` through the server's
    /// locations (internal ones included) and returns its upstream, or the
    /// status it answers with when it does not go to one.
    fn subrequest(&mut self, uri: &str, probe: &dyn FileProbe) -> Result<ProxyTarget, u16> {
        let saved = Saved::take(self);
        let (path, args) = super::uri::split(uri);
        self.uri = path.to_string();
        self.args = args.to_string();
        self.uri_changed = true;
        self.location_valid = true;
        self.in_subrequest = true;
        self.searches = 0;
        let action = self.run_request(probe, Entry::Server);
        saved.restore(self);
        match action {
            Action::Proxy(mut target) => {
                target.method = Some("GET".to_string());
                Ok(target)
            }
            Action::Return { status, .. } | Action::Deny { status } => Err(status),
            Action::Unauthorized { .. } => Err(401),
            Action::NotFound => Err(404),
            // gRPC, files, FastCGI, anything moat cannot ask: 500 to the client.
            _ => Err(500),
        }
    }
}

/// The main request's state a subrequest changes, put back after it.
struct Saved {
    uri: String,
    args: String,
    uri_changed: bool,
    location_valid: bool,
    level: std::sync::Arc<crate::conf::compile::level::Level>,
    location: Option<std::sync::Arc<crate::conf::decision::LocationRef>>,
    captures: Vec<Option<String>>,
    proxy_host: String,
    proxy_port: String,
    rewrote: bool,
    searches: usize,
}

impl Saved {
    fn take(ev: &mut Eval<'_>) -> Saved {
        Saved {
            uri: std::mem::take(&mut ev.uri),
            args: std::mem::take(&mut ev.args),
            uri_changed: ev.uri_changed,
            location_valid: ev.location_valid,
            level: ev.level.clone(),
            location: ev.location.clone(),
            captures: ev.captures.clone(),
            proxy_host: std::mem::take(&mut ev.proxy_host),
            proxy_port: std::mem::take(&mut ev.proxy_port),
            rewrote: ev.rewrote,
            searches: ev.searches,
        }
    }

    fn restore(self, ev: &mut Eval<'_>) {
        ev.uri = self.uri;
        ev.args = self.args;
        ev.uri_changed = self.uri_changed;
        ev.location_valid = self.location_valid;
        ev.level = self.level;
        ev.location = self.location;
        ev.captures = self.captures;
        ev.proxy_host = self.proxy_host;
        ev.proxy_port = self.proxy_port;
        ev.rewrote = self.rewrote;
        ev.searches = self.searches;
        ev.in_subrequest = false;
    }
}

fn plain(status: u16) -> Action {
    Action::Return {
        status,
        location: None,
        body: None,
    }
}

fn server_error() -> Action {
    plain(500)
}

/// A client-chosen user name as the error log may quote it: quotes,
/// backslashes and control characters as `\xNN`, so a name cannot close the
/// quote and forge the `client:` field fail2ban bans (nginx writes it raw).
fn log_safe(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for c in user.chars() {
        if c.is_control() || c == '"' || c == '\\' {
            for b in c.to_string().bytes() {
                out.push_str(&format!("\\x{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}
