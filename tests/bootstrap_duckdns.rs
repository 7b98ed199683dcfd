//! SWAG's legacy `VALIDATION=duckdns` + `DUCKDNSTOKEN`: the token lands in
//! `dns-conf/duckdns.ini` (0600) at every start, and never in a log or Debug.

use std::os::unix::fs::PermissionsExt;

use moat::bootstrap::{prepare, BootstrapOptions, ConfigLayout};
use moat::settings::{Settings, Validation};

#[test]
fn duckdns_token_is_written_to_its_ini_at_every_start() {
    let tmp = tempfile::tempdir().unwrap();
    let env = |token: &str| {
        Settings::from_vars(
            [
                ("URL", "me.duckdns.org"),
                ("VALIDATION", "duckdns"),
                ("DUCKDNSTOKEN", token),
                ("CONFIG_DIR", tmp.path().to_str().unwrap()),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap()
    };
    let settings = env("0a1b2c3d-Token");
    assert_eq!(settings.validation, Validation::Dns("duckdns".into()));
    assert!(
        !format!("{settings:?}").contains("0a1b2c3d"),
        "the token never shows in Debug output"
    );
    let layout = ConfigLayout::new(tmp.path());
    let opts = |s: &Settings| BootstrapOptions {
        duckdns_token: s.duckdns_token.clone(),
        ..BootstrapOptions::default()
    };
    prepare(&layout, &opts(&settings)).unwrap();
    let ini = layout.dns_ini("duckdns");
    let text = std::fs::read_to_string(&ini).unwrap();
    assert!(
        text.contains("dns_duckdns_token = 0a1b2c3d-Token\n"),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&ini).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A new token replaces the old one at the next start.
    prepare(&layout, &opts(&env("new-token"))).unwrap();
    let text = std::fs::read_to_string(&ini).unwrap();
    assert!(text.contains("dns_duckdns_token = new-token\n") && !text.contains("0a1b2c3d"));

    // Without the token, the ini (now the user's) is left alone.
    let plain = Settings::from_vars(
        [("CONFIG_DIR", tmp.path().to_str().unwrap())].map(|(k, v)| (k.to_string(), v.to_string())),
    )
    .unwrap();
    prepare(&layout, &opts(&plain)).unwrap();
    assert!(std::fs::read_to_string(&ini).unwrap().contains("new-token"));
}
