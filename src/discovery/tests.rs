//! The reconciler on a real /config tree (moat's bootstrap), with the
//! conf loader as the judge of what it writes.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::bootstrap::{prepare, BootstrapOptions, ConfigLayout};

fn config() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    prepare(&ConfigLayout::new(dir.path()), &BootstrapOptions::default()).unwrap();
    dir
}

fn container(name: &str, labels: &[(&str, &str)]) -> ContainerFacts {
    let mut all: BTreeMap<String, String> = BTreeMap::from([("swag".into(), "enable".into())]);
    all.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ContainerFacts {
        name: name.into(),
        labels: all,
        exposed_ports: vec![3000],
        networks: vec![("web".into(), Some("172.20.0.9".parse().unwrap()))],
    }
}

fn confs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("nginx/proxy-confs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    names
}

fn served_names(dir: &Path) -> Vec<String> {
    let (table, _) = crate::conf::load(dir).expect("the tree loads");
    let mut names: Vec<String> = table.describe().into_iter().flat_map(|s| s.names).collect();
    names.sort();
    names
}

#[test]
fn publishes_updates_and_removes_as_containers_come_and_go() {
    let dir = config();
    let own = vec!["web".to_string()];
    let mut r = Reconciler::new(dir.path().to_path_buf(), Default::default());
    let first = r.sync(
        &[
            container("whoami", &[]),
            container("vault", &[("swag_preset_conf", "vaultwarden")]),
        ],
        Some(&own),
    );
    assert_eq!(first.written, ["vault", "whoami"]);
    assert_eq!(
        confs(dir.path()),
        [
            "auto-proxy-vault.subdomain.conf",
            "auto-proxy-whoami.subdomain.conf"
        ]
    );
    let names = served_names(dir.path());
    assert!(names.contains(&"whoami.*".to_string()), "{names:?}");
    assert!(names.contains(&"vault.*".to_string()), "{names:?}");
    let vault =
        std::fs::read_to_string(conf_path(&dir.path().join("nginx/proxy-confs"), "vault")).unwrap();
    assert!(
        vault.contains("## base: vaultwarden.subdomain.conf.sample"),
        "{vault}"
    );
    assert!(vault.contains("set $upstream_app vault;"), "{vault}");

    // Nothing changed: nothing is written again.
    let again = r.sync(
        &[
            container("whoami", &[]),
            container("vault", &[("swag_preset_conf", "vaultwarden")]),
        ],
        Some(&own),
    );
    assert_eq!(again, Changes::default());

    // Relabelled, and one gone.
    let next = r.sync(
        &[container("whoami", &[("swag_url", "who.example.com")])],
        Some(&own),
    );
    assert_eq!(
        (next.written, next.removed),
        (vec!["whoami".to_string()], vec!["vault".to_string()])
    );
    assert_eq!(
        served_names(dir.path())
            .iter()
            .filter(|n| n.contains("who"))
            .collect::<Vec<_>>(),
        ["who.example.com"]
    );
    assert_eq!(confs(dir.path()), ["auto-proxy-whoami.subdomain.conf"]);
}

#[test]
fn user_confs_win_and_are_never_touched() {
    let dir = config();
    let pc = dir.path().join("nginx/proxy-confs");
    let mine = "server {\n    listen 443 ssl;\n    server_name mine.example.com;\n    include /config/nginx/ssl.conf;\n    location / { return 204; }\n}\n";
    std::fs::write(pc.join("auto-proxy-app.subdomain.conf"), mine).unwrap();
    std::fs::write(
        pc.join("other.subdomain.conf"),
        mine.replace("mine", "other"),
    )
    .unwrap();
    let mut r = Reconciler::new(dir.path().to_path_buf(), Default::default());
    let changes = r.sync(&[container("app", &[]), container("other", &[])], None);
    assert_eq!(changes, Changes::default());
    assert_eq!(
        std::fs::read_to_string(pc.join("auto-proxy-app.subdomain.conf")).unwrap(),
        mine
    );
    assert!(!pc.join("auto-proxy-other.subdomain.conf").exists());
    // And a user file is never removed, even with no container at all.
    r.sync(&[], None);
    assert_eq!(
        std::fs::read_to_string(pc.join("auto-proxy-app.subdomain.conf")).unwrap(),
        mine
    );
}

#[test]
fn a_label_that_breaks_the_tree_is_refused_and_the_old_conf_stays() {
    let dir = config();
    let pc = dir.path().join("nginx/proxy-confs");
    let mut r = Reconciler::new(dir.path().to_path_buf(), Default::default());
    r.sync(&[container("app", &[])], None);
    let before = std::fs::read_to_string(conf_path(&pc, "app")).unwrap();
    let changes = r.sync(
        &[
            container(
                "app",
                &[("swag_server_custom_directive", "bogus_directive on;")],
            ),
            container("fine", &[]),
        ],
        None,
    );
    assert_eq!(changes.written, ["fine"]);
    assert_eq!(
        std::fs::read_to_string(conf_path(&pc, "app")).unwrap(),
        before
    );
    crate::conf::load(dir.path()).expect("the tree still loads");
    // Refused labels keep what serves too, and write nothing new.
    let changes = r.sync(
        &[
            container("app", &[("swag_url", "bad name")]),
            container("fine", &[]),
            container("new", &[("swag_port", "0")]),
        ],
        None,
    );
    assert_eq!(changes, Changes::default());
    assert!(!conf_path(&pc, "new").exists());
    // Stopped: gone.
    let changes = r.sync(&[], None);
    assert_eq!(changes.removed, ["app", "fine"]);
}

#[test]
fn a_preset_that_does_not_exist_is_refused_not_replaced_by_the_template() {
    let dir = config();
    let mut r = Reconciler::new(dir.path().to_path_buf(), Default::default());
    let changes = r.sync(
        &[container("app", &[("swag_preset_conf", "nosuchapp")])],
        None,
    );
    assert_eq!(changes, Changes::default());
}
