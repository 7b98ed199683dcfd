//! The block directives: `http`, `server`, `location`, `if`, `map`. Each
//! block is compiled in two passes: its own simple directives first (their
//! position does not matter in nginx), then the nested blocks, which inherit
//! the finished level.

use std::sync::Arc;

use super::contexts::{specs, Arity, Ctx, Status, EVENTS, HTTP, LIF, MAIN, SIF, SRV};
use super::directives::LocationInfo;
use super::level::{Level, OwnArrays};
use super::script::{self, Stmt};
use super::values::{self, ListenSpec};
use super::Compiler;
use crate::conf::ast::Directive;
use crate::conf::decision::ServerRef;
use crate::conf::error::ConfError;
use crate::conf::maps::MapDef;
use crate::conf::route_table::{RouteTable, Server};
use crate::conf::server_names::Name;

/// A rewrite-phase statement whose `if` blocks are compiled after the level.
pub(super) enum Pending<'d> {
    /// Compiled.
    Ready(Stmt),
    /// An `if` block, compiled once the enclosing level is complete.
    If(&'d Directive),
}

pub(super) fn is_script(name: &str) -> bool {
    matches!(
        name,
        "set" | "rewrite" | "return" | "break" | "set_escape_uri"
    )
}

impl Compiler<'_> {
    /// Checks a directive the way `ngx_conf_handler` does: known name,
    /// allowed context, `{` or `;`, argument count, `on`/`off` for flags,
    /// and no second copy of a directive nginx refuses to repeat in one
    /// block (`seen` holds the names already met in this block). `true`
    /// when the caller should compile it; errors are recorded, directives
    /// without effect are noted for the load's summary.
    pub(super) fn check(&mut self, d: &Directive, ctx: Ctx, seen: &mut Vec<String>) -> bool {
        let Some(rows) = specs(&d.name) else {
            self.errors.push(ConfError::at(
                &d.span,
                format!("unknown directive \"{}\"", d.name),
            ));
            return false;
        };
        let Some(spec) = rows.iter().find(|s| s.contexts & ctx != 0) else {
            self.errors.push(ConfError::at(
                &d.span,
                format!("\"{}\" directive is not allowed here", d.name),
            ));
            return false;
        };
        if !spec.block && d.block.is_some() {
            self.errors.push(ConfError::at(
                &d.span,
                format!("directive \"{}\" is not terminated by \";\"", d.name),
            ));
            return false;
        }
        if spec.block && d.block.is_none() {
            self.errors.push(ConfError::at(
                &d.span,
                format!("directive \"{}\" has no opening \"{{\"", d.name),
            ));
            return false;
        }
        if !spec.args.allows(d.args.len()) {
            self.errors.push(ConfError::at(
                &d.span,
                format!("invalid number of arguments in \"{}\" directive", d.name),
            ));
            return false;
        }
        if spec.args == Arity::Flag {
            let v = &d.args[0];
            if !v.value.eq_ignore_ascii_case("on") && !v.value.eq_ignore_ascii_case("off") {
                self.errors.push(ConfError::at(
                    &v.span,
                    format!(
                        "invalid value \"{}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                        v.value, d.name
                    ),
                ));
                return false;
            }
        }
        if spec.once {
            if seen.contains(&d.name) {
                self.errors.push(ConfError::at(
                    &d.span,
                    format!("\"{}\" directive is duplicate", d.name),
                ));
                return false;
            }
            seen.push(d.name.clone());
        }
        match spec.status {
            Status::Implemented => true,
            Status::Refused => {
                self.errors.push(ConfError::at(
                    &d.span,
                    format!("\"{}\" blocks are not supported by moat", d.name),
                ));
                false
            }
            Status::Cosmetic | Status::Access => {
                if let Err(e) = super::tls_policy::check(d) {
                    self.errors.push(e);
                    return false;
                }
                self.note_ignored(d);
                false
            }
        }
    }

    pub(super) fn record<T>(&mut self, r: Result<T, ConfError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// The top level of nginx.conf.
    pub(crate) fn main(&mut self, tree: &[Directive]) -> RouteTable {
        let mut servers = Vec::new();
        let mut maps = crate::conf::fx_hash::FxHashMap::default();
        let mut seen = Vec::new();
        for d in tree {
            if !self.check(d, MAIN, &mut seen) {
                continue;
            }
            match d.name.as_str() {
                "http" => self.http(d, &mut servers, &mut maps),
                "events" => {
                    let mut seen = Vec::new();
                    for c in d.block.as_deref().unwrap_or_default() {
                        self.check(c, EVENTS, &mut seen);
                    }
                }
                _ => {}
            }
        }
        RouteTable::build(self, servers, maps)
    }

    fn http(
        &mut self,
        d: &Directive,
        servers: &mut Vec<Server>,
        maps: &mut crate::conf::fx_hash::FxHashMap<String, MapDef>,
    ) {
        let mut level = Level::default();
        let mut own = OwnArrays::default();
        let block = d.block.as_deref().unwrap_or_default();
        self.declare_zones(block);
        let mut seen = Vec::new();
        for c in block {
            guard_access(&mut level, c);
            if !self.check(c, HTTP, &mut seen) {
                continue;
            }
            match c.name.as_str() {
                "server" => {}
                n if is_script(n) => self.errors.push(ConfError::at(
                    &c.span,
                    format!("moat implements \"{n}\" only inside server, location and if blocks"),
                )),
                "map" => {
                    if let Some((name, map)) = self.record(MapDef::compile(c, &self.declared)) {
                        maps.insert(name, map);
                    }
                }
                _ => {
                    let r = self.apply(&mut level, &mut own, c, &LocationInfo::default());
                    self.record(r);
                }
            }
        }
        level.merge_arrays(own);
        for c in block
            .iter()
            .filter(|c| c.name == "server" && c.block.is_some())
        {
            let s = self.server(c, &level);
            servers.push(s);
        }
    }

    fn server(&mut self, d: &Directive, parent: &Level) -> Server {
        let mut level = parent.clone();
        let mut own = OwnArrays::default();
        let mut listens: Vec<ListenSpec> = Vec::new();
        let mut names: Vec<(String, Option<Name>)> = Vec::new();
        let mut pending = Vec::new();
        let block = d.block.as_deref().unwrap_or_default();
        let mut seen = Vec::new();
        for c in block {
            guard_access(&mut level, c);
            if !self.check(c, SRV, &mut seen) {
                continue;
            }
            match c.name.as_str() {
                "location" => {}
                "listen" => {
                    let args: Vec<&str> = c.args.iter().map(|a| a.value.as_str()).collect();
                    match values::listen(&args) {
                        Ok(Some(l)) => listens.push(l),
                        Ok(None) => {}
                        Err(m) => self.errors.push(ConfError::at(&c.span, m)),
                    }
                }
                "server_name" => {
                    for a in &c.args {
                        let v = a.value.as_str();
                        let (shown, dotted) = match v.strip_prefix('.') {
                            Some(rest) if !v.starts_with("..") => (rest, true),
                            _ => (v, false),
                        };
                        match Name::parse(shown) {
                            Ok(n) => {
                                if dotted {
                                    names.push((
                                        v.to_string(),
                                        Name::parse(&format!("*.{shown}")).ok().flatten(),
                                    ));
                                }
                                names.push((v.to_string(), n));
                            }
                            Err(m) => self.errors.push(ConfError::at(&a.span, m)),
                        }
                    }
                }
                "if" => pending.push(Pending::If(c)),
                n if is_script(n) => {
                    if let Some(s) = self.record(self.statement(c)) {
                        pending.push(Pending::Ready(s));
                    }
                }
                _ => {
                    let r = self.apply(&mut level, &mut own, c, &LocationInfo::default());
                    self.record(r);
                }
            }
        }
        level.merge_arrays(own);
        if listens.is_empty() {
            listens.push(
                values::listen(&["80"])
                    .ok()
                    .flatten()
                    .expect("80 is a valid listen"),
            );
        }
        let script = self.finish_script(pending, None, &LocationInfo::default());
        let locations = self.locations(block, &level, None);
        let mut shown: Vec<String> = Vec::new();
        for (w, _) in &names {
            if !shown.contains(w) {
                shown.push(w.clone());
            }
        }
        let client_verify = match crate::conf::client_cert::ClientVerify::load(&level.client_verify)
        {
            Ok(v) => v.map(Arc::new),
            Err(m) => {
                self.errors.push(ConfError::at(&d.span, m));
                None
            }
        };
        Server {
            client_verify,
            at: Arc::new(ServerRef {
                file: d.span.file.as_ref().clone(),
                line: d.span.line,
                names: shown,
            }),
            listens,
            name_matchers: names.into_iter().filter_map(|(_, n)| n).collect(),
            level: Arc::new(level),
            script,
            locations,
        }
    }

    pub(super) fn statement(&self, d: &Directive) -> Result<Stmt, ConfError> {
        match d.name.as_str() {
            "set" | "set_escape_uri" => script::set(d, &self.declared),
            "rewrite" => script::rewrite(d, &self.declared),
            "return" => script::ret(d, &self.declared),
            _ => {
                if d.args.is_empty() {
                    Ok(Stmt::Break)
                } else {
                    Err(ConfError::at(&d.span, "\"break\" takes no arguments"))
                }
            }
        }
    }

    pub(super) fn finish_script(
        &mut self,
        pending: Vec<Pending<'_>>,
        loc_level: Option<&Level>,
        info: &LocationInfo,
    ) -> Vec<Stmt> {
        let mut out = Vec::new();
        for p in pending {
            match p {
                Pending::Ready(s) => out.push(s),
                Pending::If(d) => {
                    if let Some(s) = self.if_block(d, loc_level, info) {
                        out.push(s);
                    }
                }
            }
        }
        out
    }

    fn if_block(
        &mut self,
        d: &Directive,
        loc_level: Option<&Level>,
        info: &LocationInfo,
    ) -> Option<Stmt> {
        let cond = self.record(script::condition(d, &self.declared))?;
        let ctx = if loc_level.is_some() { LIF } else { SIF };
        let mut level = loc_level.cloned().unwrap_or_default();
        let mut own = OwnArrays::default();
        let mut body = Vec::new();
        let info = LocationInfo {
            prefix: info.prefix.clone(),
            no_uri_part: true,
        };
        let mut seen = Vec::new();
        for c in d.block.as_deref().unwrap_or_default() {
            guard_access(&mut level, c);
            if !self.check(c, ctx, &mut seen) {
                continue;
            }
            if is_script(&c.name) {
                if let Some(s) = self.record(self.statement(c)) {
                    body.push(s);
                }
            } else {
                let r = self.apply(&mut level, &mut own, c, &info);
                self.record(r);
            }
        }
        level.merge_arrays(own);
        Some(Stmt::If {
            cond,
            body,
            level: loc_level.map(|_| Arc::new(level)),
        })
    }
}

/// Marks `level` as guarded by `d` when `d` is an access-control directive
/// moat cannot enforce (see [`super::contexts::unenforced_access_guard`]).
pub(super) fn guard_access(level: &mut Level, d: &Directive) {
    if super::contexts::unenforced_access_guard(d) {
        let file = d
            .span
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        level.unenforced_guard = Some(Arc::from(format!("{} at {file}:{}", d.name, d.span.line)));
    }
}
