//! Runs rewrite-phase statements for one request.

use std::borrow::Cow;
use std::path::Path;

use super::context::Eval;
use super::uri::escape_component;
use super::FileProbe;
use crate::conf::compile::script::{Cond, RewriteFlag, Stmt};
use crate::conf::decision::Action;
use crate::conf::include::map_path;
use crate::conf::variables::VarSource;

/// How a statement list ended.
#[derive(Debug)]
pub(crate) enum Flow {
    /// Ran to the end.
    Done,
    /// `break` or `rewrite ... break`: stay in this location.
    Stop,
    /// `rewrite ... last`: search locations again.
    Last,
    /// `return` or a redirecting `rewrite`.
    Respond(Box<Action>),
}

impl<'a> Eval<'a> {
    /// Runs `stmts` in order.
    pub(crate) fn run(&mut self, stmts: &'a [Stmt], probe: &dyn FileProbe) -> Flow {
        for s in stmts {
            match s {
                Stmt::Set {
                    name,
                    value,
                    escape,
                } => {
                    // A constant is borrowed from the conf, not rendered.
                    let v = match value.literal() {
                        Some(text) if !*escape => Cow::Borrowed(text),
                        _ if *escape => Cow::Owned(escape_component(&value.render(self))),
                        _ => Cow::Owned(value.render(self)),
                    };
                    self.vars.set(Cow::Borrowed(name), v);
                }
                Stmt::Break => return Flow::Stop,
                Stmt::Return { status, text } => {
                    let text = text.as_ref().map(|t| t.render(self));
                    return Flow::Respond(Box::new(self.respond(*status, text)));
                }
                Stmt::If { cond, body, level } => {
                    if !self.test(cond, probe) {
                        continue;
                    }
                    if let Some(level) = level {
                        self.level = level.clone();
                    }
                    match self.run(body, probe) {
                        Flow::Done => {}
                        other => return other,
                    }
                }
                Stmt::Rewrite {
                    re,
                    replacement,
                    split,
                    flag,
                    absolute,
                    drop_args,
                } => {
                    let Some(caps) = re.captures(&self.uri) else {
                        continue;
                    };
                    self.captures = caps
                        .iter()
                        .map(|m| m.map(|m| m.as_str().to_string()))
                        .collect();
                    for n in re.capture_names().flatten() {
                        if let Some(m) = caps.name(n) {
                            self.vars
                                .set(Cow::Borrowed(n), Cow::Owned(m.as_str().to_string()));
                        }
                    }
                    if *absolute || matches!(flag, RewriteFlag::Redirect | RewriteFlag::Permanent) {
                        let mut location = replacement.render(self);
                        if !*drop_args && !self.args.is_empty() {
                            location.push(if location.contains('?') { '&' } else { '?' });
                            location.push_str(&self.args);
                        }
                        let status = if *flag == RewriteFlag::Permanent {
                            301
                        } else {
                            302
                        };
                        return Flow::Respond(Box::new(self.respond(status, Some(location))));
                    }
                    // Only a `?` written in the replacement starts new
                    // arguments: a decoded `%3F` captured from the URI stays
                    // in the path (and is escaped again for the upstream).
                    match split {
                        Some((path, args)) => {
                            let path = path.render(self);
                            let mut a = args.render(self);
                            if !*drop_args && !self.args.is_empty() {
                                a.push('&');
                                a.push_str(&self.args);
                            }
                            self.uri = path;
                            self.args = a;
                        }
                        None => {
                            self.uri = replacement.render(self);
                            if *drop_args {
                                self.args.clear();
                            }
                        }
                    }
                    if self.uri.is_empty() {
                        // nginx: "the rewritten URI has a zero length" → 500.
                        return Flow::Respond(Box::new(self.respond(500, None)));
                    }
                    self.uri_changed = true;
                    self.rewrote = true;
                    match flag {
                        RewriteFlag::Break => {
                            self.location_valid = false;
                            return Flow::Stop;
                        }
                        RewriteFlag::Last => return Flow::Last,
                        _ => {}
                    }
                }
            }
        }
        Flow::Done
    }

    fn test(&mut self, cond: &'a Cond, probe: &dyn FileProbe) -> bool {
        match cond {
            Cond::Truthy(t) => {
                let v = t.render(self);
                !v.is_empty() && v != "0"
            }
            Cond::Eq { lhs, rhs, neg } => (lhs.render(self) == rhs.render(self)) != *neg,
            Cond::Match { lhs, re, neg } => {
                let v = lhs.render(self);
                match re.captures(&v) {
                    Some(caps) => {
                        if !*neg {
                            self.captures = caps
                                .iter()
                                .map(|m| m.map(|m| m.as_str().to_string()))
                                .collect();
                            for n in re.capture_names().flatten() {
                                if let Some(m) = caps.name(n) {
                                    self.vars
                                        .set(Cow::Borrowed(n), Cow::Owned(m.as_str().to_string()));
                                }
                            }
                        }
                        !*neg
                    }
                    None => *neg,
                }
            }
            Cond::File { path, test, neg } => {
                let written = path.render(self);
                let real = map_path(&self.table.config_dir, &written);
                probe.test(Path::new(&real), *test) != *neg
            }
        }
    }

    /// The action for `return STATUS [TEXT]`.
    pub(crate) fn respond(&self, status: u16, text: Option<String>) -> Action {
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let location = text.map(|t| self.absolute(&t));
            return Action::Return {
                status,
                location,
                body: None,
            };
        }
        Action::Return {
            status,
            location: None,
            body: text,
        }
    }

    /// nginx's `absolute_redirect on`: a relative Location gets the scheme,
    /// the request's host and (when not the scheme default) the port.
    pub(crate) fn absolute(&self, loc: &str) -> String {
        if !loc.starts_with('/') {
            return loc.to_string();
        }
        let scheme = self.scheme();
        let port = self.req.server_port;
        let default = if self.req.tls { 443 } else { 80 };
        let host = if self.host.is_empty() {
            self.get(&crate::conf::variables::Var::Builtin(
                crate::conf::variables::Builtin::ServerName,
            ))
            .into_owned()
        } else {
            self.host.clone()
        };
        if port == default {
            format!("{scheme}://{host}{loc}")
        } else {
            format!("{scheme}://{host}:{port}{loc}")
        }
    }
}
