//! The bootstrap itself: one pass that makes a /config directory complete
//! without touching anything the user owns.

use std::path::PathBuf;

use super::embedded::{DEFAULT_FILES, DNS_CONF_TEMPLATES, PROXY_CONF_SAMPLES, WRITE_ONCE_FILES};
use super::error::BootstrapError;
use super::files::{
    create_dir, write_if_changed, write_if_missing, Ownership, PRIVATE_MODE, PUBLIC_MODE,
};
use super::layout::{ConfigLayout, DIRECTORIES};
use super::resolver::resolver_conf;
use super::self_signed;

/// What [`prepare`] needs besides the directory.
#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    /// Owner of what is written (PUID:PGID when root).
    pub owner: Ownership,
    /// Names for the self-signed certificate besides `localhost` (the
    /// certificate domains from settings).
    pub certificate_names: Vec<String>,
    /// Where to read name servers for resolver.conf (`/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
    /// DUCKDNSTOKEN (with `VALIDATION=duckdns`): written into
    /// `dns-conf/duckdns.ini` at every start, as SWAG does.
    pub duckdns_token: Option<crate::dns::Secret>,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            owner: Ownership::default(),
            certificate_names: Vec::new(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            duckdns_token: None,
        }
    }
}

/// What [`prepare`] changed, for the start-up log.
#[derive(Debug, Clone, Default)]
pub struct BootstrapReport {
    /// Directories that did not exist.
    pub created_dirs: Vec<PathBuf>,
    /// Files written because they were missing (defaults, templates, resolver.conf).
    pub written: Vec<PathBuf>,
    /// `*.sample` files whose content changed (or that were missing).
    pub refreshed_samples: Vec<PathBuf>,
    /// `Some(reason)` when a new self-signed certificate was written.
    pub self_signed: Option<&'static str>,
    /// Entries under /config whose owner could not be set to PUID:PGID
    /// (read-only mounts); 0 when not running as root.
    pub not_owned: usize,
}

/// Creates SWAG's /config layout under `layout.root()`:
/// - the directories of [`DIRECTORIES`];
/// - each default file when missing, and its `.sample` copy every time;
/// - our proxy-conf samples (`nginx/proxy-confs/*.conf.sample`) every time;
/// - `dns-conf/*.ini` templates (mode 0600) and `nginx/resolver.conf` when missing;
/// - PUID:PGID as the owner of everything under it, when running as root;
/// - a self-signed `keys/cert.crt` + `keys/cert.key` (0600) when either is
///   missing or a dangling link.
///
/// An existing active `.conf` (or any other file the user has) is never
/// modified.
pub fn prepare(
    layout: &ConfigLayout,
    opts: &BootstrapOptions,
) -> Result<BootstrapReport, BootstrapError> {
    let owner = opts.owner;
    let root = layout.root();
    let mut report = BootstrapReport::default();

    if std::fs::symlink_metadata(root).is_err() {
        std::fs::create_dir_all(root).map_err(BootstrapError::io("create directory", root))?;
        owner.apply(root)?;
        report.created_dirs.push(root.to_path_buf());
    }
    for dir in DIRECTORIES {
        let path = root.join(dir);
        if create_dir(&path, owner)? {
            report.created_dirs.push(path);
        }
    }

    for (rel, text) in DEFAULT_FILES {
        let path = root.join(rel);
        if write_if_missing(&path, text.as_bytes(), PUBLIC_MODE, owner)? {
            report.written.push(path.clone());
        }
        let sample = root.join(format!("{rel}.sample"));
        if write_if_changed(&sample, text.as_bytes(), PUBLIC_MODE, owner)? {
            report.refreshed_samples.push(sample);
        }
    }
    for (rel, text) in WRITE_ONCE_FILES {
        let path = root.join(rel);
        if write_if_missing(&path, text.as_bytes(), PUBLIC_MODE, owner)? {
            report.written.push(path);
        }
    }
    let proxy_confs = layout.proxy_confs_dir();
    for (name, text) in PROXY_CONF_SAMPLES {
        let path = proxy_confs.join(name);
        if write_if_changed(&path, text.as_bytes(), PUBLIC_MODE, owner)? {
            report.refreshed_samples.push(path);
        }
    }
    for (name, text) in DNS_CONF_TEMPLATES {
        let path = root.join("dns-conf").join(name);
        if write_if_missing(&path, text.as_bytes(), PRIVATE_MODE, owner)? {
            report.written.push(path);
        }
    }

    if let Some(token) = &opts.duckdns_token {
        let path = layout.dns_ini("duckdns");
        let text = format!(
            "# Written by moat from DUCKDNSTOKEN at every start (VALIDATION=duckdns).\n\
             dns_duckdns_token = {}\n",
            token.expose()
        );
        if write_if_changed(&path, text.as_bytes(), PRIVATE_MODE, owner)? {
            report.written.push(path);
        }
    }

    let resolver = layout.resolver_conf();
    let resolv_text = std::fs::read_to_string(&opts.resolv_conf).unwrap_or_default();
    if write_if_missing(
        &resolver,
        resolver_conf(&resolv_text).as_bytes(),
        PUBLIC_MODE,
        owner,
    )? {
        report.written.push(resolver);
    }

    let (cert, key) = (layout.cert_file(), layout.key_file());
    let usable = |p: &PathBuf| std::fs::metadata(p).is_ok();
    let reason = match (usable(&cert), usable(&key)) {
        (true, true) => None,
        _ if super::files::exists_or_is_link(&cert) || super::files::exists_or_is_link(&key) => {
            Some("keys/cert.crt or keys/cert.key is missing or a dangling link")
        }
        _ => Some("first start"),
    };
    if let Some(reason) = reason {
        let pair = self_signed::generate(&opts.certificate_names)?;
        self_signed::write_pair(&pair, &cert, &key, owner)?;
        report.self_signed = Some(reason);
    }
    // Like SWAG's init (`lsiown -R abc:abc /config`): files an earlier
    // version, SWAG itself or a root shell left belong to PUID:PGID too.
    report.not_owned = owner.apply_tree(root);
    Ok(report)
}
