use super::*;

fn self_signed(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let key = rcgen::KeyPair::generate().expect("P-256 key");
    let cert = rcgen::CertificateParams::new(names)
        .expect("valid names")
        .self_signed(&key)
        .expect("self-signed");
    (cert.pem(), key.serialize_pem())
}

fn lineage(name: &str, names: &[&str]) -> CertLineage {
    let (fullchain_pem, key_pem) = self_signed(names);
    CertLineage {
        name: name.to_owned(),
        names: names.iter().map(|s| s.to_string()).collect(),
        fullchain_pem,
        key_pem,
        not_after: 0,
        dir: std::path::PathBuf::new(),
    }
}

fn leaf(key: &Arc<CertifiedKey>) -> Vec<u8> {
    key.cert[0].to_vec()
}

#[test]
fn exact_name_then_wildcard_then_default() {
    let store = CertStore::new();
    let (cert, key) = self_signed(&["default.invalid"]);
    store.set_default_pem(&cert, &key, "default").unwrap();
    store
        .install(&lineage("example.com", &["example.com", "*.example.com"]))
        .unwrap();
    store
        .install(&lineage("chat.example.com", &["chat.example.com"]))
        .unwrap();

    let default = leaf(&store.lookup(None).unwrap());
    let wildcard = leaf(&store.lookup(Some("cloud.example.com")).unwrap());
    let exact = leaf(&store.lookup(Some("Chat.Example.com.")).unwrap());
    assert_eq!(
        leaf(&store.lookup(Some("example.com")).unwrap()),
        wildcard,
        "apex is in the same lineage"
    );
    assert_ne!(exact, wildcard);
    assert_ne!(wildcard, default);
    // A wildcard covers one label only.
    assert_eq!(
        leaf(&store.lookup(Some("a.b.example.com")).unwrap()),
        default
    );
    assert_eq!(leaf(&store.lookup(Some("other.org")).unwrap()), default);
}

#[test]
fn reinstalling_a_lineage_replaces_and_withdraws_names() {
    let store = CertStore::new();
    store
        .install(&lineage("example.com", &["example.com", "old.example.com"]))
        .unwrap();
    let before = leaf(&store.lookup(Some("example.com")).unwrap());
    store
        .install(&lineage("example.com", &["example.com"]))
        .unwrap();
    let after = leaf(&store.lookup(Some("example.com")).unwrap());
    assert_ne!(before, after, "the renewed certificate is served");
    assert!(
        store.lookup(Some("old.example.com")).is_none(),
        "dropped name withdrawn, no default set"
    );
}

#[test]
fn mismatched_or_garbage_pem_is_refused_and_names_the_lineage() {
    let store = CertStore::new();
    let (cert, _) = self_signed(&["a.example"]);
    let (_, other_key) = self_signed(&["b.example"]);
    let err = store
        .set_default_pem(&cert, &other_key, "keys/cert.crt")
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("certificate keys/cert.crt: key does not match"),
        "{err}"
    );
    let mut bad = lineage("broken.example", &["broken.example"]);
    bad.fullchain_pem = "not pem".into();
    let err = store.install(&bad).unwrap_err();
    assert!(err.to_string().contains("broken.example"), "{err}");
    assert!(store.lookup(Some("broken.example")).is_none());
}

#[test]
fn load_default_reads_swag_keys_dir() {
    let dir = tempfile::tempdir().unwrap();
    let err = CertStore::new().load_default(dir.path()).unwrap_err();
    assert!(err.to_string().contains("keys/cert.crt"), "{err}");
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    let (cert, key) = self_signed(&["*"]);
    std::fs::write(dir.path().join("keys/cert.crt"), cert).unwrap();
    std::fs::write(dir.path().join("keys/cert.key"), key).unwrap();
    let store = CertStore::new();
    store.load_default(dir.path()).unwrap();
    assert!(store.lookup(Some("anything.example")).is_some());
}

#[test]
fn server_ssl_certificate_overrides_the_store_except_the_default_path() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, names: &[&str]| {
        let (cert, key) = self_signed(names);
        std::fs::write(dir.path().join(format!("{name}.crt")), cert).unwrap();
        std::fs::write(dir.path().join(format!("{name}.key")), key).unwrap();
        (
            dir.path().join(format!("{name}.crt")),
            dir.path().join(format!("{name}.key")),
        )
    };
    let (own_cert, own_key) = write("own", &["own.example.com"]);
    let (default_cert, default_key) = write("default", &["default"]);
    let store = CertStore::new();
    store
        .install(&lineage("example.com", &["*.example.com"]))
        .unwrap();
    let from_store = leaf(&store.lookup(Some("app.example.com")).unwrap());
    let servers = vec![
        ServerCertificate {
            names: vec!["app.*".into()],
            certificate: own_cert.clone(),
            key: own_key.clone(),
        },
        ServerCertificate {
            names: vec!["cloud.*".into()],
            certificate: default_cert.clone(),
            key: default_key,
        },
        ServerCertificate {
            names: vec!["broken.*".into()],
            certificate: dir.path().join("missing.crt"),
            key: own_key,
        },
    ];
    let errors = store.set_server_certificates(&servers, &default_cert);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].to_string().contains("missing.crt"),
        "{}",
        errors[0]
    );
    let own = leaf(&store.lookup(Some("app.example.com")).unwrap());
    assert_ne!(own, from_store, "the server's own certificate wins");
    assert_eq!(
        leaf(&store.lookup(Some("cloud.example.com")).unwrap()),
        from_store,
        "default path: store applies"
    );
    // A reload without the override restores the store's certificate.
    assert!(store.set_server_certificates(&[], &default_cert).is_empty());
    assert_eq!(
        leaf(&store.lookup(Some("app.example.com")).unwrap()),
        from_store
    );
}
