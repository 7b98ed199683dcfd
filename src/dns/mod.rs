//! DNS-01 providers: publish a TXT record, remove exactly that record, and
//! check credentials without changing anything.
//!
//! Providers never build `_acme-challenge` names, compute TXT values, sleep or
//! poll DNS: `acme` does that. Credentials come from
//! `<config>/dns-conf/<plugin>.ini` with SWAG's key names; secrets never reach
//! a log or an error message.

mod error;
mod provider;

pub use error::DnsError;
pub use provider::{DnsProvider, RecordHandle};

/// The `DNSPLUGIN` names moat supports, in the order the README lists them.
pub const PROVIDER_NAMES: &[&str] = &["aliyun", "cloudflare", "rfc2136", "duckdns"];
