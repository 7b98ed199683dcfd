//! The SNI certificate store: which certificate each TLS handshake gets.
//!
//! The store is an immutable map behind an [`ArcSwap`]. Every handshake
//! reads the current map once (rustls calls [`ResolvesServerCert::resolve`]
//! synchronously after the ClientHello), so installing a certificate is a
//! pointer swap that the very next handshake sees, with no restart and no
//! effect on established connections.
//!
//! Lookup order: exact name, then the wildcard one label up (`*.example.com`
//! covers `a.example.com`, not `example.com` nor `a.b.example.com`), then the
//! default certificate (SWAG's `keys/cert.crt`). A handshake with no SNI or an
//! IP address gets the default certificate.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::error::ProxyError;
use crate::acme::CertLineage;

/// One immutable generation of the store.
#[derive(Default, Clone)]
struct CertMap {
    /// Lower-case DNS name → key.
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Parent domain of a `*.parent` wildcard → key.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// Lineage name → the names it installed, so a renewal that drops a
    /// name also withdraws it.
    lineages: HashMap<String, Vec<String>>,
    /// The default server's certificate.
    default: Option<Arc<CertifiedKey>>,
    /// Per-server `ssl_certificate` overrides from the confs (whole set
    /// replaced on each reload); consulted before the lineages.
    overrides: ServerNameMap,
}

/// Certificates keyed the way nginx `server_name` values are written.
#[derive(Default, Clone)]
struct ServerNameMap {
    /// `app.example.com`.
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` / `.example.com` → `example.com`.
    leading: HashMap<String, Arc<CertifiedKey>>,
    /// `app.*` → `app.` (SWAG's proxy-confs use this form).
    trailing: Vec<(String, Arc<CertifiedKey>)>,
}

impl ServerNameMap {
    fn insert(&mut self, name: &str, key: &Arc<CertifiedKey>) {
        let name = name.to_ascii_lowercase();
        if let Some(prefix) = name.strip_suffix('*') {
            self.trailing.push((prefix.to_owned(), key.clone()));
        } else if let Some(parent) = name.strip_prefix("*.") {
            self.leading.insert(parent.to_owned(), key.clone());
        } else if let Some(parent) = name.strip_prefix('.') {
            self.exact.insert(parent.to_owned(), key.clone());
            self.leading.insert(parent.to_owned(), key.clone());
        } else if !name.is_empty() && name != "_" && !name.starts_with('~') {
            self.exact.insert(name, key.clone());
        }
    }

    fn get(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        if let Some(key) = self.exact.get(name) {
            return Some(key.clone());
        }
        let mut parent = name;
        while let Some((_, rest)) = parent.split_once('.') {
            if let Some(key) = self.leading.get(rest) {
                return Some(key.clone());
            }
            parent = rest;
        }
        self.trailing
            .iter()
            .filter(|(prefix, _)| name.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, key)| key.clone())
    }
}

/// A server block's own `ssl_certificate`, as the confs name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    /// The server's `server_name` values as written.
    pub names: Vec<String>,
    /// `ssl_certificate` path.
    pub certificate: PathBuf,
    /// `ssl_certificate_key` path.
    pub key: PathBuf,
}

/// One certificate in service, as the status page shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServedCertificate {
    /// The SNI names (or `_default`) the store answers with it.
    pub served_for: Vec<String>,
    /// Its subject alternative names.
    pub names: Vec<String>,
    /// Its issuer's distinguished name.
    pub issuer: String,
    /// Valid from, seconds since the epoch.
    pub not_before: i64,
    /// Valid until, seconds since the epoch.
    pub not_after: i64,
}

/// Certificates served per SNI, shared by every TLS listener. Cheap to clone;
/// all clones see the same certificates.
#[derive(Clone, Default)]
pub struct CertStore {
    map: Arc<ArcSwap<CertMap>>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = self.map.load();
        f.debug_struct("CertStore")
            .field("names", &map.exact.keys().collect::<Vec<_>>())
            .field("wildcards", &map.wildcard.keys().collect::<Vec<_>>())
            .field("default", &map.default.is_some())
            .finish()
    }
}

impl CertStore {
    /// An empty store: handshakes fail until a default or a lineage is installed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Load the default certificate from `<config_dir>/keys/cert.crt` and
    /// `cert.key` (SWAG's self-signed fallback) and make it the default.
    pub fn load_default(&self, config_dir: &Path) -> Result<(), ProxyError> {
        let keys = config_dir.join("keys");
        let cert = read(&keys.join("cert.crt"))?;
        let key = read(&keys.join("cert.key"))?;
        self.set_default_pem(&cert, &key, &keys.join("cert.crt").display().to_string())
    }

    /// Make this PEM pair the default certificate; `what` names it in errors.
    pub fn set_default_pem(
        &self,
        chain_pem: &str,
        key_pem: &str,
        what: &str,
    ) -> Result<(), ProxyError> {
        let key = certified_key(chain_pem, key_pem, what)?;
        self.map.rcu(|old| {
            let mut map = CertMap::clone(old);
            map.default = Some(key.clone());
            map
        });
        Ok(())
    }

    /// Install (or replace) a lineage's certificate for every name it covers.
    /// Names the previous version of the same lineage covered and this one
    /// doesn't are withdrawn. Takes effect on the next handshake.
    pub fn install(&self, lineage: &CertLineage) -> Result<(), ProxyError> {
        let key = certified_key(&lineage.fullchain_pem, &lineage.key_pem, &lineage.name)?;
        let names: Vec<String> = lineage
            .names
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect();
        self.map.rcu(|old| {
            let mut map = CertMap::clone(old);
            if let Some(previous) = map.lineages.remove(&lineage.name) {
                for name in previous {
                    remove_name(&mut map, &name);
                }
            }
            for name in &names {
                match name.strip_prefix("*.") {
                    Some(parent) => map.wildcard.insert(parent.to_owned(), key.clone()),
                    None => map.exact.insert(name.clone(), key.clone()),
                };
            }
            map.lineages.insert(lineage.name.clone(), names.clone());
            map
        });
        Ok(())
    }

    /// Replace the per-server certificate overrides with `servers` (from
    /// the confs, on every load). Servers whose certificate is
    /// `default_certificate` (SWAG's `keys/cert.crt`, which every
    /// proxy-conf includes through ssl.conf) are served from the store
    /// instead, so ACME lineages keep working. A server whose files cannot
    /// be used is skipped and reported; the others still apply.
    pub fn set_server_certificates(
        &self,
        servers: &[ServerCertificate],
        default_certificate: &Path,
    ) -> Vec<ProxyError> {
        let mut overrides = ServerNameMap::default();
        let mut errors = Vec::new();
        let mut loaded: HashMap<(PathBuf, PathBuf), Arc<CertifiedKey>> = HashMap::new();
        for server in servers
            .iter()
            .filter(|s| s.certificate != default_certificate)
        {
            let pair = (server.certificate.clone(), server.key.clone());
            let key = match loaded.get(&pair) {
                Some(key) => key.clone(),
                None => {
                    let parsed = read(&server.certificate).and_then(|chain| {
                        let key = read(&server.key)?;
                        certified_key(&chain, &key, &server.certificate.display().to_string())
                    });
                    match parsed {
                        Ok(key) => {
                            loaded.insert(pair, key.clone());
                            key
                        }
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    }
                }
            };
            for name in &server.names {
                overrides.insert(name, &key);
            }
        }
        self.map.rcu(|old| {
            let mut map = CertMap::clone(old);
            map.overrides = overrides.clone();
            map
        });
        errors
    }

    /// The certificate a handshake for `sni` gets (server override, exact,
    /// wildcard, default).
    pub fn lookup(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let map = self.map.load();
        let Some(name) = sni.map(|s| s.trim_end_matches('.').to_ascii_lowercase()) else {
            return map.default.clone();
        };
        if let Some(key) = map.overrides.get(&name) {
            return Some(key.clone());
        }
        if let Some(key) = map.exact.get(&name) {
            return Some(key.clone());
        }
        if let Some((_, parent)) = name.split_once('.') {
            if let Some(key) = map.wildcard.get(parent) {
                return Some(key.clone());
            }
        }
        map.default.clone()
    }

    /// Each name the store serves with its certificate's notAfter (seconds
    /// since the epoch), sorted: lineage names as issued (`*.example.com`
    /// for a wildcard), server overrides by their `server_name`, and the
    /// default certificate as `_default`. For the metrics endpoint.
    pub fn not_after_by_name(&self) -> Vec<(String, i64)> {
        let mut out: Vec<(String, i64)> = self
            .served()
            .into_iter()
            .flat_map(|c| {
                let t = c.not_after;
                c.served_for.into_iter().map(move |name| (name, t))
            })
            .collect();
        out.sort();
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    /// Every distinct certificate in service with the names it answers
    /// for (as [`CertStore::not_after_by_name`] spells them), its subject
    /// names, issuer and validity; ordered by expiry. For the status page.
    pub fn served(&self) -> Vec<ServedCertificate> {
        let map = self.map.load();
        let entries = map
            .exact
            .iter()
            .map(|(n, k)| (n.clone(), k))
            .chain(map.wildcard.iter().map(|(p, k)| (format!("*.{p}"), k)))
            .chain(map.overrides.exact.iter().map(|(n, k)| (n.clone(), k)))
            .chain(
                map.overrides
                    .leading
                    .iter()
                    .map(|(p, k)| (format!("*.{p}"), k)),
            )
            .chain(
                map.overrides
                    .trailing
                    .iter()
                    .map(|(p, k)| (format!("{p}*"), k)),
            )
            .chain(map.default.iter().map(|k| ("_default".to_owned(), k)));
        let mut by_key: Vec<(*const CertifiedKey, ServedCertificate)> = Vec::new();
        for (name, key) in entries {
            let ptr = Arc::as_ptr(key);
            if let Some((_, c)) = by_key.iter_mut().find(|(p, _)| *p == ptr) {
                c.served_for.push(name);
                continue;
            }
            let Some(info) = key
                .end_entity_cert()
                .ok()
                .and_then(|der| crate::acme::parse_der(der).ok())
            else {
                continue;
            };
            by_key.push((
                ptr,
                ServedCertificate {
                    served_for: vec![name],
                    names: info.names,
                    issuer: info.issuer,
                    not_before: info.not_before,
                    not_after: info.not_after,
                },
            ));
        }
        let mut out: Vec<ServedCertificate> = by_key.into_iter().map(|(_, c)| c).collect();
        for c in &mut out {
            c.served_for.sort();
            c.served_for.dedup();
        }
        out.sort_by(|a, b| (a.not_after, &a.served_for).cmp(&(b.not_after, &b.served_for)));
        out
    }

    /// The rustls resolver that reads this store on every handshake.
    pub fn resolver(&self) -> Arc<dyn ResolvesServerCert> {
        Arc::new(SniResolver(self.clone()))
    }
}

fn remove_name(map: &mut CertMap, name: &str) {
    match name.strip_prefix("*.") {
        Some(parent) => map.wildcard.remove(parent),
        None => map.exact.remove(name),
    };
}

fn read(path: &Path) -> Result<String, ProxyError> {
    std::fs::read_to_string(path).map_err(|source| ProxyError::ReadCert {
        path: path.to_owned(),
        source,
    })
}

/// Parse a PEM chain and key into a rustls signing key (ring provider).
fn certified_key(
    chain_pem: &str,
    key_pem: &str,
    what: &str,
) -> Result<Arc<CertifiedKey>, ProxyError> {
    let bad = |message: String| ProxyError::BadCert {
        what: what.to_owned(),
        message,
    };
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("certificate chain is not valid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(bad("no CERTIFICATE block in the chain".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| bad(format!("private key is not valid PEM: {e}")))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| bad(format!("unsupported private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|e| bad(format!("key does not match the certificate: {e}")))?;
    Ok(Arc::new(certified))
}

/// Adapter from the store to rustls' handshake-time callback.
struct SniResolver(CertStore);

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.lookup(hello.server_name())
    }
}

#[cfg(test)]
mod tests;
