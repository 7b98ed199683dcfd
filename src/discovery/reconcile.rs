//! Makes `/config/nginx/proxy-confs` hold one generated conf per published
//! container and nothing else of moat's: writes what is new or changed,
//! removes what no running container asks for, leaves every file without
//! the generated header alone. Each change is checked by loading the whole
//! tree as it would be (`conf::load_over`) before anything is written, so a
//! label that makes a broken conf never reaches the route table; the conf
//! watcher then reloads as after any edit.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::address::upstream_address;
use super::labels::{ContainerFacts, Publication};
use super::render::{render, Base, HEADER};
use crate::bootstrap::{write_atomic, Ownership, PROXY_CONF_SAMPLES, PUBLIC_MODE};

/// The conf moat starts from when no `_template.subdomain.conf.sample` is
/// in proxy-confs (a fresh moat volume has only moat's own samples).
const TEMPLATE: &str = include_str!("template.subdomain.conf");

/// `true` when `path` is a conf discovery wrote (its first line is the header).
pub fn is_generated(path: &Path) -> bool {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut first = String::new();
    let _ = std::io::BufReader::new(file).read_line(&mut first);
    first.starts_with(HEADER)
}

/// The generated file for container `name`.
pub fn conf_path(proxy_confs: &Path, name: &str) -> PathBuf {
    proxy_confs.join(format!("auto-proxy-{name}.subdomain.conf"))
}

/// What one pass changed on disk.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Containers whose conf was written (new or different).
    pub written: Vec<String>,
    /// Containers whose conf was removed.
    pub removed: Vec<String>,
}

/// Keeps the generated confs in step with the containers, remembering what
/// it already said so a refused label is logged once, not at every event.
pub struct Reconciler {
    config_dir: PathBuf,
    owner: Ownership,
    said: HashMap<String, String>,
}

impl Reconciler {
    /// A reconciler for the config directory `config_dir`; files it writes
    /// belong to `owner`.
    pub fn new(config_dir: PathBuf, owner: Ownership) -> Self {
        Reconciler {
            config_dir,
            owner,
            said: HashMap::new(),
        }
    }

    fn proxy_confs(&self) -> PathBuf {
        self.config_dir.join("nginx/proxy-confs")
    }

    /// Logs `message` about `container` unless it was the last thing said about it.
    fn say(&mut self, container: &str, message: String, error: bool) {
        if self.said.get(container) == Some(&message) {
            return;
        }
        if error {
            tracing::error!(container, "{message}");
        } else {
            tracing::info!(container, "{message}");
        }
        self.said.insert(container.to_owned(), message);
    }

    /// One pass over the running labelled `containers`; `own` is moat's
    /// own networks when known.
    pub fn sync(&mut self, containers: &[ContainerFacts], own: Option<&[String]>) -> Changes {
        let dir = self.proxy_confs();
        let existing = generated_files(&dir);
        let mut desired: BTreeMap<PathBuf, (String, String)> = BTreeMap::new();
        let mut keep: BTreeSet<PathBuf> = BTreeSet::new();
        let mut named: Vec<&ContainerFacts> = containers.iter().collect();
        named.sort_by(|a, b| a.name.cmp(&b.name));
        for facts in named {
            let path = conf_path(&dir, &facts.name);
            let generated = existing.contains_key(&path);
            match self.conf_for(facts, own, &dir, &path, generated) {
                Ok(Some(text)) => {
                    desired.insert(path, (facts.name.clone(), text));
                }
                Ok(None) => {}
                Err(message) => {
                    // What serves now for it keeps serving until it stops.
                    keep.insert(path);
                    self.say(&facts.name, message, true);
                }
            }
        }
        let mut overlay = crate::conf::Overlay::new();
        for (path, (_, text)) in &desired {
            if existing.get(path) != Some(text) {
                overlay.insert(path.clone(), Some(text.clone()));
            }
        }
        for path in existing.keys() {
            if !desired.contains_key(path) && !keep.contains(path) {
                overlay.insert(path.clone(), None);
            }
        }
        if overlay.is_empty() {
            return Changes::default();
        }
        self.refuse_broken(&mut overlay, &desired);
        self.apply(overlay, &desired, &existing)
    }

    /// The conf text for one container, `Ok(None)` when a user's conf of
    /// that name wins, `Err` with the line to log when it cannot be published.
    fn conf_for(
        &mut self,
        facts: &ContainerFacts,
        own: Option<&[String]>,
        dir: &Path,
        path: &Path,
        generated: bool,
    ) -> Result<Option<String>, String> {
        let Some(address) = upstream_address(facts, own) else {
            let networks: Vec<&str> = facts.networks.iter().map(|(n, _)| n.as_str()).collect();
            self.say(
                &facts.name,
                format!(
                    "docker discovery: skipped: on no network moat is on (it is on {networks:?}, moat on {:?}); connect it to one of moat's",
                    own.unwrap_or_default()
                ),
                false,
            );
            return Ok(None);
        };
        let publication = Publication::from_labels(facts, address)
            .map_err(|e| format!("docker discovery: labels refused: {e}"))?;
        let own_file = dir.join(format!("{}.subdomain.conf", facts.name));
        // `generated`: the pass's listing already read the file's header.
        let user_file = if !generated && path.exists() {
            Some(path.to_path_buf())
        } else if own_file.exists() {
            Some(own_file)
        } else {
            None
        };
        if let Some(file) = user_file {
            self.say(
                &facts.name,
                format!(
                    "docker discovery: left alone: {} is the user's own conf for this container",
                    file.display()
                ),
                false,
            );
            return Ok(None);
        }
        let preset = publication.preset.as_deref().unwrap_or(&facts.name);
        let sample_name = format!("{preset}.subdomain.conf.sample");
        let sample = std::fs::read_to_string(dir.join(&sample_name))
            .ok()
            .or_else(|| {
                PROXY_CONF_SAMPLES
                    .iter()
                    .find(|(name, _)| *name == sample_name)
                    .map(|(_, text)| text.to_string())
            });
        let text = match (&sample, &publication.preset) {
            (Some(text), _) => render(&publication, &Base::Preset { name: preset, text }),
            (None, Some(_)) => {
                return Err(format!(
                    "docker discovery: labels refused: container {}: label swag_preset_conf={preset:?} refused: no {sample_name} in {}",
                    facts.name,
                    dir.display()
                ))
            }
            (None, None) => {
                let template = std::fs::read_to_string(dir.join("_template.subdomain.conf.sample"))
                    .unwrap_or_else(|_| TEMPLATE.to_owned());
                render(&publication, &Base::Template { text: &template })
            }
        };
        Ok(Some(text))
    }

    /// Drops from `overlay` every generated conf the tree would not load
    /// with, logging why; what was on disk for it stays.
    fn refuse_broken(
        &mut self,
        overlay: &mut crate::conf::Overlay,
        desired: &BTreeMap<PathBuf, (String, String)>,
    ) {
        for _ in 0..=desired.len() {
            let Err(errors) = crate::conf::load_over(&self.config_dir, overlay) else {
                return;
            };
            let broken: Vec<PathBuf> = overlay
                .iter()
                .filter(|(path, text)| {
                    text.is_some() && errors.iter().any(|e| e.file() == path.as_path())
                })
                .map(|(path, _)| path.clone())
                .collect();
            if broken.is_empty() {
                // The tree is broken elsewhere: the user's to fix, and the
                // reload will say so; moat's own changes are not the cause.
                return;
            }
            for path in broken {
                overlay.remove(&path);
                let container = desired
                    .get(&path)
                    .map(|(c, _)| c.clone())
                    .unwrap_or_default();
                let why: Vec<String> = errors
                    .iter()
                    .filter(|e| e.file() == path.as_path())
                    .map(|e| e.to_string())
                    .collect();
                self.say(
                    &container,
                    format!(
                        "docker discovery: conf refused: the conf for container {container} would not load, so it is not written: {}",
                        why.join("; ")
                    ),
                    true,
                );
            }
        }
    }

    fn apply(
        &mut self,
        overlay: crate::conf::Overlay,
        desired: &BTreeMap<PathBuf, (String, String)>,
        existing: &BTreeMap<PathBuf, String>,
    ) -> Changes {
        let mut changes = Changes::default();
        for (path, text) in overlay {
            let container = container_of(&path);
            match text {
                Some(text) => {
                    let verb = if existing.contains_key(&path) {
                        "updated"
                    } else {
                        "published"
                    };
                    match write_atomic(&path, text.as_bytes(), PUBLIC_MODE, self.owner) {
                        Ok(()) => {
                            let server_name = desired
                                .get(&path)
                                .and_then(|(_, t)| server_name_of(t))
                                .unwrap_or_default();
                            self.said.remove(&container);
                            tracing::info!(
                                container = %container,
                                conf = %path.display(),
                                server_name,
                                "docker discovery: {verb}"
                            );
                            changes.written.push(container);
                        }
                        Err(e) => {
                            tracing::error!(container = %container, error = %e, "docker discovery: cannot write the conf")
                        }
                    }
                }
                None => match std::fs::remove_file(&path) {
                    Ok(()) => {
                        self.said.remove(&container);
                        tracing::info!(container = %container, conf = %path.display(), "docker discovery: removed");
                        changes.removed.push(container);
                    }
                    Err(e) => {
                        tracing::error!(container = %container, error = %e, "docker discovery: cannot remove the conf")
                    }
                },
            }
        }
        changes
    }
}

/// Every generated conf in `dir`, with its text.
fn generated_files(dir: &Path) -> BTreeMap<PathBuf, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("auto-proxy-") && n.ends_with(".subdomain.conf"))
        })
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            text.starts_with(HEADER).then_some((p, text))
        })
        .collect()
}

fn container_of(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("auto-proxy-"))
        .and_then(|n| n.strip_suffix(".subdomain.conf"))
        .unwrap_or_default()
        .to_owned()
}

fn server_name_of(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("server_name "))
        .map(|v| v.trim_end_matches(';').to_owned())
}
