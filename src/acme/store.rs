//! `CertStore`: load, store and list certificate lineages in certbot's
//! layout. Each new version is written to `archive/` in full (fsynced)
//! before the `live/` links move, and [`CertStore::load`] finishes any link
//! swap a crash interrupted, so `kill -9` at any point leaves the old or the
//! new complete pair.

use std::fs;
use std::path::PathBuf;

use super::certinfo::{self, CertInfo};
use super::fsio::{ensure_dir, symlink_atomic, write_atomic};
use super::paths::{LetsencryptPaths, LIVE_FILES};
use super::{AcmeError, CertLineage};

/// A lineage as found on disk, with the parsed leaf.
#[derive(Debug, Clone)]
pub struct StoredCert {
    /// What the proxy serves.
    pub lineage: CertLineage,
    /// The parsed leaf certificate.
    pub info: CertInfo,
}

/// Narrow storage for certificate lineages under `/config/etc/letsencrypt`.
#[derive(Debug, Clone)]
pub struct CertStore {
    paths: LetsencryptPaths,
}

impl CertStore {
    /// A store over `paths`.
    pub fn new(paths: LetsencryptPaths) -> Self {
        Self { paths }
    }

    /// The layout this store writes.
    pub fn paths(&self) -> &LetsencryptPaths {
        &self.paths
    }

    /// Lineage names present in `live/`.
    pub fn list(&self) -> Vec<String> {
        let mut out: Vec<String> = fs::read_dir(self.paths.live_root())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("fullchain.pem").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.sort();
        out
    }

    /// Load `lineage` from `live/` (certbot links or plain files), after
    /// completing any interrupted link swap. `Ok(None)` when absent.
    pub fn load(&self, lineage: &str) -> Result<Option<StoredCert>, AcmeError> {
        self.recover(lineage)?;
        let chain_path = self.paths.live_file(lineage, "fullchain");
        let key_path = self.paths.live_file(lineage, "privkey");
        let fullchain_pem = match fs::read_to_string(&chain_path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AcmeError::io(&chain_path, e)),
        };
        let key_pem = match fs::read_to_string(&key_path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AcmeError::io(&key_path, e)),
        };
        let info = certinfo::parse_leaf(&fullchain_pem)
            .map_err(|m| AcmeError::bad_file(&chain_path, m))?;
        if !certinfo::key_matches(&key_pem, &info.spki) {
            return Err(AcmeError::bad_file(
                &key_path,
                "this private key does not belong to fullchain.pem (remove the lineage to re-issue)",
            ));
        }
        Ok(Some(StoredCert {
            lineage: CertLineage {
                name: lineage.to_owned(),
                names: info.names.clone(),
                fullchain_pem,
                key_pem,
                not_after: info.not_after,
                dir: self.paths.live_dir(lineage),
            },
            info,
        }))
    }

    /// Store a new version of `lineage`: archive files first (fsynced), then
    /// the four `live/` links, then the derived files (bundle, pfx) and the
    /// `keys/` links. Returns what the proxy should now serve.
    pub fn store(
        &self,
        lineage: &str,
        fullchain_pem: &str,
        key_pem: &str,
    ) -> Result<StoredCert, AcmeError> {
        let certs = certinfo::split_pem_certs(fullchain_pem);
        let Some(leaf) = certs.first() else {
            return Err(AcmeError::Internal("the CA sent no certificate".into()));
        };
        let info = certinfo::parse_leaf(leaf)
            .map_err(|m| AcmeError::Internal(format!("the CA's certificate: {m}")))?;
        if !certinfo::key_matches(key_pem, &info.spki) {
            return Err(AcmeError::Internal(
                "the issued certificate does not match the generated key".into(),
            ));
        }
        let chain: String = certs[1..].concat();
        let fullchain: String = certs.concat();

        let archive = self.paths.archive_dir(lineage);
        ensure_dir(&self.paths.root().join("archive"), 0o700)?;
        ensure_dir(&archive, 0o700)?;
        ensure_dir(&self.paths.live_dir(lineage), 0o755)?;
        let version = self.next_version(lineage);
        for (kind, content, mode) in [
            ("cert", leaf.as_str(), 0o644),
            ("chain", chain.as_str(), 0o644),
            ("fullchain", fullchain.as_str(), 0o644),
            ("privkey", key_pem, 0o600),
        ] {
            write_atomic(
                &self.paths.archive_file(lineage, kind, version),
                content.as_bytes(),
                mode,
            )?;
        }
        self.point_live_links(lineage, version)?;
        tracing::debug!(lineage, version, "live links point at the new version");
        self.write_derived(lineage, key_pem, &fullchain)?;
        tracing::debug!(lineage, "bundle and pfx written");
        self.link_keys(lineage)?;
        Ok(StoredCert {
            lineage: CertLineage {
                name: lineage.to_owned(),
                names: info.names.clone(),
                fullchain_pem: fullchain,
                key_pem: key_pem.to_owned(),
                not_after: info.not_after,
                dir: self.paths.live_dir(lineage),
            },
            info,
        })
    }

    /// Write `renewal/<lineage>.conf` in certbot's format.
    pub fn write_renewal_conf(
        &self,
        lineage: &str,
        server: &str,
        authenticator: &str,
        key_type: &str,
        account: &str,
    ) -> Result<(), AcmeError> {
        let p = &self.paths;
        let text = format!(
            "# renew_before_expiry = 30 days\n\
             version = 2.9.0\n\
             archive_dir = {archive}\n\
             cert = {cert}\n\
             privkey = {privkey}\n\
             chain = {chain}\n\
             fullchain = {fullchain}\n\
             \n\
             # Options used in the renewal process\n\
             [renewalparams]\n\
             account = {account}\n\
             authenticator = {authenticator}\n\
             server = {server}\n\
             key_type = {key_type}\n\
             # written by moat, which renews this lineage itself\n",
            archive = p.archive_dir(lineage).display(),
            cert = p.live_file(lineage, "cert").display(),
            privkey = p.live_file(lineage, "privkey").display(),
            chain = p.live_file(lineage, "chain").display(),
            fullchain = p.live_file(lineage, "fullchain").display(),
        );
        write_atomic(&p.renewal_conf(lineage), text.as_bytes(), 0o644)
    }

    /// Point `keys/letsencrypt`, `keys/cert.crt` and `keys/cert.key` at the
    /// lineage (replacing SWAG's self-signed files only now that a real
    /// certificate exists).
    pub fn link_keys(&self, lineage: &str) -> Result<(), AcmeError> {
        let p = &self.paths;
        let live = PathBuf::from("../etc/letsencrypt/live").join(lineage);
        symlink_atomic(&live, &p.keys_letsencrypt())?;
        symlink_atomic(&live.join("fullchain.pem"), &p.keys_cert())?;
        symlink_atomic(&live.join("privkey.pem"), &p.keys_key())
    }

    /// The archive version the `live/` links point at, when they are links.
    pub fn current_version(&self, lineage: &str) -> Option<u32> {
        let versions = self.link_versions(lineage);
        let first = versions.first().copied().flatten()?;
        versions.iter().all(|v| *v == Some(first)).then_some(first)
    }

    fn next_version(&self, lineage: &str) -> u32 {
        let max_archive = fs::read_dir(self.paths.archive_dir(lineage))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().into_string().ok()?;
                version_of(&n, "cert")
            })
            .max()
            .unwrap_or(0);
        let max_live = self
            .link_versions(lineage)
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0);
        max_archive.max(max_live) + 1
    }

    fn point_live_links(&self, lineage: &str, version: u32) -> Result<(), AcmeError> {
        // privkey last: a reader of the links mid-swap sees a new chain with
        // the old key only for microseconds, and `recover` repairs a crash.
        for kind in ["cert", "chain", "fullchain", "privkey"] {
            symlink_atomic(
                &LetsencryptPaths::archive_link_target(lineage, kind, version),
                &self.paths.live_file(lineage, kind),
            )?;
        }
        Ok(())
    }

    fn write_derived(
        &self,
        lineage: &str,
        key_pem: &str,
        fullchain: &str,
    ) -> Result<(), AcmeError> {
        let mut bundle = key_pem.trim_end().to_owned();
        bundle.push('\n');
        bundle.push_str(fullchain);
        write_atomic(&self.paths.bundle(lineage), bundle.as_bytes(), 0o600)?;
        match super::pfx::build_pfx(key_pem, fullchain) {
            Ok(der) => write_atomic(&self.paths.pfx(lineage), &der, 0o600),
            Err(m) => {
                tracing::warn!(lineage, error = %m, "privkey.pfx not written");
                Ok(())
            }
        }
    }

    /// The archive version each `live/` link points at (`None`: missing or
    /// a plain file).
    fn link_versions(&self, lineage: &str) -> Vec<Option<u32>> {
        LIVE_FILES
            .iter()
            .map(|kind| {
                let target = fs::read_link(self.paths.live_file(lineage, kind)).ok()?;
                let name = target.file_name()?.to_str()?.to_owned();
                version_of(&name, kind)
            })
            .collect()
    }

    /// Finish a link swap a crash interrupted: when the four links disagree
    /// (or some are missing while others point into `archive/`), point all
    /// of them at the newest version whose archive set is complete and
    /// matches.
    fn recover(&self, lineage: &str) -> Result<(), AcmeError> {
        let versions = self.link_versions(lineage);
        let live_dir = self.paths.live_dir(lineage);
        if versions.iter().all(|v| v.is_none()) {
            return Ok(());
        }
        let first = versions[0];
        if versions.iter().all(|v| *v == first) {
            if let Some(v) = first {
                self.refresh_derived_if_stale(lineage, v)?;
            }
            return Ok(());
        }
        let mut candidates: Vec<u32> = versions.iter().flatten().copied().collect();
        candidates.sort_unstable();
        candidates.dedup();
        for v in candidates.into_iter().rev() {
            if self.archive_complete(lineage, v) {
                tracing::warn!(
                    lineage,
                    version = v,
                    dir = %live_dir.display(),
                    "live links disagreed (interrupted update): completing the swap"
                );
                self.point_live_links(lineage, v)?;
                if let (Ok(key), Ok(chain)) = (
                    fs::read_to_string(self.paths.archive_file(lineage, "privkey", v)),
                    fs::read_to_string(self.paths.archive_file(lineage, "fullchain", v)),
                ) {
                    self.write_derived(lineage, &key, &chain)?;
                }
                return Ok(());
            }
        }
        Err(AcmeError::bad_file(
            live_dir,
            "live links point at incomplete archive versions",
        ))
    }

    /// A crash between the link swap and the derived files leaves an old
    /// bundle/pfx: rewrite them when the bundle's key is not the live key.
    fn refresh_derived_if_stale(&self, lineage: &str, v: u32) -> Result<(), AcmeError> {
        let (Ok(key), Ok(chain)) = (
            fs::read_to_string(self.paths.archive_file(lineage, "privkey", v)),
            fs::read_to_string(self.paths.archive_file(lineage, "fullchain", v)),
        ) else {
            return Ok(());
        };
        let bundle = fs::read_to_string(self.paths.bundle(lineage)).unwrap_or_default();
        if !bundle.starts_with(key.trim_end()) || !self.paths.pfx(lineage).exists() {
            tracing::warn!(
                lineage,
                "derived files (bundle, pfx) stale after an interrupted update: rewriting"
            );
            self.write_derived(lineage, &key, &chain)?;
        }
        Ok(())
    }

    fn archive_complete(&self, lineage: &str, v: u32) -> bool {
        let read = |k| fs::read_to_string(self.paths.archive_file(lineage, k, v)).ok();
        let (Some(chain), Some(key)) = (read("fullchain"), read("privkey")) else {
            return false;
        };
        if read("cert").is_none() || read("chain").is_none() {
            return false;
        }
        certinfo::parse_leaf(&chain)
            .map(|i| certinfo::key_matches(&key, &i.spki))
            .unwrap_or(false)
    }
}

/// `cert12.pem` → 12 for kind `cert`.
fn version_of(file_name: &str, kind: &str) -> Option<u32> {
    file_name
        .strip_prefix(kind)?
        .strip_suffix(".pem")?
        .parse()
        .ok()
}
