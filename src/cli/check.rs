//! `moat check`: validate the settings and the /config tree without serving
//! (like `nginx -t`). Problems go to stdout, one per line; warnings and
//! notes to stderr. Exit 0 when clean, 1 otherwise.

use std::path::{Path, PathBuf};

use super::ConfigArg;
use crate::bootstrap::{self, BootstrapOptions, ConfigLayout};
use crate::settings::{Settings, Validation};

/// Entry point; returns the exit code.
pub fn run(args: ConfigArg) -> anyhow::Result<i32> {
    let mut problems: Vec<String> = Vec::new();
    let settings = match Settings::from_env() {
        Ok(s) => {
            for note in &s.notes {
                eprintln!("note: {note}");
            }
            Some(s)
        }
        Err(errors) => {
            problems.extend(errors.0.iter().map(|e| e.to_string()));
            None
        }
    };
    // Without valid settings, CONFIG_DIR alone; when even that fails (an
    // unreadable FILE__CONFIG_DIR), its error is already among the problems
    // and no tree is checked rather than a guessed one.
    let config_dir = args
        .config
        .or_else(|| settings.as_ref().map(|s| s.config_dir.clone()))
        .or_else(|| Settings::config_dir_from_env().ok());

    if let Some(config_dir) = &config_dir {
        if let Some(s) = &settings {
            check_files(s, config_dir, &mut problems);
        }
        check_confs(config_dir, &mut problems)?;
    }

    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        let dir = config_dir.expect("no problems means CONFIG_DIR was read");
        eprintln!("moat: configuration in {} is OK", dir.display());
        Ok(0)
    } else {
        eprintln!("moat: {} problem(s) found", problems.len());
        Ok(1)
    }
}

/// Files the settings name that must exist before moat starts (shared with
/// `moat run`, which refuses to start without them).
pub(super) fn missing_setting_files(settings: &Settings) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(root) = &settings.acme_ca_root {
        if let Err(e) = std::fs::read(root) {
            problems.push(format!(
                "ACME_CA_ROOT={:?}: cannot read it: {e} (allowed: a readable PEM file)",
                root.display().to_string()
            ));
        }
    }
    problems
}

/// Files the settings point at.
fn check_files(settings: &Settings, config_dir: &Path, problems: &mut Vec<String>) {
    problems.extend(missing_setting_files(settings));
    if let Validation::Dns(plugin) = &settings.validation {
        let ini = ConfigLayout::new(config_dir).dns_ini(plugin);
        if !ini.exists() {
            eprintln!(
                "note: {} does not exist yet: `moat run` writes a template to fill in",
                ini.display()
            );
        } else if let Err(e) = crate::dns::provider_for(plugin, config_dir) {
            // What start would refuse: a missing key, SWAG's untouched
            // template or a placeholder, naming file, line and key. Reads
            // files only; no request is sent.
            problems.push(e.to_string());
        }
    }
}

/// Loads the confs; a tree that moat has not bootstrapped yet is checked as
/// `moat run` would write it.
fn check_confs(config_dir: &Path, problems: &mut Vec<String>) -> anyhow::Result<()> {
    let nginx_conf = config_dir.join("nginx/nginx.conf");
    if nginx_conf.exists() {
        load_into(config_dir, problems);
        return Ok(());
    }
    eprintln!(
        "note: {} does not exist yet: `moat run` writes the defaults; checking those",
        nginx_conf.display()
    );
    let scratch = scratch_dir();
    let result = bootstrap::prepare(&ConfigLayout::new(&scratch), &BootstrapOptions::default());
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&scratch);
        anyhow::bail!("checking the defaults: {e}");
    }
    load_into(&scratch, problems);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn load_into(dir: &Path, problems: &mut Vec<String>) {
    match crate::conf::load(dir) {
        Ok((_, report)) => {
            // Access-affecting directives moat lacks are problems: their
            // blocks answer 503, which the user must know before serving.
            for n in report.no_effect.iter().filter(|n| n.access) {
                problems.push(format!(
                    "{}:{}: \"{}\" restricts access and moat does not implement it: the block answers 503 (see README#unsupported)",
                    n.file.display(),
                    n.line,
                    n.name
                ));
            }
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            if let Some(line) = crate::conf::no_effect_summary(&report.no_effect, dir) {
                let level = if crate::bootstrap::any_written_by_user(
                    dir,
                    report.no_effect.iter().map(|n| n.file.as_path()),
                ) {
                    "warning"
                } else {
                    "info"
                };
                eprintln!("{level}: {line}");
            }
        }
        Err(errors) => problems.extend(errors.iter().map(|e| e.to_string())),
    }
}

fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("moat-check-{}", std::process::id()))
}
