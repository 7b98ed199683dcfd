//! The built binary lays out /config as SWAG does, refreshes samples on every
//! start, never touches active confs, and writes keys 0600.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use foundation::{moat_bin, moat_command, stop_gracefully, temp_config, Running};

const START: Duration = Duration::from_secs(20);

/// Starts moat on `dir`, waits until it runs, stops it with SIGTERM and
/// returns its log.
fn start_and_stop(dir: &Path, envs: &[(&str, &str)]) -> String {
    let mut moat = Running::spawn(moat_command(moat_bin(), dir, envs));
    moat.wait_for(&["supervisor running"], START);
    stop_gracefully(&mut moat);
    moat.log()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn repo_file(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

#[test]
fn first_start_creates_the_swag_layout() {
    let tmp = temp_config();
    let dir = tmp.path().join("config");
    start_and_stop(&dir, &[]);

    for d in [
        "nginx",
        "nginx/site-confs",
        "nginx/proxy-confs",
        "dns-conf",
        "etc/letsencrypt",
        "keys",
        "log/nginx",
        "log/letsencrypt",
        "www",
    ] {
        assert!(dir.join(d).is_dir(), "{d} is a directory");
    }
    for (rel, source) in [
        ("nginx/nginx.conf", "defaults/nginx/nginx.conf"),
        ("nginx/ssl.conf", "defaults/nginx/ssl.conf"),
        ("nginx/proxy.conf", "defaults/nginx/proxy.conf"),
        (
            "nginx/site-confs/default.conf",
            "defaults/nginx/site-confs/default.conf",
        ),
        (
            "nginx/authelia-location.conf",
            "defaults/nginx/authelia-location.conf",
        ),
        (
            "nginx/authelia-server.conf",
            "defaults/nginx/authelia-server.conf",
        ),
        (
            "nginx/authentik-location.conf",
            "defaults/nginx/authentik-location.conf",
        ),
        (
            "nginx/authentik-server.conf",
            "defaults/nginx/authentik-server.conf",
        ),
        (
            "nginx/ldap-location.conf",
            "defaults/nginx/ldap-location.conf",
        ),
        ("nginx/ldap-server.conf", "defaults/nginx/ldap-server.conf"),
        (
            "nginx/tinyauth-location.conf",
            "defaults/nginx/tinyauth-location.conf",
        ),
        (
            "nginx/tinyauth-server.conf",
            "defaults/nginx/tinyauth-server.conf",
        ),
    ] {
        let want = repo_file(source);
        assert_eq!(
            std::fs::read_to_string(dir.join(rel)).unwrap(),
            want,
            "{rel}"
        );
        let sample = format!("{rel}.sample");
        assert_eq!(
            std::fs::read_to_string(dir.join(&sample)).unwrap(),
            want,
            "{sample}"
        );
        assert_eq!(mode(&dir.join(rel)), 0o644, "{rel} mode");
    }
    let default_conf = std::fs::read_to_string(dir.join("nginx/site-confs/default.conf")).unwrap();
    assert!(default_conf.contains("include /config/nginx/proxy-confs/*.subfolder.conf;"));
    assert!(default_conf.contains("include /config/nginx/proxy-confs/*.subdomain.conf;"));
    assert!(default_conf.contains("return 301 https://$host$request_uri;"));

    let resolver = std::fs::read_to_string(dir.join("nginx/resolver.conf")).unwrap();
    let line = resolver
        .lines()
        .find(|l| l.starts_with("resolver "))
        .expect("a resolver line");
    assert!(line.ends_with(" valid=30s;"), "{line}");
    assert!(!line.contains("::"), "IPv6 servers are dropped: {line}");

    for name in [
        "code-server.subdomain.conf.sample",
        "gitea.subdomain.conf.sample",
        "homeassistant.subdomain.conf.sample",
        "jellyfin.subdomain.conf.sample",
        "nextcloud.subdomain.conf.sample",
        "open-webui.subdomain.conf.sample",
        "open-webui.subfolder.conf.sample",
        "portainer.subdomain.conf.sample",
        "vaultwarden.subdomain.conf.sample",
    ] {
        let got = std::fs::read_to_string(dir.join("nginx/proxy-confs").join(name)).unwrap();
        assert_eq!(got, repo_file(&format!("proxy-confs/{name}")), "{name}");
    }
    let active: Vec<_> = std::fs::read_dir(dir.join("nginx/proxy-confs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    assert!(active.is_empty(), "no sample is activated: {active:?}");

    for ini in [
        "aliyun.ini",
        "cloudflare.ini",
        "duckdns.ini",
        "rfc2136.ini",
        "google.json",
        "inwx.ini",
    ] {
        let path = dir.join("dns-conf").join(ini);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            repo_file(&format!("dns-conf/{ini}"))
        );
        assert_eq!(mode(&path), 0o600, "{ini} holds credentials");
    }
    assert_eq!(mode(&dir.join("keys/cert.key")), 0o600, "private key mode");
    let key = std::fs::read_to_string(dir.join("keys/cert.key")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    let leftovers: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.contains(".moat-tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left behind: {leftovers:?}"
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn second_start_refreshes_samples_and_leaves_active_confs_alone() {
    let tmp = temp_config();
    let dir = tmp.path();
    start_and_stop(dir, &[]);

    let proxy_conf = dir.join("nginx/proxy.conf");
    let user_proxy = "# mine\nproxy_read_timeout 600;\n";
    std::fs::write(&proxy_conf, user_proxy).unwrap();
    let nginx_sample = dir.join("nginx/nginx.conf.sample");
    std::fs::write(&nginx_sample, "stale").unwrap();
    let nextcloud_sample = dir.join("nginx/proxy-confs/nextcloud.subdomain.conf.sample");
    std::fs::write(&nextcloud_sample, "stale").unwrap();
    let gitea_sample = dir.join("nginx/proxy-confs/gitea.subdomain.conf.sample");
    std::fs::remove_file(&gitea_sample).unwrap();
    let active = dir.join("nginx/proxy-confs/nextcloud.subdomain.conf");
    let user_active = "# my nextcloud\n";
    std::fs::write(&active, user_active).unwrap();
    let ini = dir.join("dns-conf/aliyun.ini");
    std::fs::write(&ini, "dns_aliyun_access_key = real\n").unwrap();
    let cert_before = std::fs::read(dir.join("keys/cert.crt")).unwrap();
    let key_before = std::fs::read(dir.join("keys/cert.key")).unwrap();
    std::fs::remove_file(dir.join("nginx/ssl.conf")).unwrap();

    start_and_stop(dir, &[]);

    assert_eq!(
        std::fs::read_to_string(&proxy_conf).unwrap(),
        user_proxy,
        "active proxy.conf kept"
    );
    assert_eq!(
        std::fs::read_to_string(&active).unwrap(),
        user_active,
        "active proxy-conf kept"
    );
    assert_eq!(
        std::fs::read_to_string(&ini).unwrap(),
        "dns_aliyun_access_key = real\n"
    );
    assert_eq!(
        std::fs::read_to_string(&nginx_sample).unwrap(),
        repo_file("defaults/nginx/nginx.conf")
    );
    assert_eq!(
        std::fs::read_to_string(&nextcloud_sample).unwrap(),
        repo_file("proxy-confs/nextcloud.subdomain.conf.sample")
    );
    assert!(gitea_sample.is_file(), "a deleted sample comes back");
    assert_eq!(
        std::fs::read_to_string(dir.join("nginx/ssl.conf")).unwrap(),
        repo_file("defaults/nginx/ssl.conf"),
        "a deleted default comes back"
    );
    assert_eq!(
        std::fs::read(dir.join("keys/cert.crt")).unwrap(),
        cert_before,
        "certificate kept"
    );
    assert_eq!(
        std::fs::read(dir.join("keys/cert.key")).unwrap(),
        key_before,
        "key kept"
    );
}

#[test]
fn self_signed_certificate_covers_localhost_and_the_configured_names() {
    let tmp = temp_config();
    let dir = tmp.path();
    start_and_stop(dir, &[("URL", "example.com"), ("SUBDOMAINS", "www,chat")]);
    let pem = std::fs::read(dir.join("keys/cert.crt")).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("PEM");
    let cert = pem.parse_x509().expect("X.509");
    let san = cert
        .subject_alternative_name()
        .unwrap()
        .expect("SAN present");
    let names: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    for want in [
        "localhost",
        "example.com",
        "www.example.com",
        "chat.example.com",
    ] {
        assert!(
            names.iter().any(|n| n.contains(want)),
            "{want} in {names:?}"
        );
    }
    assert!(cert.validity().is_valid(), "valid now");
}

#[test]
fn a_dangling_certificate_link_is_replaced_by_a_self_signed_pair() {
    let tmp = temp_config();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::os::unix::fs::symlink(
        "../etc/letsencrypt/live/gone/fullchain.pem",
        dir.join("keys/cert.crt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../etc/letsencrypt/live/gone/privkey.pem",
        dir.join("keys/cert.key"),
    )
    .unwrap();
    let log = start_and_stop(dir, &[]);
    assert!(log.contains("dangling"), "the reason is logged:\n{log}");
    assert!(std::fs::read_to_string(dir.join("keys/cert.crt"))
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    assert_eq!(mode(&dir.join("keys/cert.key")), 0o600);
}

#[test]
fn files_belong_to_puid_and_pgid_when_running_as_root() {
    if !env::require_root("files_belong_to_puid_and_pgid_when_running_as_root") {
        return;
    }
    let tmp = temp_config();
    let dir = tmp.path().join("config");
    // Files an earlier run (or SWAG, or a root shell) left, owned by root:
    // handed over too, as SWAG's `lsiown -R` does.
    for rel in [
        "nginx/proxy-confs/app.subdomain.conf",
        "etc/letsencrypt/live/old.example/cert.pem",
    ] {
        std::fs::create_dir_all(dir.join(rel).parent().unwrap()).unwrap();
        std::fs::write(dir.join(rel), "left by root\n").unwrap();
    }
    start_and_stop(&dir, &[("PUID", "4321"), ("PGID", "4322")]);
    for rel in [
        "",
        "nginx",
        "nginx/nginx.conf",
        "nginx/proxy-confs/nextcloud.subdomain.conf.sample",
        "nginx/proxy-confs/app.subdomain.conf",
        "etc/letsencrypt/live/old.example/cert.pem",
        "keys/cert.key",
        "keys/cert.crt",
        "dns-conf/aliyun.ini",
        "www/index.html",
    ] {
        let meta = std::fs::metadata(dir.join(rel)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4321, 4322), "owner of {rel:?}");
    }
}

#[test]
fn outside_a_container_a_users_folder_stays_theirs_without_puid() {
    // SWAG's 911:911 default is for its image; `moat run --config ./demo`
    // as root on a user's machine (not PID 1) must not give that folder,
    // or files the user left in it, to uid 911.
    if !env::require_root("outside_a_container_a_users_folder_stays_theirs_without_puid") {
        return;
    }
    let tmp = temp_config();
    let dir = tmp.path().join("config");
    std::fs::create_dir_all(dir.join("nginx/proxy-confs")).unwrap();
    std::fs::write(
        dir.join("nginx/proxy-confs/mine.subdomain.conf"),
        "# mine\n",
    )
    .unwrap();
    std::os::unix::fs::chown(
        dir.join("nginx/proxy-confs/mine.subdomain.conf"),
        Some(1234),
        Some(1235),
    )
    .unwrap();
    start_and_stop(&dir, &[]);
    let owner = |rel: &str| {
        let meta = std::fs::metadata(dir.join(rel)).unwrap();
        (meta.uid(), meta.gid())
    };
    assert_eq!(owner("nginx/proxy-confs/mine.subdomain.conf"), (1234, 1235));
    for rel in ["", "nginx/nginx.conf", "keys/cert.key"] {
        assert_eq!(
            owner(rel),
            (0, 0),
            "{rel:?} is the running user's, not 911's"
        );
    }
}
