//! Authentication fails closed: `auth_basic` is enforced with every
//! supported hash type, and what moat cannot evaluate (`auth_request`)
//! answers 503 instead of proxying unauthenticated.

#[path = "support/conf.rs"]
mod conf_support;

use base64::Engine;
use conf_support::{https, swag_layout, write_conf};
use moat::conf::{load, Action, RequestInfo, RouteTable};

// Hashes of "hunter2" made by openssl (apr1, SHA-1) and libxcrypt (bcrypt).
const HTPASSWD: &str = "\
bcrypt-user:$2y$05$75L4JbArmnM8DYFpSUG3eObCE1CWrpDpsqBUCJh9L/Oh9oVBWCKvK
sha-user:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=
apr1-user:$apr1$8sFt66rZ$6hb.eBN4cniSb4vtMuo3g1
";

const BASIC: &str = r#"
server {
    listen 443 ssl;
    server_name app.*;
    auth_basic "Restricted";
    auth_basic_user_file /config/nginx/.htpasswd;
    location / { proxy_pass http://app:80; }
    location /public { auth_basic off; proxy_pass http://app:80; }
}
"#;

fn basic_table() -> (tempfile::TempDir, RouteTable) {
    let cfg = swag_layout();
    std::fs::write(cfg.path().join("nginx/.htpasswd"), HTPASSWD).expect("htpasswd");
    write_conf(cfg.path(), "app.subdomain.conf", BASIC);
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    (cfg, t)
}

fn with_credentials(user: &str, password: &str) -> RequestInfo {
    let mut r = https("app.example.com", "/");
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    r.headers
        .push(("Authorization".into(), format!("Basic {token}")));
    r
}

#[test]
fn auth_basic_accepts_the_right_password_for_each_hash_type() {
    let (_c, t) = basic_table();
    for user in ["bcrypt-user", "sha-user", "apr1-user"] {
        let d = t.decide(&with_credentials(user, "hunter2"));
        assert!(matches!(d.action, Action::Proxy(_)), "{user}: {d:?}");
    }
}

#[test]
fn auth_basic_rejects_wrong_or_missing_credentials() {
    let (_c, t) = basic_table();
    let denied = Action::Unauthorized {
        realm: "Restricted".into(),
    };
    for user in ["bcrypt-user", "sha-user", "apr1-user"] {
        assert_eq!(
            t.decide(&with_credentials(user, "hunter3")).action,
            denied,
            "{user}"
        );
    }
    assert_eq!(
        t.decide(&with_credentials("nobody", "hunter2")).action,
        denied
    );
    assert_eq!(t.decide(&https("app.example.com", "/")).action, denied);
}

#[test]
fn auth_basic_off_in_a_location_lifts_the_server_requirement() {
    let (_c, t) = basic_table();
    let d = t.decide(&https("app.example.com", "/public/x"));
    assert!(matches!(d.action, Action::Proxy(_)), "{d:?}");
}

#[test]
fn missing_htpasswd_file_fails_the_load_naming_the_directive() {
    let cfg = swag_layout();
    write_conf(cfg.path(), "app.subdomain.conf", BASIC);
    let errs = load(cfg.path()).expect_err("a missing user file must fail the load");
    let text = errs[0].to_string();
    assert!(
        text.contains(
            "app.subdomain.conf:6:26: auth_basic_user_file /config/nginx/.htpasswd: cannot read"
        ),
        "{text}"
    );
}

#[test]
fn auth_request_location_answers_503_and_never_proxies() {
    let cfg = swag_layout();
    // sonarr with SWAG's Authelia lines uncommented, as users enable them.
    let conf = std::fs::read_to_string(
        cfg.path()
            .join("nginx/proxy-confs/sonarr.subdomain.conf.sample"),
    )
    .expect("sample")
    .replace(
        "#include /config/nginx/authelia-server.conf;",
        "include /config/nginx/authelia-server.conf;",
    )
    .replace(
        "#include /config/nginx/authelia-location.conf;",
        "include /config/nginx/authelia-location.conf;",
    );
    write_conf(cfg.path(), "sonarr.subdomain.conf", &conf);
    let (t, report) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("answers 503: auth_request /authelia/api/authz/auth-request")),
        "{:#?}",
        report.warnings
    );
    let d = t.decide(&https("sonarr.example.com", "/calendar"));
    assert!(
        matches!(&d.action, Action::Unavailable { reason } if reason.contains("auth_request")),
        "{d:?}"
    );
    // Authelia's own internal endpoint is not reachable from outside either.
    let d = t.decide(&https(
        "sonarr.example.com",
        "/authelia/api/authz/auth-request",
    ));
    assert_eq!(d.action, Action::Deny { status: 404 });
}

#[test]
fn auth_basic_without_a_user_file_answers_503() {
    let cfg = swag_layout();
    write_conf(
        cfg.path(),
        "x.subdomain.conf",
        "server { listen 443 ssl; server_name x.*; location / { auth_basic on; proxy_pass http://x:1; } }",
    );
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let d = t.decide(&https("x.example.com", "/"));
    assert!(matches!(d.action, Action::Unavailable { .. }), "{d:?}");
}

#[test]
fn access_affecting_directives_moat_lacks_fail_closed() {
    let cfg = swag_layout();
    write_conf(
        cfg.path(),
        "g.subdomain.conf",
        "server { listen 443 ssl; server_name g.*;
    location /link { secure_link $arg_md5,$arg_expires; proxy_pass http://g:1; }
    location /alias { alias /config/www/; }
    location /default { satisfy all; proxy_pass http://g:1; }
    location /open { proxy_pass http://g:1; }
}
server { listen 443 ssl; server_name h.*; ssl_verify_client on; location / { proxy_pass http://h:1; } }",
    );
    let (t, report) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    for (host, path, guard) in [
        ("g.example.com", "/link", "secure_link"),
        ("g.example.com", "/alias", "alias"),
        ("h.example.com", "/x", "ssl_verify_client"),
    ] {
        let d = t.decide(&https(host, path));
        assert!(
            matches!(&d.action, Action::Unavailable { reason } if reason.contains(guard) && reason.contains("g.subdomain.conf")),
            "{host}{path}: {d:?}"
        );
    }
    // They are listed (marked) in the load's no-effect summary.
    let summary = moat::conf::no_effect_summary(&report.no_effect, cfg.path()).expect("a summary");
    assert!(summary.contains("secure_link [503]"), "{summary}");
    // nginx's default value changes nothing; a location without such a
    // directive is unaffected.
    for path in ["/default", "/open"] {
        let d = t.decide(&https("g.example.com", path));
        assert!(matches!(d.action, Action::Proxy(_)), "{path}: {d:?}");
    }
}

#[test]
fn access_modules_swag_does_not_load_are_unknown_directives() {
    // nginx refuses these too (auth_jwt is nginx Plus, access_by_lua is
    // OpenResty, auth_pam a module SWAG's image lacks): the load fails
    // naming file and line instead of serving unauthenticated.
    for (body, name) in [
        ("auth_jwt \"api\";", "auth_jwt"),
        (
            "access_by_lua_file /config/guard.lua;",
            "access_by_lua_file",
        ),
        ("auth_pam \"login\";", "auth_pam"),
    ] {
        let cfg = swag_layout();
        write_conf(
            cfg.path(),
            "g.subdomain.conf",
            &format!("server {{ listen 443 ssl; server_name g.*;\n    location / {{ {body} proxy_pass http://g:1; }}\n}}"),
        );
        let errs = load(cfg.path()).expect_err("unknown directive");
        assert!(
            errs.iter()
                .any(|e| e.to_string().contains("g.subdomain.conf:2:")
                    && e.to_string()
                        .contains(&format!("unknown directive \"{name}\""))),
            "{errs:?}"
        );
    }
}

#[test]
fn a_server_requiring_client_certificates_answers_503_before_its_own_return() {
    let cfg = swag_layout();
    write_conf(
        cfg.path(),
        "m.subdomain.conf",
        "server { listen 443 ssl; server_name m.*; ssl_verify_client on; ssl_client_certificate /config/ca.pem;
    return 301 https://elsewhere/;
}
server { listen 443 ssl; server_name o.*; ssl_verify_client optional; location / { proxy_pass http://o:1; } }
server { listen 443 ssl; server_name n.*; ssl_verify_client off; location / { proxy_pass http://n:1; } }",
    );
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    for host in ["m.example.com", "o.example.com"] {
        let d = t.decide(&https(host, "/"));
        assert!(
            matches!(&d.action, Action::Unavailable { reason } if reason.contains("ssl_verify_client")),
            "{host}: {d:?}"
        );
    }
    let d = t.decide(&https("n.example.com", "/"));
    assert!(matches!(d.action, Action::Proxy(_)), "{d:?}");
}

#[test]
fn tls_settings_narrower_than_moat_s_policy_are_refused_never_ignored() {
    for (line, ok) in [
        ("ssl_protocols TLSv1.3;", false),
        ("ssl_protocols TLSv1.2;", false),
        ("ssl_protocols TLSv1.2 TLSv1.3;", true),
        ("ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;", true),
        ("ssl_ciphers ECDHE-RSA-AES256-GCM-SHA384;", false),
        ("ssl_ciphers HIGH:!aNULL:!MD5;", true),
        (
            "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256;",
            true,
        ),
    ] {
        let cfg = swag_layout();
        write_conf(
            cfg.path(),
            "t.subdomain.conf",
            &format!("server {{ listen 443 ssl; server_name t.*;\n{line}\nlocation / {{ proxy_pass http://t:1; }} }}"),
        );
        match load(cfg.path()) {
            Ok(_) => assert!(ok, "{line} must be refused"),
            Err(errs) => {
                assert!(!ok, "{line}: {errs:?}");
                assert!(
                    errs.iter().any(|e| e.to_string().contains("t.subdomain.conf:2:")
                        && e.to_string().contains("moat cannot honour")),
                    "{line}: {errs:?}"
                );
            }
        }
    }
}
