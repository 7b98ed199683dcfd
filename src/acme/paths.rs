//! Every path of SWAG's (certbot's) `/config/etc/letsencrypt` layout, built
//! in one place so the rest of `acme` never joins path strings.

use std::path::{Path, PathBuf};

/// The four files certbot keeps per certificate version.
pub const LIVE_FILES: [&str; 4] = ["cert", "chain", "fullchain", "privkey"];

/// Paths under one `/config` directory.
#[derive(Debug, Clone)]
pub struct LetsencryptPaths {
    config: PathBuf,
}

impl LetsencryptPaths {
    /// Paths under `config_dir` (the container's `/config`).
    pub fn new(config_dir: impl Into<PathBuf>) -> Self {
        Self {
            config: config_dir.into(),
        }
    }

    /// The `/config` directory.
    pub fn config_dir(&self) -> &Path {
        &self.config
    }

    /// `etc/letsencrypt`.
    pub fn root(&self) -> PathBuf {
        self.config.join("etc/letsencrypt")
    }

    /// `etc/letsencrypt/live`.
    pub fn live_root(&self) -> PathBuf {
        self.root().join("live")
    }

    /// `etc/letsencrypt/live/<lineage>`.
    pub fn live_dir(&self, lineage: &str) -> PathBuf {
        self.live_root().join(lineage)
    }

    /// `etc/letsencrypt/live/<lineage>/<kind>.pem` (`kind` from [`LIVE_FILES`]).
    pub fn live_file(&self, lineage: &str, kind: &str) -> PathBuf {
        self.live_dir(lineage).join(format!("{kind}.pem"))
    }

    /// `etc/letsencrypt/archive/<lineage>`.
    pub fn archive_dir(&self, lineage: &str) -> PathBuf {
        self.root().join("archive").join(lineage)
    }

    /// `etc/letsencrypt/archive/<lineage>/<kind><version>.pem`.
    pub fn archive_file(&self, lineage: &str, kind: &str, version: u32) -> PathBuf {
        self.archive_dir(lineage)
            .join(format!("{kind}{version}.pem"))
    }

    /// The relative link target from `live/<lineage>/` to an archive file,
    /// as certbot writes it.
    pub fn archive_link_target(lineage: &str, kind: &str, version: u32) -> PathBuf {
        PathBuf::from(format!("../../archive/{lineage}/{kind}{version}.pem"))
    }

    /// `etc/letsencrypt/renewal/<lineage>.conf`.
    pub fn renewal_conf(&self, lineage: &str) -> PathBuf {
        self.root().join("renewal").join(format!("{lineage}.conf"))
    }

    /// `etc/letsencrypt/renewal-hooks/deploy`: executables run after each
    /// new certificate.
    pub fn deploy_hooks_dir(&self) -> PathBuf {
        self.root().join("renewal-hooks/deploy")
    }

    /// `etc/letsencrypt/accounts`.
    pub fn accounts_dir(&self) -> PathBuf {
        self.root().join("accounts")
    }

    /// `etc/letsencrypt/accounts/<host>/moat-<hash>.json`: instant-acme
    /// credentials for one directory URL (a new directory, a new account).
    pub fn account_file(&self, directory_url: &str) -> PathBuf {
        use sha2::Digest;
        let host = directory_url
            .split("://")
            .nth(1)
            .unwrap_or(directory_url)
            .split('/')
            .next()
            .unwrap_or("server")
            .replace(':', "_");
        let hash = hex::encode(&sha2::Sha256::digest(directory_url.as_bytes())[..8]);
        self.accounts_dir()
            .join(host)
            .join(format!("moat-{hash}.json"))
    }

    /// `etc/letsencrypt/moat-renewal-state.json`: last error and next attempt
    /// per lineage, for `moat certs`.
    pub fn state_file(&self) -> PathBuf {
        self.root().join("moat-renewal-state.json")
    }

    /// `etc/letsencrypt/.moat-renew.sock`: the running instance listens here
    /// for `moat renew`.
    pub fn renew_socket(&self) -> PathBuf {
        self.root().join(".moat-renew.sock")
    }

    /// `etc/letsencrypt/.moat-renew.lock`: held while an order runs, so a
    /// standalone `moat renew` and the running instance never order at once.
    pub fn order_lock(&self) -> PathBuf {
        self.root().join(".moat-renew.lock")
    }

    /// `keys/`.
    pub fn keys_dir(&self) -> PathBuf {
        self.config.join("keys")
    }

    /// `keys/letsencrypt` → `../etc/letsencrypt/live/<lineage>`.
    pub fn keys_letsencrypt(&self) -> PathBuf {
        self.keys_dir().join("letsencrypt")
    }

    /// `keys/cert.crt` (what SWAG's ssl.conf serves).
    pub fn keys_cert(&self) -> PathBuf {
        self.keys_dir().join("cert.crt")
    }

    /// `keys/cert.key`.
    pub fn keys_key(&self) -> PathBuf {
        self.keys_dir().join("cert.key")
    }

    /// `live/<lineage>/privkey.pfx` (SWAG's deploy hook output).
    pub fn pfx(&self, lineage: &str) -> PathBuf {
        self.live_dir(lineage).join("privkey.pfx")
    }

    /// `live/<lineage>/priv-fullchain-bundle.pem` (SWAG's deploy hook output).
    pub fn bundle(&self, lineage: &str) -> PathBuf {
        self.live_dir(lineage).join("priv-fullchain-bundle.pem")
    }

    /// `/config/.donoteditthisfile.conf`: SWAG's record of the parameters of
    /// the current certificate.
    pub fn params_file(&self) -> PathBuf {
        self.config.join(".donoteditthisfile.conf")
    }
}
