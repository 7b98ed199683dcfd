//! `location` blocks and nginx's selection algorithm: an exact `=` match
//! wins at once; otherwise the longest prefix is remembered, its nested
//! locations are searched, and unless it is `^~` the regex locations are
//! tried in file order (nested ones first); the first regex that matches
//! wins, else the longest prefix does.

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;

use crate::conf::compile::level::Level;
use crate::conf::compile::script::Stmt;
use crate::conf::decision::LocationRef;

/// How a location matches.
#[derive(Debug, Clone)]
pub(crate) enum LocKind {
    /// `= /path`.
    Exact(String),
    /// `/path` or `^~ /path` (`noregex`).
    Prefix { path: String, noregex: bool },
    /// `~ re` or `~* re`.
    Regex(Regex),
    /// `@name`.
    Named(String),
}

/// One compiled location.
#[derive(Debug, Clone)]
pub(crate) struct Location {
    /// How it matches.
    pub kind: LocKind,
    /// Where it is and how it was written.
    pub at: Arc<LocationRef>,
    /// Its settings.
    pub level: Arc<Level>,
    /// Its rewrite-phase statements.
    pub script: Vec<Stmt>,
    /// Locations nested inside it.
    pub children: LocationSet,
}

/// The locations of one level (a server, or a location's nested ones).
#[derive(Debug, Clone, Default)]
pub(crate) struct LocationSet {
    pub all: Vec<Location>,
    exact: HashMap<String, usize>,
    prefixes: Vec<usize>,
    regexes: Vec<usize>,
    named: HashMap<String, usize>,
    /// Exact and prefix locations whose name ends in `/` and that pass to
    /// an upstream (nginx's `auto_redirect`): the name without its slash
    /// answers 301 to the name.
    auto_redirect: Vec<usize>,
}

/// The outcome of a location search: the chain of indices from the outer
/// set down to the chosen location, plus the captures of a matching regex.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub path: Vec<usize>,
    pub captures: Option<Vec<Option<String>>>,
    pub named: Vec<(String, String)>,
    /// The URI is the chosen location's name without its trailing slash,
    /// and the location has `auto_redirect` (see [`LocationSet`]): nginx
    /// answers 301 to the name (404 if the location is `internal` and the
    /// request external) without trying regexes or running rewrites.
    pub auto_redirect: bool,
}

impl LocationSet {
    /// Adds a location; `Err` names the clash for a duplicate.
    pub(crate) fn push(&mut self, loc: Location) -> Result<(), String> {
        let i = self.all.len();
        let first = match &loc.kind {
            LocKind::Exact(p) => self.exact.get(p).copied(),
            LocKind::Prefix { path, .. } => self.prefixes.iter().copied().find(
                |&j| matches!(&self.all[j].kind, LocKind::Prefix { path: q, .. } if q == path),
            ),
            LocKind::Regex(_) => None,
            LocKind::Named(n) => self.named.get(n).copied(),
        };
        if let Some(j) = first {
            let name = match &loc.kind {
                LocKind::Exact(p) | LocKind::Prefix { path: p, .. } => p.clone(),
                LocKind::Named(n) => format!("@{n}"),
                LocKind::Regex(r) => r.as_str().to_string(),
            };
            let at = &self.all[j].at;
            return Err(format!(
                "duplicate location \"{name}\"; the first is at {}:{}",
                at.file.display(),
                at.line
            ));
        }
        if let LocKind::Exact(p) | LocKind::Prefix { path: p, .. } = &loc.kind {
            if p.ends_with('/') && loc.level.handler.is_some() {
                self.auto_redirect.push(i);
            }
        }
        match &loc.kind {
            LocKind::Exact(p) => {
                self.exact.insert(p.clone(), i);
            }
            LocKind::Prefix { .. } => self.prefixes.push(i),
            LocKind::Regex(_) => self.regexes.push(i),
            LocKind::Named(n) => {
                self.named.insert(n.clone(), i);
            }
        }
        self.all.push(loc);
        Ok(())
    }

    /// Sorts prefixes longest first, once all are added.
    pub(crate) fn finish(&mut self) {
        let all = &self.all;
        self.prefixes.sort_by_key(|&j| match &all[j].kind {
            LocKind::Prefix { path, .. } => std::cmp::Reverse(path.len()),
            _ => std::cmp::Reverse(0),
        });
    }

    /// nginx's `ngx_http_core_find_location` for `uri`.
    pub(crate) fn find(&self, uri: &str) -> Found {
        let mut found = Found::default();
        self.find_into(uri, &mut found);
        found
    }

    /// Returns `true` when the search is final (exact or regex match).
    fn find_into(&self, uri: &str, found: &mut Found) -> bool {
        let depth = found.path.len();
        if let Some(&i) = self.exact.get(uri) {
            found.path.push(i);
            return true;
        }
        // nginx's static tree search ends here with NGX_DONE (no nested or
        // regex location is tried), unless a prefix location is named
        // exactly as the URI: the tree meets that one first.
        let prefix = self.longest_prefix(uri);
        let named_as_uri = prefix.is_some_and(|i| {
            matches!(&self.all[i].kind, LocKind::Prefix { path, .. } if path.len() == uri.len())
        });
        if let Some(i) = (!named_as_uri).then_some(()).and_then(|()| {
            self.auto_redirect.iter().copied().find(|&j| {
                matches!(&self.all[j].kind, LocKind::Exact(p) | LocKind::Prefix { path: p, .. }
                if p.len() == uri.len() + 1 && p.starts_with(uri))
            })
        }) {
            found.path.push(i);
            found.auto_redirect = true;
            return true;
        }
        let mut noregex = false;
        if let Some(i) = prefix {
            found.path.push(i);
            let loc = &self.all[i];
            if let LocKind::Prefix { noregex: n, .. } = loc.kind {
                noregex = n;
            }
            if loc.children.find_into(uri, found) {
                return true;
            }
        }
        if noregex {
            return false;
        }
        for &i in &self.regexes {
            let LocKind::Regex(re) = &self.all[i].kind else {
                continue;
            };
            let Some(caps) = re.captures(uri) else {
                continue;
            };
            found.path.truncate(depth);
            found.path.push(i);
            found.captures = Some(
                caps.iter()
                    .map(|m| m.map(|m| m.as_str().to_string()))
                    .collect(),
            );
            found.named = re
                .capture_names()
                .flatten()
                .filter_map(|n| {
                    caps.name(n)
                        .map(|m| (n.to_string(), m.as_str().to_string()))
                })
                .collect();
            self.all[i].children.find_into(uri, found);
            return true;
        }
        false
    }

    fn longest_prefix(&self, uri: &str) -> Option<usize> {
        self.prefixes.iter().copied().find(|&j| {
            matches!(&self.all[j].kind, LocKind::Prefix { path, .. } if uri.starts_with(path.as_str()))
        })
    }

    /// The named location `@name` of this set (`name` without the `@`).
    pub(crate) fn named(&self, name: &str) -> Option<&Location> {
        self.named.get(name).map(|&i| &self.all[i])
    }

    /// Follows a path of indices from this set to a location.
    pub(crate) fn resolve(&self, path: &[usize]) -> Option<&Location> {
        let (&first, rest) = path.split_first()?;
        let mut loc = self.all.get(first)?;
        for &i in rest {
            loc = loc.children.all.get(i)?;
        }
        Some(loc)
    }
}
