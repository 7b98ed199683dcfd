//! SWAG's /config layout: which directories exist and where the fixed files
//! live. Paths relative to the config directory are built only here.

use std::path::{Path, PathBuf};

/// Directories created at every start (missing ones only), parents first.
pub const DIRECTORIES: &[&str] = &[
    "nginx",
    "nginx/site-confs",
    "nginx/proxy-confs",
    "dns-conf",
    "etc",
    "etc/letsencrypt",
    "keys",
    "log",
    "log/nginx",
    "log/letsencrypt",
    "www",
];

/// The paths under one config directory that other modules need.
#[derive(Debug, Clone)]
pub struct ConfigLayout {
    root: PathBuf,
}

impl ConfigLayout {
    /// The layout rooted at `config_dir` (`/config` in the container).
    pub fn new(config_dir: impl Into<PathBuf>) -> Self {
        ConfigLayout {
            root: config_dir.into(),
        }
    }

    /// The config directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `nginx/`: what the conf watcher watches.
    pub fn nginx_dir(&self) -> PathBuf {
        self.root.join("nginx")
    }

    /// `nginx/proxy-confs/`.
    pub fn proxy_confs_dir(&self) -> PathBuf {
        self.root.join("nginx/proxy-confs")
    }

    /// `nginx/resolver.conf`, generated from /etc/resolv.conf.
    pub fn resolver_conf(&self) -> PathBuf {
        self.root.join("nginx/resolver.conf")
    }

    /// `dns-conf/<plugin>.ini`.
    pub fn dns_ini(&self, plugin: &str) -> PathBuf {
        crate::dns::ini::ini_path(&self.root, plugin)
    }

    /// `keys/cert.crt`, the certificate ssl.conf points at.
    pub fn cert_file(&self) -> PathBuf {
        self.root.join("keys/cert.crt")
    }

    /// `keys/cert.key`, its private key.
    pub fn key_file(&self) -> PathBuf {
        self.root.join("keys/cert.key")
    }

    /// `etc/letsencrypt/`, where `acme` keeps lineages.
    pub fn letsencrypt_dir(&self) -> PathBuf {
        self.root.join("etc/letsencrypt")
    }
}
