//! Whether a conf file is still exactly as moat wrote it, so that what it
//! contains is moat's business, not the user's (the no-effect summary is
//! logged at info level for moat's own files and at warn level otherwise).

use std::path::Path;

use super::embedded::{DEFAULT_FILES, PROXY_CONF_SAMPLES};

/// `true` when `file` (under `config_dir`) holds exactly the text moat's
/// bootstrap writes there: a default file, or one of moat's proxy-conf
/// samples activated without edits.
pub fn written_by_moat(config_dir: &Path, file: &Path) -> bool {
    let Ok(rel) = file.strip_prefix(config_dir) else {
        return false;
    };
    let rel = rel.to_string_lossy();
    let expected = DEFAULT_FILES
        .iter()
        .find(|(p, _)| *p == rel)
        .map(|(_, t)| *t)
        .or_else(|| {
            let name = rel.strip_prefix("nginx/proxy-confs/")?;
            PROXY_CONF_SAMPLES
                .iter()
                .find(|(s, _)| s.strip_suffix(".sample") == Some(name))
                .map(|(_, t)| *t)
        });
    match expected {
        Some(text) => std::fs::read_to_string(file).is_ok_and(|t| t == text),
        None => false,
    }
}

/// `true` when any of `files` is not exactly as moat wrote it (each file
/// is read once).
pub fn any_written_by_user<'a>(config_dir: &Path, files: impl Iterator<Item = &'a Path>) -> bool {
    let mut files: Vec<&Path> = files.collect();
    files.sort();
    files.dedup();
    files.iter().any(|f| !written_by_moat(config_dir, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unedited_defaults_count_as_moat_s() {
        let dir = tempfile::tempdir().expect("tmp");
        let ssl = dir.path().join("nginx/ssl.conf");
        std::fs::create_dir_all(ssl.parent().expect("parent")).expect("mkdir");
        let (_, text) = DEFAULT_FILES
            .iter()
            .find(|(p, _)| *p == "nginx/ssl.conf")
            .expect("ssl.conf is a default");
        std::fs::write(&ssl, text).expect("write");
        assert!(written_by_moat(dir.path(), &ssl));
        std::fs::write(&ssl, format!("{text}\nssl_stapling on;\n")).expect("write");
        assert!(!written_by_moat(dir.path(), &ssl));
        assert!(!written_by_moat(
            dir.path(),
            &dir.path().join("nginx/mine.conf")
        ));
    }
}
