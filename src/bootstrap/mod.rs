//! The /config volume: SWAG's layout, our default nginx files, proxy-conf
//! samples, DNS credential templates, and a self-signed certificate so
//! HTTPS is served before any ACME certificate exists.
//!
//! Rules: defaults and templates are written only when missing; `*.sample`
//! copies are refreshed every start; an active `.conf` is never touched.
//! Every write is atomic (temp file, fsync, rename, fsync of the directory);
//! private keys and credential files are mode 0600; files are owned by
//! PUID:PGID when moat runs as root.
//!
//! Not here: certificates under `etc/letsencrypt` and the `keys/letsencrypt`
//! link (`acme`), `.donoteditthisfile.conf` (`acme`), parsing confs (`conf`).

mod embedded;
mod error;
mod files;
mod layout;
mod ours;
mod prepare;
mod resolver;
mod self_signed;

pub use embedded::{DEFAULT_FILES, DNS_CONF_TEMPLATES, PROXY_CONF_SAMPLES};
pub use error::BootstrapError;
pub use files::{write_atomic, Ownership, PRIVATE_MODE, PUBLIC_MODE};
pub use layout::{ConfigLayout, DIRECTORIES};
pub use ours::{any_written_by_user, written_by_moat};
pub use prepare::{prepare, BootstrapOptions, BootstrapReport};
pub use resolver::{resolver_conf, DOCKER_DNS};
pub use self_signed::{
    generate as generate_self_signed, inspect as inspect_certificate, CertificateSummary, PemPair,
};
