//! Certificates by ACME: account, orders, HTTP-01 and DNS-01 challenges,
//! renewal schedule, and storage in SWAG's `/config/etc/letsencrypt` layout.
//!
//! `acme` never serves traffic: it publishes HTTP-01 answers in
//! [`Http01Tokens`], which the proxy reads on port 80, and hands finished
//! certificates on as [`CertLineage`] values through a [`CertSink`], which
//! the proxy's certificate store installs. A working certificate is never
//! removed before its replacement is stored.
//!
//! `acme` reads no environment: the supervisor builds an [`AcmeConfig`]
//! from `Settings`, picks a [`ChallengeSolver`] and runs [`Renewer::run`]
//! with its shutdown watch. Providers never poll DNS; [`PropagationCheck`]
//! does. Paths are computed only in [`LetsencryptPaths`].

mod account;
mod certinfo;
mod challenges;
mod config;
mod control;
mod error;
mod extra_names;
mod from_settings;
mod fsio;
mod hooks;
mod http01_server;
mod http_client;
mod keys;
mod lineage;
mod lock;
mod order;
mod params;
mod paths;
mod pfx;
mod propagation;
mod renewer;
mod schedule;
mod state;
mod store;
mod zerossl;

pub use account::{install_crypto_provider, load_or_create as load_or_create_account};
pub use certinfo::{
    days_left as certinfo_days_left, key_matches, now_unix, parse_der, parse_leaf, split_pem_certs,
    CertInfo,
};
pub use challenges::Http01Tokens;
pub use config::{
    lineage_name, AcmeConfig, Directory, Eab, KeyType, RenewThreshold, LE_PRODUCTION, LE_STAGING,
    ZEROSSL,
};
pub use control::{request_renewal, RenewRequest};
pub use error::AcmeError;
pub use extra_names::{covered, ExtraNames};
pub use from_settings::{config_from_settings, propagation_check, solver_from_settings};
pub use hooks::run_deploy_hooks;
pub use http01_server::serve_http01;
pub use http_client::acme_http_client;
pub use lineage::CertLineage;
pub use lock::OrderLock;
pub use order::{challenge_fqdn, issue, ChallengeSolver, Issued};
pub use params::{changed_keys, parse_params, read_params, render_params, write_params};
pub use paths::{LetsencryptPaths, LIVE_FILES};
pub use pfx::build_pfx;
pub use propagation::{NameserverCheck, PropagationCheck};
pub use renewer::{CertSink, Outcome, Renewer};
pub use schedule::{backoff, due_at, is_due};
pub use state::{LineageState, RenewalState};
pub use store::{CertStore, StoredCert};
pub use zerossl::{fetch_eab, fetch_eab_from, parse_eab_response, EAB_ENDPOINT};

#[cfg(test)]
mod tests;
