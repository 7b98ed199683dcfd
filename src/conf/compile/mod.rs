//! Turns the assembled directive tree into a typed [`RouteTable`]: every
//! argument is parsed and every regex compiled here, so a bad value fails
//! the load instead of the first request.

mod blocks;
pub(crate) mod contexts;
mod directives;
pub(crate) mod level;
mod location_block;
pub(crate) mod script;
mod tls_policy;
pub(crate) mod values;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ast::Directive;
use super::error::ConfError;
use super::htpasswd::Htpasswd;
use super::include::map_path;
use super::no_effect::NoEffect;
use super::route_table::RouteTable;
use super::variables::named_groups;

/// State of one compilation.
pub(crate) struct Compiler<'a> {
    pub config_dir: &'a Path,
    /// Every user variable defined anywhere (nginx: defined once, known everywhere).
    pub declared: HashSet<String>,
    pub errors: Vec<ConfError>,
    /// Directives accepted without effect, in reading order.
    pub ignored: Vec<NoEffect>,
    pub warnings: Vec<String>,
    htpasswd: HashMap<PathBuf, Arc<Htpasswd>>,
}

/// The compiled table, the warnings found on the way and the directives
/// that have no effect.
pub(crate) fn compile(
    config_dir: &Path,
    tree: &[Directive],
) -> Result<(RouteTable, Vec<String>, Vec<NoEffect>), Vec<ConfError>> {
    let mut c = Compiler {
        config_dir,
        declared: HashSet::new(),
        errors: Vec::new(),
        ignored: Vec::new(),
        warnings: Vec::new(),
        htpasswd: HashMap::new(),
    };
    declare(tree, &mut c.declared);
    let table = c.main(tree);
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    let warnings = std::mem::take(&mut c.warnings);
    Ok((table, warnings, std::mem::take(&mut c.ignored)))
}

/// Collects the names of all user variables: `set`, `map`, `auth_request_set`,
/// `set_escape_uri`, and named captures of every regex.
fn declare(tree: &[Directive], out: &mut HashSet<String>) {
    for d in tree {
        let arg = |i: usize| d.args.get(i).map(|a| a.value.as_str()).unwrap_or("");
        match d.name.as_str() {
            "set" | "auth_request_set" | "set_escape_uri" => {
                if let Some(v) = arg(0).strip_prefix('$') {
                    out.insert(v.to_string());
                }
            }
            "map" => {
                if let Some(v) = arg(1).strip_prefix('$') {
                    out.insert(v.to_string());
                }
            }
            "server_name" | "location" | "if" | "rewrite" => {
                for a in &d.args {
                    out.extend(named_groups(&a.value));
                }
            }
            _ => {}
        }
        if let Some(block) = &d.block {
            declare(block, out);
        }
    }
}

impl Compiler<'_> {
    /// Records a directive that is accepted without effect.
    pub(crate) fn note_ignored(&mut self, d: &Directive) {
        let here = NoEffect {
            name: d.name.clone(),
            file: d.span.file.as_ref().clone(),
            line: d.span.line,
            access: contexts::unenforced_access_guard(d),
        };
        if !self.ignored.contains(&here) {
            self.ignored.push(here);
        }
    }

    /// Reads an `auth_basic_user_file` once per load.
    fn htpasswd(&mut self, arg: &super::ast::Arg) -> Result<Arc<Htpasswd>, ConfError> {
        let path = map_path(self.config_dir, &arg.value);
        if let Some(h) = self.htpasswd.get(&path) {
            return Ok(h.clone());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfError::at(
                &arg.span,
                format!(
                    "auth_basic_user_file {}: cannot read {}: {e}",
                    arg.value,
                    path.display()
                ),
            )
        })?;
        let (users, problems) = Htpasswd::parse(&text);
        for p in problems {
            self.warnings.push(format!("{}: {p}", path.display()));
        }
        let users = Arc::new(users.named(&arg.value));
        self.htpasswd.insert(path, users.clone());
        Ok(users)
    }
}
