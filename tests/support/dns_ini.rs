//! A provider built from one `dns-conf/<plugin>.ini` in a temp /config, as
//! `dns::provider_for` builds it at start.
//!
//! Include with `#[path = "support/dns_ini.rs"] mod dns_ini;`.
#![allow(dead_code)]

use moat::dns::{provider_for, DnsError, DnsProvider};

/// Writes `text` as `dns-conf/<plugin>.ini` and builds the provider; the
/// directory lives as long as the returned guard.
pub fn with_ini(
    plugin: &str,
    text: &str,
) -> (tempfile::TempDir, Result<Box<dyn DnsProvider>, DnsError>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dns-conf")).unwrap();
    std::fs::write(dir.path().join(format!("dns-conf/{plugin}.ini")), text).unwrap();
    let p = provider_for(plugin, dir.path());
    (dir, p)
}

/// Like [`with_ini`] for a credentials file with another name
/// (`google.json`).
pub fn with_file(
    plugin: &str,
    file: &str,
    text: &str,
) -> (tempfile::TempDir, Result<Box<dyn DnsProvider>, DnsError>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dns-conf")).unwrap();
    std::fs::write(dir.path().join("dns-conf").join(file), text).unwrap();
    let p = provider_for(plugin, dir.path());
    (dir, p)
}

/// Writes `files` (name, text) into `dns-conf/` (the plugin's ini among
/// them, with the key files it names) and builds the provider.
pub fn with_files(
    plugin: &str,
    files: &[(&str, &str)],
) -> (tempfile::TempDir, Result<Box<dyn DnsProvider>, DnsError>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dns-conf")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join("dns-conf").join(name), text).unwrap();
    }
    let p = provider_for(plugin, dir.path());
    (dir, p)
}
