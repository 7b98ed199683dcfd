//! `moat dns-check` as a user runs it: environment plus /config, one line out.

#[path = "support/challtestsrv.rs"]
mod challtestsrv;
#[path = "support/env.rs"]
mod env;
#[path = "support/fake_alidns.rs"]
mod fake_alidns;
#[path = "support/fake_http.rs"]
mod fake_http;

use std::path::Path;
use std::process::Output;

use fake_alidns::{FakeAlidns, FakeAlidnsOptions};

async fn dns_check(config: &Path, vars: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_moat"));
    cmd.arg("dns-check").arg("--config").arg(config);
    for v in [
        "VALIDATION",
        "DNSPLUGIN",
        "URL",
        "EXTRA_DOMAINS",
        "CONFIG_DIR",
    ] {
        cmd.env_remove(v);
    }
    cmd.envs(vars.iter().copied());
    cmd.output().await.expect("run moat")
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn bad_key_fails_then_the_edited_ini_passes_on_the_next_run() {
    let Some(bin) = env::require_program(
        "bad_key_fails_then_the_edited_ini_passes",
        "pebble-challtestsrv",
    ) else {
        return;
    };
    let fake = FakeAlidns::start(&bin, FakeAlidnsOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("VALIDATION", "dns"),
        ("DNSPLUGIN", "aliyun"),
        ("URL", "\"Example.test\""),
    ];

    fake.write_ini(dir.path(), Some("not-the-secret"), None);
    let o = dns_check(dir.path(), &vars).await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).starts_with("aliyun: the signature was rejected: dns_aliyun_access_key_secret in "),
        "{}",
        out(&o)
    );
    assert!(!out(&o).contains("not-the-secret"));

    fake.write_ini(dir.path(), None, Some("1"));
    let o = dns_check(dir.path(), &vars).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "aliyun: credentials accepted (Signature V2); example.test in zone example.test\n"
    );
    assert!(fake.records().is_empty());
}

#[tokio::test]
async fn missing_ini_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let o = dns_check(
        dir.path(),
        &[
            ("VALIDATION", "dns"),
            ("DNSPLUGIN", "cloudflare"),
            ("URL", "example.test"),
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "cloudflare: {}/dns-conf/cloudflare.ini: file not found: create it with the dns_cloudflare_* keys (see the template in dns-conf/)\n",
            dir.path().display()
        )
    );
}

#[tokio::test]
async fn unknown_plugin_lists_the_supported_ones() {
    let dir = tempfile::tempdir().unwrap();
    let o = dns_check(
        dir.path(),
        &[("VALIDATION", "dns"), ("DNSPLUGIN", "njalla")],
    )
    .await;
    assert_eq!(o.status.code(), Some(78));
    assert!(
        out(&o).contains(&format!(
            "DNSPLUGIN=\"njalla\": unknown DNS provider; for any other DNS host use \
             DNSPLUGIN=acmedns (one CNAME to an acme-dns server) or DNSPLUGIN=exec (a program \
             of yours) (allowed: {})",
            moat::dns::PROVIDER_NAMES.join(", ")
        )),
        "{}",
        out(&o)
    );
}

#[tokio::test]
async fn group_readable_ini_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dns-conf")).unwrap();
    let ini = dir.path().join("dns-conf/duckdns.ini");
    std::fs::write(
        &ini,
        "dns_duckdns_token = 0b7e1b36-1234-4bcd-9876-fedcba987654\n",
    )
    .unwrap();
    std::fs::set_permissions(&ini, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = dns_check(
        dir.path(),
        &[("VALIDATION", "duckdns"), ("URL", "mine.duckdns.org")],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("credentials file is readable by group or others; run chmod 600 on it"),
        "{err}"
    );
    assert!(!out(&o).contains("0b7e1b36-1234"), "{}", out(&o));
}

#[tokio::test]
async fn http_validation_has_nothing_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let o = dns_check(dir.path(), &[("URL", "example.test")]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "dns-check: VALIDATION=http uses no DNS provider; nothing to check\n"
    );
}
