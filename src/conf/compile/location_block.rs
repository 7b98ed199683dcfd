//! `location` blocks: modifiers, nesting rules (nginx's "is outside
//! location" and "cannot have inner locations"), and the two-pass compile
//! shared with servers.

use std::sync::Arc;

use super::blocks::{is_script, Pending};
use super::contexts::LOC;
use super::directives::LocationInfo;
use super::level::{AuthRule, Level, OwnArrays};
use super::script;
use super::Compiler;
use crate::conf::ast::Directive;
use crate::conf::decision::LocationRef;
use crate::conf::error::ConfError;
use crate::conf::locations::{LocKind, Location, LocationSet};

impl Compiler<'_> {
    /// Compiles the `location` blocks among `block`'s directives.
    pub(super) fn locations(
        &mut self,
        block: &[Directive],
        parent: &Level,
        outer: Option<&LocKind>,
    ) -> LocationSet {
        let mut set = LocationSet::default();
        for c in block
            .iter()
            .filter(|c| c.name == "location" && c.block.is_some())
        {
            let Some(loc) = self.location(c, parent, outer) else {
                continue;
            };
            if let Err(m) = set.push(loc) {
                self.errors.push(ConfError::at(&c.span, m));
            }
        }
        set.finish();
        set
    }

    fn location(
        &mut self,
        d: &Directive,
        parent: &Level,
        outer: Option<&LocKind>,
    ) -> Option<Location> {
        let kind = self.record(location_kind(d))?;
        match (outer, &kind) {
            (Some(LocKind::Exact(_)), _) => {
                self.errors.push(ConfError::at(
                    &d.span,
                    "location \"=\" cannot have inner locations",
                ));
                return None;
            }
            (Some(LocKind::Named(_)), _) | (Some(_), LocKind::Named(_)) => {
                self.errors
                    .push(ConfError::at(&d.span, "named locations cannot be nested"));
                return None;
            }
            (
                Some(LocKind::Prefix { path: o, .. }),
                LocKind::Prefix { path: p, .. } | LocKind::Exact(p),
            ) if !p.starts_with(o.as_str()) => {
                self.errors.push(ConfError::at(
                    &d.span,
                    format!("location \"{p}\" is outside location \"{o}\""),
                ));
                return None;
            }
            _ => {}
        }
        let info = LocationInfo {
            prefix: match &kind {
                LocKind::Exact(p) | LocKind::Prefix { path: p, .. } => Some(p.clone()),
                _ => None,
            },
            no_uri_part: matches!(kind, LocKind::Regex(_) | LocKind::Named(_)),
        };
        let mut level = parent.for_location();
        let mut own = OwnArrays::default();
        let mut pending = Vec::new();
        let block = d.block.as_deref().unwrap_or_default();
        let mut seen = Vec::new();
        for c in block {
            super::blocks::guard_access(&mut level, c);
            if !self.check(c, LOC, &mut seen) {
                continue;
            }
            match c.name.as_str() {
                "location" => {}
                "if" => pending.push(Pending::If(c)),
                n if is_script(n) => {
                    if let Some(s) = self.record(self.statement(c)) {
                        pending.push(Pending::Ready(s));
                    }
                }
                _ => {
                    let r = self.apply(&mut level, &mut own, c, &info);
                    self.record(r);
                }
            }
        }
        level.merge_arrays(own);
        let unavailable = level.unenforced().or_else(|| match level.basic_auth() {
            Some(AuthRule::Unavailable(why)) => Some(why),
            _ => None,
        });
        if let Some(why) = unavailable {
            self.warnings.push(format!(
                "{}:{}: location {} answers 503: {why}",
                d.span.file.display(),
                d.span.line,
                d.args
                    .iter()
                    .map(|a| a.value.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        let script = self.finish_script(pending, Some(&level), &info);
        let children = self.locations(block, &level, Some(&kind));
        Some(Location {
            kind,
            at: Arc::new(LocationRef {
                file: d.span.file.as_ref().clone(),
                line: d.span.line,
                r#match: d
                    .args
                    .iter()
                    .map(|a| a.value.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            }),
            level: Arc::new(level),
            script,
            children,
        })
    }
}

/// Parses `location [=|^~|~|~*] URI` and `location @name`.
fn location_kind(d: &Directive) -> Result<LocKind, ConfError> {
    let regex = |p: &str, caseless, span| script::regex(p, caseless, span).map(LocKind::Regex);
    match d.args.as_slice() {
        [m, uri] => match m.value.as_str() {
            "=" => Ok(LocKind::Exact(uri.value.clone())),
            "^~" => Ok(LocKind::Prefix {
                path: uri.value.clone(),
                noregex: true,
            }),
            "~" => regex(&uri.value, false, &uri.span),
            "~*" => regex(&uri.value, true, &uri.span),
            o => Err(ConfError::at(
                &m.span,
                format!("invalid location modifier \"{o}\""),
            )),
        },
        [one] => {
            let v = one.value.as_str();
            if let Some(rest) = v.strip_prefix('=') {
                Ok(LocKind::Exact(rest.to_string()))
            } else if let Some(rest) = v.strip_prefix("^~") {
                Ok(LocKind::Prefix {
                    path: rest.to_string(),
                    noregex: true,
                })
            } else if let Some(rest) = v.strip_prefix("~*") {
                regex(rest, true, &one.span)
            } else if let Some(rest) = v.strip_prefix('~') {
                regex(rest, false, &one.span)
            } else if let Some(rest) = v.strip_prefix('@') {
                Ok(LocKind::Named(rest.to_string()))
            } else {
                Ok(LocKind::Prefix {
                    path: v.to_string(),
                    noregex: false,
                })
            }
        }
        _ => Err(ConfError::at(
            &d.span,
            "invalid number of arguments in \"location\", expected: location [=|^~|~|~*] URI",
        )),
    }
}
