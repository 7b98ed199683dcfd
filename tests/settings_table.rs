//! SWAG's environment rules as a table: each row is an environment and the
//! domain list, lineage name, or error it must produce.

use std::time::Duration;

use moat::settings::{CertProvider, KeyType, LogFormat, Settings, Validation};

fn settings(env: &[(&str, &str)]) -> Result<Settings, moat::settings::SettingsErrors> {
    Settings::from_vars(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

const DNS: (&str, &str) = ("VALIDATION", "dns");
const CF: (&str, &str) = ("DNSPLUGIN", "cloudflare");

type Env<'a> = &'a [(&'a str, &'a str)];

fn names(s: &Settings) -> Vec<String> {
    s.domains.iter().map(|d| d.to_string()).collect()
}

#[test]
fn domain_list_and_lineage_follow_swag() {
    // (env, expected names, expected lineage)
    let rows: &[(Env, &[&str], Option<&str>)] = &[
        (
            &[("URL", "example.com")],
            &["example.com"],
            Some("example.com"),
        ),
        (
            &[("URL", "\"Example.COM\""), ("SUBDOMAINS", "www,Chat")],
            &["example.com", "www.example.com", "chat.example.com"],
            Some("example.com"),
        ),
        (
            &[("URL", "example.com"), ("SUBDOMAINS", "www, chat,,cloud ")],
            &[
                "example.com",
                "www.example.com",
                "chat.example.com",
                "cloud.example.com",
            ],
            Some("example.com"),
        ),
        (
            &[
                ("URL", "example.com"),
                ("SUBDOMAINS", "www,chat"),
                ("ONLY_SUBDOMAINS", "true"),
            ],
            &["www.example.com", "chat.example.com"],
            Some("www.example.com"),
        ),
        (
            &[
                ("URL", "example.com"),
                ("SUBDOMAINS", "www"),
                ("ONLY_SUBDOMAINS", "TRUE"),
            ],
            &["www.example.com"],
            Some("www.example.com"),
        ),
        // Only exactly `true` (after lower-casing) is on.
        (
            &[
                ("URL", "example.com"),
                ("SUBDOMAINS", "www"),
                ("ONLY_SUBDOMAINS", "yes"),
            ],
            &["example.com", "www.example.com"],
            Some("example.com"),
        ),
        (
            &[("URL", "example.com"), ("SUBDOMAINS", "wildcard"), DNS, CF],
            &["example.com", "*.example.com"],
            Some("example.com"),
        ),
        (
            &[
                ("URL", "example.com"),
                ("SUBDOMAINS", "wildcard"),
                ("ONLY_SUBDOMAINS", "true"),
                DNS,
                CF,
            ],
            &["*.example.com"],
            Some("example.com"),
        ),
        // SWAG bug not copied: ONLY_SUBDOMAINS without SUBDOMAINS keeps the apex.
        (
            &[("URL", "example.com"), ("ONLY_SUBDOMAINS", "true")],
            &["example.com"],
            Some("example.com"),
        ),
        (
            &[
                ("URL", "example.com"),
                ("EXTRA_DOMAINS", "other.org,*.other.org"),
                DNS,
                CF,
            ],
            &["example.com", "other.org", "*.other.org"],
            Some("example.com"),
        ),
        (
            &[
                ("URL", "example.com"),
                ("SUBDOMAINS", "www"),
                ("ONLY_SUBDOMAINS", "true"),
                ("EXTRA_DOMAINS", "www.example.com,example.net"),
            ],
            &["www.example.com", "example.net"],
            Some("www.example.com"),
        ),
        // `*` is never glob-expanded: it stays a wildcard name.
        (
            &[
                ("URL", "example.com"),
                ("EXTRA_DOMAINS", "*.example.org"),
                DNS,
                CF,
            ],
            &["example.com", "*.example.org"],
            Some("example.com"),
        ),
        // No URL: no ACME names, not an error.
        (&[], &[], None),
        (&[("URL", "\"\"")], &[], None),
    ];
    for (env, want, lineage) in rows {
        let s = settings(env).unwrap_or_else(|e| panic!("{env:?} refused: {e}"));
        assert_eq!(names(&s), *want, "domains for {env:?}");
        assert_eq!(s.lineage_name(), *lineage, "lineage for {env:?}");
        assert_eq!(s.wants_acme(), lineage.is_some());
    }
}

#[test]
fn defaults_match_the_documented_ones() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.validation, Validation::Http);
    assert_eq!(s.cert_provider, CertProvider::LetsEncrypt);
    assert_eq!(
        s.acme_directory,
        "https://acme-v02.api.letsencrypt.org/directory"
    );
    assert_eq!((s.puid, s.pgid), (911, 911));
    assert_eq!(s.tz, "UTC");
    assert_eq!(s.config_dir, std::path::PathBuf::from("/config"));
    assert_eq!((s.http_port, s.https_port), (80, 443));
    assert_eq!(s.log_format, LogFormat::Text);
    assert_eq!(s.log_level, "info");
    assert_eq!(s.shutdown_grace, Duration::from_secs(5));
    assert_eq!(s.workers, None);
    assert_eq!(s.key_type, KeyType::EcdsaP256);
    assert!(!s.staging && !s.revoke_replaced && !s.only_subdomains);
    assert_eq!(s.email, None);
    assert_eq!(s.propagation, None);
}

#[test]
fn valid_values_are_typed() {
    let s = settings(&[
        ("URL", "example.com"),
        ("VALIDATION", "\"DNS\""),
        ("DNSPLUGIN", "Aliyun"),
        ("PROPAGATION", "90"),
        ("EMAIL", "Me@Example.com"),
        ("STAGING", "true"),
        ("CERT_PROFILE", "shortlived"),
        ("PUID", "1000"),
        ("PGID", "100"),
        ("HTTP_PORT", "8080"),
        ("HTTPS_PORT", "8443"),
        ("LOG_FORMAT", "JSON"),
        ("LOG_LEVEL", "moat=debug,pingora=warn"),
        ("SHUTDOWN_GRACE", "500ms"),
        ("WORKERS", "3"),
        ("KEY_TYPE", "rsa4096"),
        ("REVOKE_REPLACED", "true"),
        ("CONFIG_DIR", "/tmp/moat-config"),
    ])
    .unwrap();
    assert_eq!(s.validation, Validation::Dns("aliyun".into()));
    assert_eq!(s.propagation, Some(Duration::from_secs(90)));
    assert_eq!(s.email.as_deref(), Some("me@example.com"));
    assert_eq!(
        s.acme_directory,
        "https://acme-staging-v02.api.letsencrypt.org/directory"
    );
    assert_eq!(s.cert_profile.as_deref(), Some("shortlived"));
    assert_eq!(
        (s.puid, s.pgid, s.http_port, s.https_port),
        (1000, 100, 8080, 8443)
    );
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.shutdown_grace, Duration::from_millis(500));
    assert_eq!(s.workers.map(|w| w.get()), Some(3));
    assert_eq!(s.key_type, KeyType::Rsa4096);
    assert!(s.revoke_replaced);
    assert_eq!(s.config_dir, std::path::PathBuf::from("/tmp/moat-config"));
    assert_eq!(
        settings(&[("SHUTDOWN_GRACE", "7s")])
            .unwrap()
            .shutdown_grace,
        Duration::from_secs(7)
    );
    assert_eq!(
        settings(&[("SHUTDOWN_GRACE", "2")]).unwrap().shutdown_grace,
        Duration::from_secs(2)
    );
}

#[test]
fn duckdns_validation_means_dns_with_the_duckdns_plugin() {
    let s = settings(&[("URL", "me.duckdns.org"), ("VALIDATION", "duckdns")]).unwrap();
    assert_eq!(s.validation, Validation::Dns("duckdns".into()));
}

#[test]
fn duckdns_orders_hold_the_wildcard_or_the_apex_alone_as_swag_does() {
    // (env, names): DuckDNS keeps one TXT value per domain.
    let rows: &[(Env, &[&str])] = &[
        (
            &[
                ("URL", "me.duckdns.org"),
                ("VALIDATION", "duckdns"),
                ("SUBDOMAINS", "wildcard"),
            ],
            &["*.me.duckdns.org"],
        ),
        (
            &[
                ("URL", "me.duckdns.org"),
                ("VALIDATION", "dns"),
                ("DNSPLUGIN", "duckdns"),
                ("SUBDOMAINS", "wildcard"),
            ],
            &["*.me.duckdns.org"],
        ),
        (
            &[
                ("URL", "me.duckdns.org"),
                ("VALIDATION", "duckdns"),
                ("SUBDOMAINS", "www,cloud"),
            ],
            &["me.duckdns.org"],
        ),
        (
            &[("URL", "me.duckdns.org"), ("VALIDATION", "duckdns")],
            &["me.duckdns.org"],
        ),
        // Other providers keep apex + wildcard.
        (
            &[("URL", "example.com"), DNS, CF, ("SUBDOMAINS", "wildcard")],
            &["example.com", "*.example.com"],
        ),
    ];
    for (env, want) in rows {
        let s = settings(env).unwrap_or_else(|e| panic!("{env:?}: {e}"));
        assert_eq!(names(&s), *want, "{env:?}");
    }
    let s = settings(rows[0].0).unwrap();
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("left out: me.duckdns.org")),
        "{:?}",
        s.notes
    );
    assert!(settings(rows[3].0).unwrap().notes.is_empty());
}

#[test]
fn acme_server_overrides_provider_and_staging() {
    let s = settings(&[
        ("ACME_SERVER", "https://127.0.0.1:14000/dir"),
        ("STAGING", "true"),
    ])
    .unwrap();
    assert_eq!(s.acme_directory, "https://127.0.0.1:14000/dir");
    let z = settings(&[("CERTPROVIDER", "ZeroSSL"), ("EMAIL", "a@b.org")]).unwrap();
    assert_eq!(z.cert_provider, CertProvider::ZeroSsl);
    assert_eq!(z.acme_directory, "https://acme.zerossl.com/v2/DV90");
}

#[test]
fn email_without_at_is_unused_as_in_swag() {
    let s = settings(&[("EMAIL", "nobody")]).unwrap();
    assert_eq!(s.email, None);
    assert!(s.notes.iter().any(|n| n.contains("EMAIL")), "{:?}", s.notes);
}

#[test]
fn every_invalid_value_is_refused_naming_the_variable() {
    // (env, variable the message must name, a fragment of the message)
    let providers = moat::dns::PROVIDER_NAMES.join(", ");
    #[allow(clippy::type_complexity)]
    let rows: Vec<(Vec<(&str, &str)>, &str, String)> = vec![
        (
            vec![("URL", "exa mple.com")],
            "URL",
            "\"exa mple.com\"".into(),
        ),
        (vec![("URL", "-bad.example.com")], "URL", "'-'".into()),
        (
            vec![("URL", "https://example.com")],
            "URL",
            "not a URL".into(),
        ),
        (vec![("URL", "*.example.com")], "URL", "wildcard".into()),
        (vec![("URL", "bücher.de")], "URL", "punycode".into()),
        (vec![("URL", "example..com")], "URL", "empty label".into()),
        (
            vec![("URL", "example.com"), ("SUBDOMAINS", "ok,bad_label")],
            "SUBDOMAINS",
            "bad_label".into(),
        ),
        (
            vec![
                ("URL", "example.com"),
                ("SUBDOMAINS", "wildcard,www"),
                DNS,
                CF,
            ],
            "SUBDOMAINS",
            "already covers www".into(),
        ),
        (
            vec![
                ("URL", "example.com"),
                ("EXTRA_DOMAINS", "good.org,bad..org"),
            ],
            "EXTRA_DOMAINS",
            "bad..org".into(),
        ),
        (
            vec![("VALIDATION", "tls-alpn")],
            "VALIDATION",
            "http, dns, duckdns".into(),
        ),
        (vec![("VALIDATION", "dns")], "DNSPLUGIN", providers.clone()),
        (
            vec![("VALIDATION", "dns"), ("DNSPLUGIN", "\"\"")],
            "DNSPLUGIN",
            providers.clone(),
        ),
        (
            vec![("VALIDATION", "dns"), ("DNSPLUGIN", "route53x")],
            "DNSPLUGIN",
            providers.clone(),
        ),
        (
            vec![("PROPAGATION", "ten")],
            "PROPAGATION",
            "whole number".into(),
        ),
        (vec![("PROPAGATION", "-5")], "PROPAGATION", "\"-5\"".into()),
        (vec![("CERTPROVIDER", "zerossl")], "EMAIL", "zerossl".into()),
        (
            vec![("CERTPROVIDER", "zerossl"), ("EMAIL", "nobody")],
            "EMAIL",
            "'@'".into(),
        ),
        (
            vec![("CERTPROVIDER", "buypass")],
            "CERTPROVIDER",
            "letsencrypt, zerossl".into(),
        ),
        (
            vec![("CERT_PROFILE", "short lived")],
            "CERT_PROFILE",
            "profile".into(),
        ),
        (vec![("PUID", "abc")], "PUID", "numeric user id".into()),
        (vec![("PGID", "-1")], "PGID", "numeric group id".into()),
        (
            vec![("ACME_SERVER", "not a url")],
            "ACME_SERVER",
            "http(s) URL".into(),
        ),
        (
            vec![("ACME_SERVER", "ftp://x.org/dir")],
            "ACME_SERVER",
            "http(s) URL".into(),
        ),
        (
            vec![("HTTP_PORT", "70000")],
            "HTTP_PORT",
            "1 to 65535".into(),
        ),
        (vec![("HTTPS_PORT", "0")], "HTTPS_PORT", "port 0".into()),
        (
            vec![("HTTP_PORT", "8080"), ("HTTPS_PORT", "8080")],
            "HTTPS_PORT",
            "HTTP_PORT".into(),
        ),
        (
            vec![("LOG_FORMAT", "xml")],
            "LOG_FORMAT",
            "text, json".into(),
        ),
        (
            vec![("LOG_LEVEL", "moat=loud")],
            "LOG_LEVEL",
            "log filter".into(),
        ),
        (
            vec![("SHUTDOWN_GRACE", "soon")],
            "SHUTDOWN_GRACE",
            "not a duration".into(),
        ),
        (
            vec![("SHUTDOWN_GRACE", "7200")],
            "SHUTDOWN_GRACE",
            "hour".into(),
        ),
        (vec![("WORKERS", "0")], "WORKERS", "1 to 1024".into()),
        (vec![("WORKERS", "many")], "WORKERS", "1 to 1024".into()),
        (
            vec![("KEY_TYPE", "ed25519")],
            "KEY_TYPE",
            "rsa2048, rsa4096, ecdsa256, ecdsa384".into(),
        ),
    ];
    for (env, var, fragment) in rows {
        let errors = settings(&env).expect_err(&format!("{env:?} must be refused"));
        assert_eq!(
            errors.0.len(),
            1,
            "exactly one problem for {env:?}: {errors}"
        );
        let e = &errors.0[0];
        assert_eq!(e.var(), var, "{env:?}");
        let line = e.to_string();
        assert!(
            line.starts_with(&format!("{var}=")),
            "message names {var}: {line}"
        );
        assert!(
            line.contains(&fragment),
            "message for {env:?} mentions {fragment:?}: {line}"
        );
        assert!(
            line.contains("allowed:"),
            "message says what is allowed: {line}"
        );
        assert!(!line.contains('\n'), "one line per problem: {line:?}");
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let errors = settings(&[
        ("URL", "bad domain"),
        ("VALIDATION", "dns"),
        ("PROPAGATION", "x"),
        ("HTTP_PORT", "http"),
    ])
    .unwrap_err();
    let vars: Vec<&str> = errors.0.iter().map(|e| e.var()).collect();
    assert_eq!(vars, ["URL", "DNSPLUGIN", "PROPAGATION", "HTTP_PORT"]);
    assert_eq!(errors.to_string().lines().count(), 4);
}

#[test]
fn every_documented_variable_is_read() {
    // Setting each name to a value that is invalid for it (or distinctive)
    // must change the outcome: proves envy maps every const to a field.
    for var in moat::settings::vars::ALL {
        let bogus = match *var {
            "SWAG_AUTORELOAD" | "STAGING" | "ONLY_SUBDOMAINS" | "REVOKE_REPLACED"
            | "DISABLE_F2B" | "AUTO_PROXY_CERTS" => "true",
            "EMAIL" => "x@y.z",
            "TZ" => "Europe/Paris",
            "CONFIG_DIR" | "ACME_CA_ROOT" => "/somewhere",
            "SUBDOMAINS" | "EXTRA_DOMAINS" | "DNSPLUGIN" => "bad!name",
            _ => "bad value!",
        };
        // DUCKDNSTOKEN only matters with VALIDATION=duckdns.
        let context: &[(&str, &str)] = if *var == "DUCKDNSTOKEN" {
            &[("VALIDATION", "duckdns")]
        } else {
            &[]
        };
        let base = settings(context).unwrap();
        let mut env = context.to_vec();
        env.push((var, bogus));
        let changed = match settings(&env) {
            Err(_) => true,
            Ok(s) => format!("{s:?}") != format!("{base:?}"),
        };
        assert!(changed, "{var} is not read");
    }
}

#[test]
fn swag_params_are_recorded_as_swag_writes_them() {
    let s = settings(&[
        ("URL", "\"Example.com\""),
        ("SUBDOMAINS", "WWW"),
        ("STAGING", "TRUE"),
        ("EMAIL", "Me@Example.com"),
    ])
    .unwrap();
    let params = s.swag_params();
    let keys: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "ORIGURL",
            "ORIGSUBDOMAINS",
            "ORIGONLY_SUBDOMAINS",
            "ORIGEXTRA_DOMAINS",
            "ORIGVALIDATION",
            "ORIGDNSPLUGIN",
            "ORIGPROPAGATION",
            "ORIGSTAGING",
            "ORIGCERTPROVIDER",
            "ORIGEMAIL"
        ]
    );
    let get = |k: &str| params.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("ORIGURL"), "example.com");
    assert_eq!(get("ORIGSUBDOMAINS"), "www");
    assert_eq!(get("ORIGSTAGING"), "true");
    assert_eq!(get("ORIGEMAIL"), "me@example.com");
    assert_eq!(get("ORIGVALIDATION"), "");
}

#[test]
fn raw_get_knows_every_variable() {
    for var in moat::settings::vars::ALL {
        let raw = moat::settings::RawEnv::from_vars([(var.to_string(), "x".to_string())]);
        assert_eq!(raw.get(var), Some("x"), "{var}");
    }
}

#[test]
fn docker_host_names_the_socket_or_a_socket_proxy() {
    use moat::settings::DockerHost;
    let host = |v: &str| settings(&[("DOCKER_HOST", v)]).map(|s| s.docker_host);
    assert_eq!(settings(&[]).unwrap().docker_host, DockerHost::Auto);
    assert_eq!(
        host("unix:///run/docker.sock").unwrap(),
        DockerHost::Unix("/run/docker.sock".into())
    );
    assert_eq!(
        host("tcp://socket-proxy:2375").unwrap(),
        DockerHost::Tcp("socket-proxy:2375".into())
    );
    assert_eq!(host("off").unwrap(), DockerHost::Off);
    assert_eq!(DockerHost::Off.resolve(), None);
    for bad in [
        "unix://relative.sock",
        "tcp://noport",
        "ssh://host",
        "tcp://h:99999",
    ] {
        let errors = host(bad).unwrap_err();
        assert_eq!(errors.0[0].var(), "DOCKER_HOST", "{bad}");
        assert!(
            errors.to_string().contains("tcp://socket-proxy:2375"),
            "{errors}"
        );
    }
}
