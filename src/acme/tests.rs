//! Unit tests for storage, paths, key types and certificate facts.

use std::path::Path;

use rustls_pki_types::pem::PemObject;

use super::*;

fn self_signed(names: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    // A second block stands in for the intermediate.
    (format!("{}{}", cert.pem(), cert.pem()), key.serialize_pem())
}

#[test]
fn paths_follow_certbot_layout() {
    let p = LetsencryptPaths::new("/config");
    assert_eq!(
        p.live_file("example.com", "fullchain"),
        Path::new("/config/etc/letsencrypt/live/example.com/fullchain.pem")
    );
    assert_eq!(
        p.archive_file("example.com", "privkey", 3),
        Path::new("/config/etc/letsencrypt/archive/example.com/privkey3.pem")
    );
    assert_eq!(
        p.renewal_conf("example.com"),
        Path::new("/config/etc/letsencrypt/renewal/example.com.conf")
    );
    assert_eq!(
        LetsencryptPaths::archive_link_target("example.com", "cert", 2),
        Path::new("../../archive/example.com/cert2.pem")
    );
    assert_ne!(
        p.account_file(LE_PRODUCTION),
        p.account_file(LE_STAGING),
        "a new directory means a new account"
    );
    assert!(p
        .account_file(LE_STAGING)
        .starts_with("/config/etc/letsencrypt/accounts/acme-staging-v02.api.letsencrypt.org"));
}

#[test]
fn lineage_name_drops_the_wildcard() {
    assert_eq!(lineage_name("*.example.com"), "example.com");
    let cfg = AcmeConfig::new("/c", vec!["*.Example.com.".into()], Directory::LetsEncrypt).unwrap();
    assert_eq!(cfg.lineage, "example.com");
    assert_eq!(cfg.domains, vec!["*.example.com".to_string()]);
}

#[test]
fn empty_domain_list_is_refused_naming_url() {
    let e = AcmeConfig::new("/c", vec![" ".into()], Directory::LetsEncrypt).unwrap_err();
    assert!(e.to_string().starts_with("URL:"), "{e}");
}

#[test]
fn key_type_parses_swag_spellings_and_names_the_variable() {
    assert_eq!(KeyType::parse("").unwrap(), KeyType::Ecdsa256);
    assert_eq!(KeyType::parse("ecdsa384").unwrap(), KeyType::Ecdsa384);
    assert_eq!(KeyType::parse("RSA4096").unwrap(), KeyType::Rsa4096);
    let e = KeyType::parse("dsa").unwrap_err();
    assert_eq!(
        e.to_string(),
        "KEY_TYPE: `dsa` is not one of ecdsa256, ecdsa384, rsa2048, rsa4096"
    );
}

#[test]
fn ecdsa384_csr_key_is_p384() {
    let (_csr, pem) = order::csr_for(&["a.example".into()], KeyType::Ecdsa384).unwrap();
    let kp = rcgen::KeyPair::from_pem(&pem).unwrap();
    assert!(kp.is_compatible(&rcgen::PKCS_ECDSA_P384_SHA384));
}

#[test]
fn store_writes_versions_and_moves_links() {
    let dir = tempfile::tempdir().unwrap();
    let store = CertStore::new(LetsencryptPaths::new(dir.path()));
    let (chain1, key1) = self_signed(&["s.example"]);
    let (chain2, key2) = self_signed(&["s.example"]);
    store.store("s.example", &chain1, &key1).unwrap();
    store.store("s.example", &chain2, &key2).unwrap();
    assert_eq!(store.current_version("s.example"), Some(2));
    let loaded = store.load("s.example").unwrap().unwrap();
    assert_eq!(loaded.lineage.key_pem, key2);
    assert_eq!(store.list(), vec!["s.example".to_string()]);
    let p = store.paths();
    assert_eq!(
        std::fs::read_to_string(p.archive_file("s.example", "privkey", 1)).unwrap(),
        key1
    );
    // chain.pem holds everything after the leaf.
    let chain = std::fs::read_to_string(p.live_file("s.example", "chain")).unwrap();
    assert_eq!(split_pem_certs(&chain).len(), 1);
}

#[test]
fn interrupted_link_swap_is_completed_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = CertStore::new(LetsencryptPaths::new(dir.path()));
    let (chain1, key1) = self_signed(&["c.example"]);
    let (chain2, key2) = self_signed(&["c.example"]);
    store.store("c.example", &chain1, &key1).unwrap();
    store.store("c.example", &chain2, &key2).unwrap();
    // Simulate a crash after cert/chain moved to version 2 but before
    // fullchain/privkey did.
    let p = store.paths();
    for kind in ["fullchain", "privkey"] {
        let link = p.live_file("c.example", kind);
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(
            LetsencryptPaths::archive_link_target("c.example", kind, 1),
            &link,
        )
        .unwrap();
    }
    assert_eq!(store.current_version("c.example"), None);
    let loaded = store.load("c.example").unwrap().unwrap();
    assert_eq!(store.current_version("c.example"), Some(2));
    assert_eq!(loaded.lineage.key_pem, key2);
    let bundle = std::fs::read_to_string(p.bundle("c.example")).unwrap();
    assert!(bundle.starts_with(key2.trim_end()));
}

#[test]
fn mismatched_key_in_live_is_reported_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = CertStore::new(LetsencryptPaths::new(dir.path()));
    let (chain, _) = self_signed(&["m.example"]);
    let (_, other_key) = self_signed(&["m.example"]);
    let live = store.paths().live_dir("m.example");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::write(live.join("fullchain.pem"), chain).unwrap();
    std::fs::write(live.join("privkey.pem"), other_key).unwrap();
    let e = store.load("m.example").unwrap_err();
    assert!(e.to_string().contains("privkey.pem"), "{e}");
    assert!(e.to_string().contains("does not belong"), "{e}");
}

#[test]
fn keys_links_point_into_live() {
    let dir = tempfile::tempdir().unwrap();
    let store = CertStore::new(LetsencryptPaths::new(dir.path()));
    // SWAG's self-signed files are replaced only once a real cert exists.
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("cert.crt"), "self-signed").unwrap();
    let (chain, key) = self_signed(&["k.example"]);
    store.store("k.example", &chain, &key).unwrap();
    assert_eq!(
        std::fs::read_link(keys.join("cert.crt")).unwrap(),
        Path::new("../etc/letsencrypt/live/k.example/fullchain.pem")
    );
    assert_eq!(std::fs::read_to_string(keys.join("cert.key")).unwrap(), key);
}

#[test]
fn pfx_holds_key_and_chain() {
    let (chain, key) = self_signed(&["p.example"]);
    let (other, _) = self_signed(&["intermediate.example"]);
    let leaf = split_pem_certs(&chain).remove(0);
    let chain = format!("{leaf}{}", split_pem_certs(&other).remove(0));
    let der = build_pfx(&key, &chain).unwrap();
    let ks =
        p12_keystore::KeyStore::from_pkcs12(&der, "", p12_keystore::Pkcs12ImportPolicy::Relaxed)
            .unwrap();
    let (_, kc) = ks.private_key_chain().unwrap();
    // The full chain is checked with openssl in tests/acme_http01.rs.
    let leaf_info = parse_leaf(&chain).unwrap();
    assert_eq!(kc.certs()[0].as_der(), leaf_info.der.as_slice());
    let key_der = rustls_pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    assert_eq!(kc.key().as_der(), key_der.secret_der());
}

#[test]
fn renewal_state_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    RenewalState::update(&path, "x", |s| {
        s.failures = 2;
        s.last_error = Some("boom".into());
    })
    .unwrap();
    let st = RenewalState::load(&path).unwrap();
    assert_eq!(st.lineages["x"].failures, 2);
    assert_eq!(st.lineages["x"].last_error.as_deref(), Some("boom"));
}

#[test]
fn covers_requires_every_name() {
    let (chain, _) = self_signed(&["a.example", "*.a.example"]);
    let info = parse_leaf(&chain).unwrap();
    assert!(info.covers(&["a.example".into(), "*.a.example".into()]));
    assert!(!info.covers(&["b.a.example".into()]));
}

#[tokio::test]
async fn control_socket_carries_force_flag() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    assert_eq!(
        request_renewal(&sock, true).await.unwrap(),
        None,
        "nobody listens yet"
    );
    let listener = control::bind(&sock).unwrap();
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        control::read_request(s).await
    });
    let reply = request_renewal(&sock, true).await.unwrap().unwrap();
    assert!(reply.starts_with("ok"), "{reply}");
    assert_eq!(server.await.unwrap(), Some(RenewRequest { force: true }));
}

#[tokio::test]
async fn deploy_hooks_get_certbot_variables() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let hook = dir.path().join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$RENEWED_LINEAGE;$RENEWED_DOMAINS\" > {}\n",
            out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("not-executable"), "#!/bin/sh\nexit 1\n").unwrap();
    let n = run_deploy_hooks(dir.path(), Path::new("/l/x"), &["x".into(), "*.x".into()]).await;
    assert_eq!(n, 1);
    assert_eq!(std::fs::read_to_string(out).unwrap().trim(), "/l/x;x *.x");
}

#[test]
fn rsa2048_key_signs_a_csr() {
    // ring cannot generate RSA keys; the `rsa` crate does, rcgen signs.
    let (csr, pem) = order::csr_for(&["r.example".into()], KeyType::Rsa2048).unwrap();
    assert!(!csr.is_empty());
    let kp = rcgen::KeyPair::from_pem(&pem).unwrap();
    assert!(kp.is_compatible(&rcgen::PKCS_RSA_SHA256));
}
