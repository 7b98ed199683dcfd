//! The I/O shell of loading: reads `<config>/nginx/nginx.conf` and splices
//! every `include` in place, the way SWAG's nginx does it.
//!
//! Paths under `/config` map onto the given config directory, relative paths
//! are relative to `<config>/nginx`, glob patterns expand in byte order, a
//! glob that matches nothing is fine and a missing literal file is an error
//! naming the including file and line. nginx's own system files
//! (`/etc/nginx/mime.types`, `/etc/nginx/modules/*.conf`, ...) are built in:
//! they are skipped with a warning.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::ast::Directive;
use super::error::ConfError;
use super::parser::parse;

/// Where an absolute path in a conf points on this machine.
pub(crate) fn map_path(config_dir: &Path, written: &str) -> PathBuf {
    if written == "/config" {
        return config_dir.to_path_buf();
    }
    if let Some(rest) = written.strip_prefix("/config/") {
        return config_dir.join(rest);
    }
    if written.starts_with('/') {
        return PathBuf::from(written);
    }
    config_dir.join("nginx").join(written)
}

/// `true` for nginx's own files that a SWAG nginx.conf includes and that
/// carry nothing moat needs (MIME types, dynamic modules, distro snippets).
fn is_system_file(written: &str) -> bool {
    written.starts_with("/etc/nginx/") || written == "fastcgi_params" || written == "mime.types"
}

/// The result of reading a config tree: one directive tree with every
/// include spliced in, the files read, and warnings.
pub(crate) struct Assembled {
    /// Top-level directives of nginx.conf, includes expanded.
    pub directives: Vec<Directive>,
    /// Every file read, in reading order.
    pub files: Vec<PathBuf>,
    /// `file:line: message` lines.
    pub warnings: Vec<String>,
    /// Syntax and include errors; the rest of the tree is still returned
    /// so that compiling it can report its own errors in the same run.
    pub errors: Vec<ConfError>,
}

/// Reads `<conf_root>/nginx/nginx.conf` and everything it includes, with
/// `/config/...` and relative include paths mapped onto `conf_root`
/// (normally the config directory; a saved copy of its confs otherwise).
pub(crate) fn assemble(conf_root: &Path) -> Result<Assembled, Vec<ConfError>> {
    assemble_over(conf_root, &Overlay::new())
}

/// Files that stand in for what is on disk during one load: `Some(text)`
/// is read instead of the file at that path (and is listed by a glob over
/// its folder even when absent from disk), `None` as if it did not exist.
/// Lets a writer (Docker discovery) check a tree before changing it.
pub type Overlay = std::collections::BTreeMap<PathBuf, Option<String>>;

/// Like [`assemble`], with `overlay` standing in for the files it names.
pub(crate) fn assemble_over(
    conf_root: &Path,
    overlay: &Overlay,
) -> Result<Assembled, Vec<ConfError>> {
    let root = conf_root.join("nginx").join("nginx.conf");
    let mut st = State {
        config_dir: conf_root,
        overlay,
        parsed: HashMap::new(),
        stack: Vec::new(),
        files: Vec::new(),
        seen: HashSet::new(),
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    let directives = match std::fs::read_to_string(&root) {
        Ok(src) => st.file(&root, &src),
        Err(e) => {
            return Err(vec![ConfError::io(&root, &e)]);
        }
    };
    Ok(Assembled {
        directives,
        files: st.files,
        warnings: st.warnings,
        errors: st.errors,
    })
}

/// Parses `src` as if it were the file `origin` and expands its includes
/// relative to `config_dir`: lets tests assemble a tree from a string.
pub(crate) fn assemble_text(
    config_dir: &Path,
    origin: &Path,
    src: &str,
) -> Result<Assembled, Vec<ConfError>> {
    let none = Overlay::new();
    let mut st = State {
        config_dir,
        overlay: &none,
        parsed: HashMap::new(),
        stack: Vec::new(),
        files: Vec::new(),
        seen: HashSet::new(),
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    let directives = st.file(origin, src);
    Ok(Assembled {
        directives,
        files: st.files,
        warnings: st.warnings,
        errors: st.errors,
    })
}

struct State<'a> {
    config_dir: &'a Path,
    overlay: &'a Overlay,
    /// Parsed files by path: SWAG includes proxy.conf and resolver.conf
    /// hundreds of times, so each is read and tokenized once per load.
    parsed: HashMap<PathBuf, Result<Vec<Directive>, ConfError>>,
    /// Files being expanded, outermost first.
    stack: Vec<PathBuf>,
    files: Vec<PathBuf>,
    seen: HashSet<PathBuf>,
    warnings: Vec<String>,
    errors: Vec<ConfError>,
}

impl State<'_> {
    fn file(&mut self, path: &Path, src: &str) -> Vec<Directive> {
        let parsed = parse(src, path);
        self.parsed.insert(path.to_path_buf(), parsed.clone());
        self.expand_file(path, parsed)
    }

    fn expand_file(
        &mut self,
        path: &Path,
        parsed: Result<Vec<Directive>, ConfError>,
    ) -> Vec<Directive> {
        if self.seen.insert(path.to_path_buf()) {
            self.files.push(path.to_path_buf());
        }
        match parsed {
            Ok(tree) => {
                self.stack.push(path.to_path_buf());
                let out = self.expand(tree);
                self.stack.pop();
                out
            }
            Err(e) => {
                if !self.errors.contains(&e) {
                    self.errors.push(e);
                }
                Vec::new()
            }
        }
    }

    fn expand(&mut self, tree: Vec<Directive>) -> Vec<Directive> {
        let mut out = Vec::with_capacity(tree.len());
        for mut d in tree {
            if d.name == "include" && d.block.is_none() {
                out.extend(self.include(&d));
                continue;
            }
            if let Some(block) = d.block.take() {
                d.block = Some(self.expand(block));
            }
            out.push(d);
        }
        out
    }

    fn include(&mut self, d: &Directive) -> Vec<Directive> {
        if d.args.len() != 1 {
            self.errors.push(ConfError::at(
                &d.span,
                "\"include\" expects exactly one file path",
            ));
            return Vec::new();
        }
        let written = d.args[0].value.as_str();
        if is_system_file(written) {
            self.warnings.push(format!(
                "{}:{}: include {written}: nginx system file, built into moat; skipped",
                d.span.file.display(),
                d.span.line
            ));
            return Vec::new();
        }
        let target = map_path(self.config_dir, written);
        let paths = if has_glob(written) {
            match glob(&target, self.overlay) {
                Ok(p) => p,
                Err(msg) => {
                    self.errors.push(ConfError::at(&d.args[0].span, msg));
                    return Vec::new();
                }
            }
        } else {
            vec![target]
        };
        let mut out = Vec::new();
        for path in paths {
            if let Some(outer) = self.stack.iter().find(|f| **f == path) {
                self.errors.push(ConfError::at(
                    &d.span,
                    format!(
                        "include cycle: {} includes {}, which is already being read (from {})",
                        d.span.file.display(),
                        path.display(),
                        outer.display()
                    ),
                ));
                continue;
            }
            if let Some(parsed) = self.parsed.get(&path).cloned() {
                out.extend(self.expand_file(&path, parsed));
                continue;
            }
            let read = match self.overlay.get(&path) {
                Some(Some(text)) => Ok(text.clone()),
                Some(None) => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
                None => std::fs::read_to_string(&path),
            };
            match read {
                Ok(src) => out.extend(self.file(&path, &src)),
                Err(e) => self.errors.push(ConfError::at(
                    &d.span,
                    format!("include {written}: cannot read {}: {e}", path.display()),
                )),
            }
        }
        out
    }
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands a pattern whose wildcards are in the last path component.
fn glob(pattern: &Path, overlay: &Overlay) -> Result<Vec<PathBuf>, String> {
    let dir = pattern.parent().unwrap_or(Path::new("/"));
    let name = pattern
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("include pattern {} has no file name", pattern.display()))?;
    if has_glob(&dir.to_string_lossy()) {
        return Err(format!(
            "include pattern {}: wildcards are supported only in the file name",
            pattern.display()
        ));
    }
    let on_disk: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().map(|t| !t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    let mut names: Vec<String> = on_disk
        .into_iter()
        .filter(|n| overlay.get(&dir.join(n)) != Some(&None))
        .chain(
            overlay
                .iter()
                .filter(|(p, text)| text.is_some() && p.parent() == Some(dir))
                .filter_map(|(p, _)| Some(p.file_name()?.to_str()?.to_owned())),
        )
        .filter(|n| !n.starts_with('.') && wildcard_match(name.as_bytes(), n.as_bytes()))
        .collect();
    names.sort();
    names.dedup();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// Shell-style match with `*` and `?` (`[` is taken literally).
pub(crate) fn wildcard_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while i < s.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == s[i]) {
            p += 1;
            i += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some(p);
            mark = i;
            p += 1;
        } else if let Some(sp) = star {
            p = sp + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}
