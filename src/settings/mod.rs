//! The environment, read once into a typed, validated [`Settings`].
//!
//! SWAG's variables keep SWAG's meaning and normalisation (see
//! `reference/swag-compat.md`): `"` stripped, lower-cased, a boolean is on
//! only when it is exactly `true`, lists split on commas. SWAG's bugs are
//! not copied: an empty DNSPLUGIN is refused, `*` is never glob-expanded,
//! ONLY_SUBDOMAINS without SUBDOMAINS keeps the apex.
//!
//! The core is pure: [`Settings::from_vars`] takes `(name, value)` pairs;
//! only [`Settings::from_env`] reads the process environment, and nothing
//! outside this module does. Every problem is collected, one
//! [`SettingsError`] per variable and problem, so a user fixes them all at
//! once. This module reads no files (except `FILE__` secrets, in
//! [`Settings::from_env`]): whether ACME_CA_ROOT exists is checked
//! by `moat check` and by `acme`.

mod checker;
mod convert;
mod discovery;
mod domain;
mod duckdns;
mod error;
mod kinds;
mod model;
mod mods;
mod observability;
mod raw;
mod secret_files;
pub mod vars;

pub use discovery::{AutoProxyCerts, DockerHost, DEFAULT_DOCKER_SOCKET};
pub use domain::{certificate_names, split_list, DomainName};
pub use error::{SettingsError, SettingsErrors};
pub use kinds::{AccessLogTargets, CertProvider, KeyType, LogFormat, Validation};
pub use model::{
    default_config_dir, default_http_port, default_https_port, default_log_level,
    default_metrics_addr, default_owner_id, default_shutdown_grace, default_tz, Settings,
};
pub use raw::RawEnv;
