//! The `DnsProvider` trait: three verbs, nothing more.

use std::time::Duration;

use super::DnsError;

/// Identifies exactly one published TXT record, so cleanup never removes a
/// sibling value (apex and wildcard challenges share one name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHandle {
    /// The fully qualified record name, without the trailing dot.
    pub fqdn: String,
    /// The exact TXT value.
    pub value: String,
    /// The provider's own record id, when it has one.
    pub id: Option<String>,
    /// The zone the record was created in, when the provider found one.
    pub zone: Option<String>,
}

/// A DNS service that can hold ACME challenge records.
#[async_trait::async_trait]
pub trait DnsProvider: Send + Sync {
    /// The `DNSPLUGIN` name (`aliyun`, ...).
    fn name(&self) -> &'static str;

    /// Check credentials and zone access without changing anything; on
    /// success, one line saying what works.
    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError>;

    /// Publish `value` as a TXT record at `fqdn` alongside any existing values.
    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError>;

    /// Remove exactly the record `handle` names.
    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError>;

    /// How long records usually take to become visible (SWAG's certbot defaults).
    fn propagation_default(&self) -> Duration;
}
