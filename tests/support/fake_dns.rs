//! A test `DnsProvider` that publishes TXT records into pebble-challtestsrv
//! (`/set-txt`, `/clear-txt`), keeping every value of a shared name, and a
//! propagation check that records what DNS actually showed.
//! Include after `support/pebble.rs`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use moat::acme::{AcmeError, NameserverCheck, PropagationCheck};
use moat::dns::{DnsError, DnsProvider, RecordHandle};

use super::pebble::{dig_txt_async, http_post};

/// Publishes into challtestsrv; fails the first `fail_first` presents with a
/// retryable error.
pub struct ChalltestProvider {
    mgmt: SocketAddr,
    values: Mutex<HashMap<String, Vec<String>>>,
    fail_first: AtomicU32,
    /// presents attempted (including failed ones).
    pub presents: AtomicU32,
    /// cleanups done.
    pub cleanups: AtomicU32,
}

impl ChalltestProvider {
    /// A provider for the challtestsrv management API at `mgmt`.
    pub fn new(mgmt: SocketAddr, fail_first: u32) -> Self {
        Self {
            mgmt,
            values: Mutex::default(),
            fail_first: AtomicU32::new(fail_first),
            presents: AtomicU32::new(0),
            cleanups: AtomicU32::new(0),
        }
    }

    /// Values this provider believes are published.
    pub fn published(&self) -> usize {
        self.values.lock().unwrap().values().map(Vec::len).sum()
    }

    fn post(&self, path: &str, body: serde_json::Value) {
        let mgmt = self.mgmt;
        let body = body.to_string();
        let path = path.to_owned();
        // The management call is a quick blocking request to a local process.
        std::thread::spawn(move || http_post(mgmt, &path, &body))
            .join()
            .unwrap();
    }
}

#[async_trait::async_trait]
impl DnsProvider for ChalltestProvider {
    fn name(&self) -> &'static str {
        "challtest"
    }

    async fn preflight(&self, _domains: &[String]) -> Result<String, DnsError> {
        Ok("challtest: management API reachable".into())
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        self.presents.fetch_add(1, Ordering::SeqCst);
        if self
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(DnsError::Api {
                provider: "challtest",
                message: "simulated API outage (HTTP 503)".into(),
                retryable: true,
            });
        }
        self.post(
            "/set-txt",
            serde_json::json!({"host": format!("{fqdn}."), "value": value}),
        );
        self.values
            .lock()
            .unwrap()
            .entry(fqdn.to_owned())
            .or_default()
            .push(value.to_owned());
        Ok(RecordHandle {
            fqdn: fqdn.to_owned(),
            value: value.to_owned(),
            id: None,
            zone: None,
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        self.cleanups.fetch_add(1, Ordering::SeqCst);
        // challtestsrv clears a whole name: clear it, then put back the
        // sibling values that are still presented.
        let remaining = {
            let mut map = self.values.lock().unwrap();
            let vals = map.entry(handle.fqdn.clone()).or_default();
            vals.retain(|v| *v != handle.value);
            vals.clone()
        };
        self.post(
            "/clear-txt",
            serde_json::json!({"host": format!("{}.", handle.fqdn)}),
        );
        for v in remaining {
            self.post(
                "/set-txt",
                serde_json::json!({"host": format!("{}.", handle.fqdn), "value": v}),
            );
        }
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        Duration::from_secs(30)
    }
}

/// Waits through `NameserverCheck` on challtestsrv, then records the values
/// a separate DNS query saw at that moment.
pub struct RecordingCheck {
    inner: NameserverCheck,
    dns: SocketAddr,
    /// (fqdn, values seen) per wait.
    pub seen: Mutex<Vec<(String, Vec<String>)>>,
}

impl RecordingCheck {
    /// Check against the DNS server at `dns`.
    pub fn new(dns: SocketAddr) -> Self {
        Self {
            inner: NameserverCheck::with_servers(vec![dns]),
            dns,
            seen: Mutex::default(),
        }
    }
}

#[async_trait::async_trait]
impl PropagationCheck for RecordingCheck {
    async fn wait_visible(
        &self,
        fqdn: &str,
        values: &[String],
        timeout: Duration,
    ) -> Result<(), AcmeError> {
        self.inner.wait_visible(fqdn, values, timeout).await?;
        let now = dig_txt_async(self.dns, fqdn).await;
        self.seen.lock().unwrap().push((fqdn.to_owned(), now));
        Ok(())
    }
}
