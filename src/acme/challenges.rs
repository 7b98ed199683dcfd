//! HTTP-01 key authorisations shared with the proxy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Token → key authorisation, written by ACME orders and read by the proxy's
/// port-80 handler for `/.well-known/acme-challenge/<token>`. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Http01Tokens {
    inner: Arc<Mutex<HashMap<String, String>>>,
}

impl Http01Tokens {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publish the answer for `token`.
    pub fn insert(&self, token: &str, key_authorization: &str) {
        self.lock()
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    /// Withdraw the answer for `token`.
    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    /// The answer for `token`, if one is published.
    pub fn get(&self, token: &str) -> Option<String> {
        self.lock().get(token).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (each operation is one HashMap call), so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
