//! Every SWAG proxy-conf sample loads as an active conf inside SWAG's
//! default layout, alone and all together, and the placeholder templates
//! are rejected as nginx rejects them.

#[path = "support/conf.rs"]
mod conf_support;

use conf_support::{activate, free_root_location, proxy_samples, swag_layout};
use moat::conf::{load, Action};

/// Subfolder files that declare `location /`: their first comment tells the
/// user to comment out default.conf's own `location /`, as they must with nginx.
const TAKES_ROOT: &[&str] = &[
    "heimdall.subfolder",
    "organizr.subfolder",
    "wordpress.subfolder",
];

/// Files dropped when all are active, each with the file it clashes with
/// and the error nginx gives.
const CLASHES: &[(&str, &str, &str)] = &[
    (
        "organizr.subfolder",
        "heimdall.subfolder",
        "duplicate location \"/\"",
    ),
    (
        "wordpress.subfolder",
        "heimdall.subfolder",
        "duplicate location \"/\"",
    ),
    (
        "calibre.subfolder",
        "boinc.subfolder",
        "duplicate location \"/websockify\"",
    ),
];

fn stem(p: &std::path::Path) -> String {
    let n = p.file_name().expect("name").to_string_lossy();
    n.trim_end_matches(".conf.sample").to_string()
}

#[test]
fn every_corpus_file_loads_alone_in_swag_layout() {
    let cfg = swag_layout();
    let pc = cfg.path().join("nginx/proxy-confs");
    let mut failures = Vec::new();
    let mut loaded = 0;
    for sample in proxy_samples() {
        let name = stem(&sample);
        if name.starts_with("_template") {
            continue;
        }
        let root_taker = TAKES_ROOT.contains(&name.as_str());
        let pristine = cfg.path().join("nginx/site-confs/default.conf.sample");
        if root_taker {
            free_root_location(cfg.path());
        }
        activate(cfg.path(), &name);
        match load(cfg.path()) {
            Ok((table, _)) => {
                loaded += 1;
                assert!(!table.describe().is_empty(), "{name}: no servers");
            }
            Err(errs) => failures.push(format!(
                "{name}: {}",
                errs.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }
        std::fs::remove_file(pc.join(format!("{name}.conf"))).expect("deactivate");
        if root_taker {
            std::fs::copy(&pristine, cfg.path().join("nginx/site-confs/default.conf"))
                .expect("restore");
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n{}",
        failures.len(),
        loaded + failures.len(),
        failures.join("\n")
    );
    assert_eq!(loaded, 369, "the corpus holds 369 valid samples");
}

#[test]
fn template_files_are_rejected_naming_file_and_line() {
    for t in ["_template.subdomain", "_template.subfolder"] {
        let cfg = swag_layout();
        activate(cfg.path(), t);
        let errs = load(cfg.path()).expect_err("placeholders must not load");
        let text = errs
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            text.contains(&format!("{t}.conf:")),
            "{t}: error names the file: {text}"
        );
        assert!(
            text.contains("invalid number of arguments in \"set\" directive"),
            "{t}: {text}"
        );
    }
}

#[test]
fn all_valid_corpus_files_load_together() {
    let cfg = swag_layout();
    free_root_location(cfg.path());
    let mut active = 0;
    for sample in proxy_samples() {
        let name = stem(&sample);
        if name.starts_with("_template") || CLASHES.iter().any(|(c, _, _)| *c == name) {
            continue;
        }
        activate(cfg.path(), &name);
        active += 1;
    }
    let (table, report) = match load(cfg.path()) {
        Ok(ok) => ok,
        Err(errs) => panic!(
            "{}",
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    };
    assert_eq!(active, 366);
    // 263 subdomain servers (kasm has 2, openvscode-server 3) + default.conf's two.
    assert_eq!(table.describe().len(), 265);
    // The immich/unifi name clashes are warnings, as in nginx.
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("conflicting server name \"immich.*\"")),
        "{:#?}",
        report.warnings
    );
    let d = table.decide(&conf_support::https("nextcloud.example.com", "/index.php"));
    assert!(matches!(d.action, Action::Proxy(_)), "{d:?}");
}

#[test]
fn each_clash_is_reported_as_nginx_would() {
    for (name, other, message) in CLASHES {
        let cfg = swag_layout();
        free_root_location(cfg.path());
        activate(cfg.path(), name);
        activate(cfg.path(), other);
        let errs = load(cfg.path()).expect_err("clash must fail");
        let text = errs
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains(message), "{name}: {text}");
        assert!(
            text.contains(&format!("{name}.conf")) && text.contains(&format!("{other}.conf")),
            "{name}: names both files: {text}"
        );
    }
}
