//! nginx's pre-content work for files: `try_files` (its own phase, after
//! access) and the index module's lookup (the static content handler of a
//! URI ending in `/`). Both may change `$uri` and start the phases again
//! (an internal redirect, so `internal` locations are reachable and every
//! location, `deny` ones included, is matched again), which is why they
//! are decided here rather than by the file server: `/sub/` whose
//! `index.html` a `location ~ \.html$ { deny all; }` protects is denied,
//! as in nginx. Files are tested through the [`FileProbe`].
//!
//! Stricter than nginx on purpose: a name holding NUL, a backslash or a
//! `..` segment (a `$arg_` can carry one) is never tested, it just does
//! not exist; symlinks that leave the root are refused later by the file
//! server.

use super::context::Eval;
use super::{Entry, FileProbe, MAX_URI_CHANGES};
use crate::conf::compile::level::TryLast;
use crate::conf::compile::script::FileTest;
use crate::conf::decision::Action;
use crate::conf::include::map_path;
use crate::conf::variables::VarSource;

/// What the pre-content step decided.
pub(super) enum Next<'t> {
    /// Go on to the content handler (with `$uri` as it now is).
    Content,
    /// Run the phases again from there (an internal redirect).
    Again(Entry<'t>),
    /// Answer with this.
    Answer(Box<Action>),
}

impl<'a> Eval<'a> {
    /// `try_files`, then the index lookup; run after the access phase.
    pub(super) fn precontent(&mut self, probe: &dyn FileProbe) -> Next<'a> {
        if let Some(tf) = self.level.try_files.clone() {
            let mut found = false;
            for t in &tf.tries {
                let name = t.name.render(self as &dyn VarSource);
                let test = if t.dir { FileTest::Dir } else { FileTest::File };
                if self.exists_as(&name, test, probe, true) {
                    // nginx's `r->uri = path`: the name as tested, without
                    // the `/` of a directory test; same location.
                    self.uri = name;
                    found = true;
                    break;
                }
            }
            if !found {
                return match &tf.last {
                    TryLast::Code(code) => Next::Answer(Box::new(Action::Return {
                        status: *code,
                        location: None,
                        body: None,
                    })),
                    TryLast::Uri(t) => {
                        let target = t.render(self as &dyn VarSource);
                        self.redirect(target, None)
                    }
                };
            }
        }
        if self.level.handler.is_none()
            && (self.level.root.is_some() || self.level.alias.is_some())
            && self.uri.ends_with('/')
            && super::serves_files(self.method())
        {
            for name in self.level.index.clone().iter() {
                // An absolute index is redirected to without a test.
                if name.starts_with('/') {
                    return self.redirect(name.clone(), Some(self.args.clone()));
                }
                let uri = format!("{}{name}", self.uri);
                if self.exists(&uri, FileTest::File, probe) {
                    return self.redirect(uri, Some(self.args.clone()));
                }
            }
        }
        Next::Content
    }

    /// `root` + `name` (or the `alias` mapping of `name`) passes `test`
    /// (nginx joins them as text); `tried` for a `try_files` name.
    pub(super) fn exists_as(
        &self,
        name: &str,
        test: FileTest,
        probe: &dyn FileProbe,
        tried: bool,
    ) -> bool {
        let Some((root, path)) = self.file_path(name, tried) else {
            return false;
        };
        let real = map_path(
            &self.table.config_dir,
            &format!("{}{path}", root.trim_end_matches('/')),
        );
        probe.test(std::path::Path::new(&real), test)
    }

    /// [`Self::exists_as`] for the content handler's names (`$uri`, an index).
    pub(super) fn exists(&self, name: &str, test: FileTest, probe: &dyn FileProbe) -> bool {
        self.exists_as(name, test, probe, false)
    }

    /// Where `name` is on disk, as nginx maps it: the directory nothing may
    /// leave (`root`, or the directory part of the `alias`) and the path
    /// under it. `alias` in a prefix location replaces the location's
    /// prefix; in a regex location it is the whole path (a `try_files` name
    /// is appended to it, as nginx does). `None` for a name holding NUL, a
    /// backslash or a `..` segment, which is never looked up.
    pub(super) fn file_path(&self, name: &str, tried: bool) -> Option<(String, String)> {
        let bad = |p: &str| p.contains(['\0', '\\']) || p.split('/').any(|s| s == "..");
        let Some(alias) = &self.level.alias else {
            if bad(name) {
                return None;
            }
            let root = match &self.level.root {
                Some(r) => r.clone(),
                None => "/usr/share/nginx/html".to_string(),
            };
            return Some((root, name.to_string()));
        };
        let value = alias.value.render(self as &dyn VarSource);
        let full = match &alias.prefix {
            Some(prefix) => format!(
                "{value}{}",
                name.strip_prefix(prefix.as_str()).unwrap_or(name)
            ),
            None if tried => format!("{value}{name}"),
            None => format!(
                "{value}{}",
                name.strip_prefix(self.uri.as_str()).unwrap_or("")
            ),
        };
        // The alias' own directory: its text up to the last `/` before any
        // variable (a capture may hold anything).
        let literal: String = alias
            .value
            .parts
            .iter()
            .map_while(|p| match p {
                crate::conf::variables::Part::Lit(l) => Some(l.as_str()),
                _ => None,
            })
            .collect();
        let dir = &literal[..=literal.rfind('/')?];
        let path = format!("/{}", full.strip_prefix(dir)?);
        if bad(&path) {
            return None;
        }
        Some((dir.to_string(), path))
    }

    /// nginx's `ngx_http_internal_redirect` (or `ngx_http_named_location`
    /// for `@name`): `args` `None` splits them off `target` at its `?`
    /// (`try_files`; none means no arguments), `Some` keeps those.
    fn redirect(&mut self, target: String, args: Option<String>) -> Next<'a> {
        if let Some(name) = target.strip_prefix('@') {
            // Named locations skip the location search that counts the
            // other redirects.
            self.searches += 1;
            let server = self.server;
            return match server.locations.named(name) {
                Some(loc) if self.searches <= MAX_URI_CHANGES => Next::Again(Entry::Named(loc)),
                _ => Next::Answer(Box::new(server_error())),
            };
        }
        let (path, args) = match args {
            Some(a) => (target, a),
            None => match target.split_once('?') {
                Some((p, a)) => (p.to_string(), a.to_string()),
                None => (target, String::new()),
            },
        };
        self.uri = path;
        self.args = args;
        self.uri_changed = true;
        self.location_valid = true;
        Next::Again(Entry::Server)
    }
}

fn server_error() -> Action {
    Action::Return {
        status: 500,
        location: None,
        body: None,
    }
}
