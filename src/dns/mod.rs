//! DNS-01 providers: publish a TXT record, remove exactly that record, and
//! check credentials without changing anything.
//!
//! Providers never build `_acme-challenge` names, compute TXT values, sleep or
//! poll DNS: `acme` does that, calling [`propagation::wait_for_txt`] between
//! `present` and answering the challenge. Credentials come from
//! `<config>/dns-conf/<plugin>.ini` with SWAG's key names; secrets live in
//! [`Secret`] and never reach a log or an error message.
//!
//! How `acme` uses it, per DNS-01 order:
//! ```ignore
//! let provider = dns::provider_for(plugin, config_dir)?;        // reads the ini now
//! let handle = provider.present("_acme-challenge.example.com", &value).await?;
//! let opts = PropagationOptions::for_provider(&*provider, settings.propagation);
//! propagation::wait_for_txt(&handle.fqdn, &[value_apex, value_wildcard], &opts).await?;
//! // ... tell the CA, wait for the order ...
//! provider.cleanup(&handle).await?;                             // on success and failure
//! ```
//! Errors answer [`DnsError::retryable`]: credentials and permission problems
//! are final, timeouts and 5xx are worth another try.
//!
//! Adding a provider: one file implementing [`DnsProvider`] (order: key
//! consts, `Config`, `Config::from_ini`, `Provider::new`, the three verbs,
//! private API helpers) and one line in `registry.rs` plus its name in
//! [`PROVIDER_NAMES`]. See `README-providers.md`.

mod acmedns;
mod aliyun;
mod aliyun_api;
mod aliyun_sign;
mod azure;
mod cloudflare;
mod desec;
mod digitalocean;
mod dnsimple;
mod duckdns;
mod error;
mod exec;
mod gandi;
mod godaddy;
mod google;
mod hetzner;
mod hetzner_cloud;
mod http;
pub mod ini;
mod inwx;
mod ionos;
mod jwt;
mod linode;
mod namecheap;
mod names;
mod netcup;
mod ovh;
mod porkbun;
pub mod propagation;
mod provider;
mod registry;
mod resolve;
mod rfc2136;
mod route53;
mod rsa_key;
mod secret;
mod sigv4;
mod token_cache;
mod totp;
mod transip;
mod transport;
mod tsig;
mod vultr;
mod xml;
mod xmlrpc;

pub use acmedns::{AcmeDnsConfig, AcmeDnsProvider, AcmeDnsRegistration};
pub use aliyun::{AliyunConfig, AliyunProvider, SignatureVersion};
pub use aliyun_sign::{canonical_query, percent_encode, v2_signature, V3Request};
pub use azure::{AzureConfig, AzureCredential, AzureProvider, ZoneMapping};
pub use cloudflare::{CloudflareAuth, CloudflareConfig, CloudflareProvider};
pub use desec::{DesecConfig, DesecProvider};
pub use digitalocean::{DigitalOceanConfig, DigitalOceanProvider};
pub use dnsimple::{DnsimpleConfig, DnsimpleProvider};
pub use duckdns::{DuckDnsConfig, DuckDnsProvider};
pub use error::DnsError;
pub use exec::{ExecConfig, ExecProvider};
pub use gandi::{GandiAuth, GandiConfig, GandiProvider};
pub use godaddy::{GodaddyConfig, GodaddyProvider};
pub use google::{GoogleConfig, GoogleProvider};
pub use hetzner::{HetznerConfig, HetznerProvider};
pub use hetzner_cloud::{HetznerCloudConfig, HetznerCloudProvider};
pub use inwx::{InwxConfig, InwxProvider};
pub use ionos::{IonosConfig, IonosProvider};
pub use linode::{LinodeConfig, LinodeProvider};
pub use namecheap::{NamecheapConfig, NamecheapProvider};
pub use netcup::{NetcupConfig, NetcupProvider};
pub use ovh::{ovh_signature, OvhConfig, OvhProvider};
pub use porkbun::{PorkbunConfig, PorkbunProvider};
pub use provider::{DnsProvider, RecordHandle};
pub use registry::provider_for;
pub use resolve::{servers_config, HickoryDns};
pub use rfc2136::{Rfc2136Config, Rfc2136Provider};
pub use route53::{CredentialSource, Route53Config, Route53Provider};
pub use secret::Secret;
pub use sigv4::AwsCredentials;
pub use transip::{TransipConfig, TransipProvider};
pub use tsig::TsigHmac;
pub use vultr::{VultrConfig, VultrProvider};

/// The `DNSPLUGIN` names moat supports, in the order the README lists them.
pub const PROVIDER_NAMES: &[&str] = &[
    "aliyun",
    "cloudflare",
    "rfc2136",
    "duckdns",
    "digitalocean",
    "do",
    "hetzner",
    "porkbun",
    "linode",
    "route53",
    "gandi",
    "desec",
    "vultr",
    "acmedns",
    "exec",
    "ovh",
    "godaddy",
    "dnsimple",
    "ionos",
    "hetzner-cloud",
    "netcup",
    "google",
    "transip",
    "azure",
    "namecheap",
    "inwx",
];
