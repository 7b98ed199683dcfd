//! Certificates by ACME: account, orders, HTTP-01 and DNS-01 challenges,
//! renewal schedule, and storage in SWAG's `/config/etc/letsencrypt` layout.
//!
//! `acme` never serves traffic: it publishes HTTP-01 answers in
//! [`Http01Tokens`], which the proxy reads on port 80, and hands finished
//! certificates on as [`CertLineage`] values, which the proxy's certificate
//! store installs. A working certificate is never removed before its
//! replacement is stored.

mod challenges;
mod lineage;

pub use challenges::Http01Tokens;
pub use lineage::CertLineage;
