//! Builds SWAG's `/config` layout from the shared corpus for `conf` tests,
//! and makes requests to ask a route table about.
//! Include it with `#[path = "support/conf.rs"] mod conf_support;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use moat::conf::RequestInfo;

/// The corpus: `$MOAT_CORPUS`, else the copy in the repository,
/// `tests/corpus/` (SWAG's files verbatim; see its SOURCE.txt files), so
/// that a clean clone on a fresh machine has what the tests read.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os("MOAT_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus"),
    }
}

/// Every `*.conf.sample` in the reverse-proxy-confs corpus, sorted.
pub fn proxy_samples() -> Vec<PathBuf> {
    let dir = corpus_dir().join("reverse-proxy-confs");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} must exist: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".conf.sample"))
        .collect();
    v.sort();
    v
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create layout dir");
    for e in std::fs::read_dir(from).expect("read corpus dir") {
        let e = e.expect("dir entry");
        let p = e.path();
        let name = e.file_name().into_string().expect("utf-8 corpus names");
        if p.is_dir() {
            copy_tree(&p, &to.join(&name));
            continue;
        }
        std::fs::copy(&p, to.join(&name)).expect("copy corpus file");
        if let Some(active) = name.strip_suffix(".sample") {
            std::fs::copy(&p, to.join(active)).expect("activate default");
        }
    }
}

/// A fresh `/config` laid out as SWAG's first start leaves it: defaults
/// activated (`X.conf.sample` copied to `X.conf`), every proxy-conf sample
/// present but inactive.
pub fn swag_layout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(
        &corpus_dir().join("swag-defaults/nginx"),
        &dir.path().join("nginx"),
    );
    let pc = dir.path().join("nginx/proxy-confs");
    std::fs::create_dir_all(&pc).expect("proxy-confs dir");
    for s in proxy_samples() {
        std::fs::copy(&s, pc.join(s.file_name().expect("name"))).expect("copy sample");
    }
    dir
}

/// Activates one proxy-conf sample by name (`nextcloud.subfolder`).
pub fn activate(config: &Path, name: &str) {
    let pc = config.join("nginx/proxy-confs");
    std::fs::copy(
        pc.join(format!("{name}.conf.sample")),
        pc.join(format!("{name}.conf")),
    )
    .unwrap_or_else(|e| panic!("activate {name}: {e}"));
}

/// Writes `text` as an active proxy-conf.
pub fn write_conf(config: &Path, file: &str, text: &str) {
    std::fs::write(config.join("nginx/proxy-confs").join(file), text).expect("write conf");
}

/// An HTTPS request on port 443 from 192.0.2.10.
pub fn https(host: &str, uri: &str) -> RequestInfo {
    RequestInfo {
        method: "GET".into(),
        tls: true,
        server_port: 443,
        host: Some(host.to_string()),
        sni: Some(host.to_string()),
        uri: uri.to_string(),
        headers: vec![("Host".into(), host.to_string())],
        remote: "192.0.2.10:40000".parse::<SocketAddr>().expect("addr"),
        proxy_protocol: None,
        client_certs: None,
    }
}

/// Comments out default.conf's `location / { ... }` as those files instruct.
pub fn free_root_location(config: &std::path::Path) {
    let path = config.join("nginx/site-confs/default.conf");
    let text = std::fs::read_to_string(&path).expect("default.conf");
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim() == "location / {" {
            inside = true;
        }
        if inside {
            out.push('#');
            if line.trim() == "}" {
                inside = false;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    std::fs::write(&path, out).expect("write default.conf");
}
