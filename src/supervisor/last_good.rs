//! The last configuration tree that loaded, kept under
//! `/config/nginx/.moat-last-good/` so that a tree broken while moat was
//! stopped does not take every site down at the next start: moat serves the
//! copy instead and says so (log, `/health`, `moat_config_state`).
//!
//! The copy holds the conf files the load read (`nginx/nginx.conf` and
//! every include under /config), at the same paths relative to the config
//! directory, plus `saved-at`. It is written beside and renamed into place
//! (never half-written), owned by PUID:PGID like the rest of /config, and
//! the conf watcher ignores it (writing it is not a conf change).

use std::path::PathBuf;

use crate::bootstrap::Ownership;
use crate::conf::{ConfError, LoadReport, RouteTable};

/// The copy's directory name under `<config>/nginx/`.
pub const DIR_NAME: &str = ".moat-last-good";
/// The file in the copy that records when it was saved.
const STAMP: &str = "saved-at";

/// Where the copy lives and who owns it.
#[derive(Debug, Clone)]
pub struct LastGood {
    config_dir: PathBuf,
    owner: Ownership,
}

impl LastGood {
    /// The copy for `config_dir`, owned by `owner`.
    pub fn new(config_dir: PathBuf, owner: Ownership) -> Self {
        LastGood { config_dir, owner }
    }

    /// `<config>/nginx/.moat-last-good`.
    pub fn dir(&self) -> PathBuf {
        self.config_dir.join("nginx").join(DIR_NAME)
    }

    /// Replaces the copy with `files` (those under the config directory).
    pub fn save(&self, files: &[PathBuf]) -> std::io::Result<()> {
        let dir = self.dir();
        let pid = std::process::id();
        let fresh = dir.with_file_name(format!("{DIR_NAME}.moat-tmp-{pid}"));
        let old = dir.with_file_name(format!("{DIR_NAME}.moat-tmp-old-{pid}"));
        let _ = std::fs::remove_dir_all(&fresh);
        let _ = std::fs::remove_dir_all(&old);
        std::fs::create_dir_all(&fresh)?;
        for f in files {
            let Ok(rel) = f.strip_prefix(&self.config_dir) else {
                continue;
            };
            let to = fresh.join(rel);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(f, &to)?;
        }
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        std::fs::write(fresh.join(STAMP), format!("{now}\n"))?;
        if dir.exists() {
            std::fs::rename(&dir, &old)?;
        }
        std::fs::rename(&fresh, &dir)?;
        let _ = std::fs::remove_dir_all(&old);
        self.owner.apply_tree(&dir);
        Ok(())
    }

    /// When the copy was saved (RFC 3339), or `None` when there is none.
    pub fn saved_at(&self) -> Option<String> {
        std::fs::read_to_string(self.dir().join(STAMP))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Loads the copy (confs from the copy, everything else live), or
    /// `None` when there is no copy.
    pub fn load(&self) -> Option<Result<(RouteTable, LoadReport), Vec<ConfError>>> {
        let dir = self.dir();
        if !dir.join("nginx/nginx.conf").is_file() {
            return None;
        }
        Some(crate::conf::load_copy(&self.config_dir, &dir))
    }
}

/// `true` for the copy and its temporary siblings (for the conf watcher).
pub fn is_copy(name: &str) -> bool {
    name.starts_with(DIR_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_copy_loads_in_place_of_a_broken_tree() {
        let dir = tempfile::tempdir().expect("tmp");
        let nginx = dir.path().join("nginx");
        std::fs::create_dir_all(nginx.join("site-confs")).expect("mkdir");
        std::fs::write(
            nginx.join("nginx.conf"),
            "events {}\nhttp {\ninclude /config/nginx/site-confs/*.conf;\n}\n",
        )
        .expect("write");
        std::fs::write(
            nginx.join("site-confs/a.conf"),
            "server {\nlisten 80;\nserver_name a.test;\nreturn 200 \"from-copy\";\n}\n",
        )
        .expect("write");
        let (_, report) = crate::conf::load(dir.path()).expect("loads");
        let last = LastGood::new(dir.path().to_path_buf(), Ownership(None));
        last.save(&report.files).expect("save");
        assert!(last.saved_at().is_some());
        std::fs::write(nginx.join("site-confs/a.conf"), "server {\ndney all;\n}\n")
            .expect("break it");
        assert!(crate::conf::load(dir.path()).is_err());
        let (table, report) = last.load().expect("a copy").expect("the copy loads");
        assert!(
            report.files.iter().all(|f| f.starts_with(last.dir())),
            "{:?}",
            report.files
        );
        assert_eq!(table.describe().len(), 1);
        assert!(is_copy(DIR_NAME) && !is_copy("site-confs"));
    }
}
