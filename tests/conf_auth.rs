//! Authentication fails closed: `auth_basic` is enforced with every
//! supported hash type; `auth_request` asks the auth server first and
//! SWAG's four integrations map its answers as nginx does (`error_page`,
//! `auth_request_set`, `satisfy`); what moat cannot evaluate answers 503
//! instead of proxying unauthenticated.

#[path = "support/conf.rs"]
mod conf_support;

use base64::Engine;
use conf_support::{https, swag_layout, write_conf};
use moat::conf::{load, Action, AuthOutcome, RequestInfo, RouteTable};

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

/// sonarr with one of SWAG's auth integrations enabled, as users do:
/// the `-server.conf` line in the server block, `-location.conf` in `/`.
fn sonarr_with(cfg: &std::path::Path, integration: &str) -> RouteTable {
    let conf = std::fs::read_to_string(cfg.join("nginx/proxy-confs/sonarr.subdomain.conf.sample"))
        .expect("sample")
        .replace(
            &format!("#include /config/nginx/{integration}-server.conf;"),
            &format!("include /config/nginx/{integration}-server.conf;"),
        )
        .replace(
            &format!("#include /config/nginx/{integration}-location.conf;"),
            &format!("include /config/nginx/{integration}-location.conf;"),
        );
    write_conf(cfg, "sonarr.subdomain.conf", &conf);
    let (t, report) = load(cfg).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        !report.warnings.iter().any(|w| w.contains("answers 503")),
        "{:#?}",
        report.warnings
    );
    t
}

fn outcome(uri: &str, status: u16, headers: &[(&str, &str)]) -> AuthOutcome {
    AuthOutcome {
        uri: uri.to_string(),
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    }
}

fn sent<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

const AUTHELIA: &str = "/authelia/api/authz/auth-request";

#[test]
fn authelia_asks_first_then_proxies_with_the_identity_it_returned() {
    let cfg = swag_layout();
    let t = sonarr_with(cfg.path(), "authelia");
    let mut req = https("sonarr.example.com", "/calendar?x=%2F");
    req.method = "POST".into();
    req.headers.push(("Remote-User".into(), "spoofed".into()));
    req.headers.push(("Content-Length".into(), "5".into()));
    let d = t.decide(&req);
    let Action::Authenticate(ask) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(ask.uri, AUTHELIA);
    assert_eq!(
        ask.target.url,
        "http://authelia:9091/api/authz/auth-request"
    );
    assert_eq!(ask.target.method.as_deref(), Some("GET"));
    let h = &ask.target.headers.list(&req.headers);
    assert_eq!(
        sent(h, "X-Original-URL"),
        ["https://sonarr.example.com/calendar?x=%2F"]
    );
    assert_eq!(sent(h, "X-Original-Method"), ["POST"]);
    assert_eq!(sent(h, "X-Forwarded-Method"), ["POST"]);
    assert_eq!(
        sent(h, "Content-Length"),
        Vec::<&str>::new(),
        "no body, no length"
    );

    let ok = outcome(
        AUTHELIA,
        200,
        &[
            ("Remote-User", "alice"),
            ("Remote-Groups", "admins"),
            ("Remote-Email", "a@x"),
        ],
    );
    let d = t.decide_after_auth(&req, &ok);
    let Action::Proxy(target) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(target.url, "http://sonarr:8989/calendar?x=%2F");
    assert_eq!(target.method, None, "the client's method goes upstream");
    assert_eq!(
        sent(&target.headers.list(&req.headers), "Remote-User"),
        ["alice"]
    );
    assert_eq!(
        sent(&target.headers.list(&req.headers), "Remote-Groups"),
        ["admins"]
    );
    assert_eq!(
        sent(&target.headers.list(&req.headers), "Remote-Email"),
        ["a@x"]
    );

    // A session without identity headers: the client's value still never
    // reaches the app (proxy_set_header owns the name).
    let d = t.decide_after_auth(&req, &outcome(AUTHELIA, 204, &[]));
    let Action::Proxy(target) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(
        sent(&target.headers.list(&req.headers), "Remote-User"),
        Vec::<&str>::new()
    );
}

#[test]
fn authelia_401_redirects_to_its_portal_with_the_rotated_cookie() {
    let cfg = swag_layout();
    let t = sonarr_with(cfg.path(), "authelia");
    let req = https("sonarr.example.com", "/calendar");
    let portal = "https://auth.example.com/?rd=https%3A%2F%2Fsonarr.example.com%2Fcalendar";
    let d = t.decide_after_auth(
        &req,
        &outcome(
            AUTHELIA,
            401,
            &[
                ("Location", portal),
                ("Set-Cookie", "authelia_session=new; Path=/"),
            ],
        ),
    );
    assert_eq!(
        d.action,
        Action::Return {
            status: 302,
            location: Some(portal.into()),
            body: None
        }
    );
    assert_eq!(
        d.location.as_ref().unwrap().r#match,
        "@authelia_proxy_signin"
    );
    let cookies: Vec<_> = d
        .response_headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("set-cookie"))
        .map(|h| h.value.as_str())
        .collect();
    assert_eq!(cookies, ["authelia_session=new; Path=/"]);
    // 403 is answered as such, anything else is 500; never proxied.
    let d = t.decide_after_auth(&req, &outcome(AUTHELIA, 403, &[]));
    assert!(
        matches!(d.action, Action::Return { status: 403, .. }),
        "{d:?}"
    );
    for status in [302, 404, 500, 502, 504] {
        let d = t.decide_after_auth(&req, &outcome(AUTHELIA, status, &[]));
        assert!(
            matches!(d.action, Action::Return { status: 500, .. }),
            "{status}: {d:?}"
        );
    }
    // An answer for another auth_request (a reload in between) is refused.
    let d = t.decide_after_auth(&req, &outcome("/elsewhere", 200, &[]));
    assert!(
        matches!(d.action, Action::Return { status: 500, .. }),
        "{d:?}"
    );
    // The API location the sample leaves without auth is proxied directly.
    let d = t.decide(&https("sonarr.example.com", "/api/v3/queue"));
    assert!(matches!(d.action, Action::Proxy(_)), "{d:?}");
    // Authelia's own internal endpoint is not reachable from outside.
    let d = t.decide(&https("sonarr.example.com", AUTHELIA));
    assert_eq!(d.action, Action::Deny { status: 404 });
}

#[test]
fn authentik_signs_in_through_its_outpost() {
    let cfg = swag_layout();
    let t = sonarr_with(cfg.path(), "authentik");
    let req = https("sonarr.example.com", "/calendar?a=b c");
    let d = t.decide(&req);
    let Action::Authenticate(ask) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(
        ask.target.url,
        "http://authentik-server:9000/outpost.goauthentik.io/auth/nginx"
    );
    let d = t.decide_after_auth(
        &req,
        &outcome(&ask.uri, 200, &[("X-authentik-username", "akadmin")]),
    );
    let Action::Proxy(target) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(
        sent(&target.headers.list(&req.headers), "X-authentik-username"),
        ["akadmin"]
    );
    let d = t.decide_after_auth(&req, &outcome(&ask.uri, 401, &[]));
    assert_eq!(
        d.action,
        Action::Return {
            status: 302,
            location: Some(
                "https://sonarr.example.com/outpost.goauthentik.io/start?rd=https%3A%2F%2Fsonarr.example.com%2Fcalendar%3Fa%3Db%20c"
                    .into()
            ),
            body: None
        }
    );
    // The outpost's own paths are proxied without auth (`auth_request off`).
    let d = t.decide(&https(
        "sonarr.example.com",
        "/outpost.goauthentik.io/start?rd=x",
    ));
    let Action::Proxy(target) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(
        target.url,
        "http://authentik-server:9000/outpost.goauthentik.io/start?rd=x"
    );
}

#[test]
fn ldap_401_serves_the_login_page_with_200_as_a_get() {
    let cfg = swag_layout();
    let t = sonarr_with(cfg.path(), "ldap");
    let mut req = https("sonarr.example.com", "/calendar");
    req.method = "POST".into();
    let d = t.decide(&req);
    let Action::Authenticate(ask) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(ask.uri, "/auth");
    assert_eq!(ask.target.url, "http://ldap-auth:8888/auth");
    let d = t.decide_after_auth(
        &req,
        &outcome(
            "/auth",
            401,
            &[("WWW-Authenticate", "Basic realm=\"Restricted\"")],
        ),
    );
    let Action::Proxy(target) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(target.url, "http://ldap-auth:9000/ldaplogin");
    assert_eq!(target.method.as_deref(), Some("GET"));
    assert_eq!(
        sent(&target.headers.list(&req.headers), "X-Target"),
        ["/calendar"]
    );
    assert_eq!(d.status_override, Some(200));
    assert!(d
        .response_headers
        .iter()
        .any(|h| h.name == "WWW-Authenticate" && h.value == "Basic realm=\"Restricted\""));
}

#[test]
fn satisfy_any_lets_an_allowed_address_in_without_asking() {
    let cfg = swag_layout();
    write_conf(
        cfg.path(),
        "app.subdomain.conf",
        r#"
server {
    listen 443 ssl;
    server_name app.*;
    location = /auth { internal; proxy_pass http://auth:9000/check; }
    location / {
        satisfy any;
        allow 192.0.2.10;
        deny all;
        auth_request /auth;
        proxy_pass http://app:80;
    }
    location /strict {
        allow 192.0.2.10;
        deny all;
        auth_request /auth;
        proxy_pass http://app:80;
    }
    location /nobody {
        satisfy any;
        deny all;
        auth_request /auth;
        error_page 403 = @denied;
        proxy_pass http://app:80;
    }
    location @denied { return 418; }
}
"#,
    );
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let d = t.decide(&https("app.example.com", "/x"));
    assert!(
        matches!(d.action, Action::Proxy(_)),
        "allowed address: {d:?}"
    );
    let mut other = https("app.example.com", "/x");
    other.remote = "198.51.100.1:1000".parse().unwrap();
    assert!(matches!(t.decide(&other).action, Action::Authenticate(_)));
    // satisfy all: allowed by address, still asked.
    let d = t.decide(&https("app.example.com", "/strict"));
    assert!(matches!(d.action, Action::Authenticate(_)), "{d:?}");
    // any: denied by address and refused by auth → 403 → error_page.
    let d = t.decide_after_auth(
        &https("app.example.com", "/nobody"),
        &outcome("/auth", 403, &[]),
    );
    assert!(
        matches!(d.action, Action::Return { status: 418, .. }),
        "{d:?}"
    );
}

#[test]
fn error_page_forms_follow_nginx() {
    let cfg = swag_layout();
    write_conf(
        cfg.path(),
        "app.subdomain.conf",
        r#"
server {
    listen 443 ssl;
    server_name app.*;
    error_page 404 /missing.html;
    location = /missing.html { internal; proxy_pass http://pages:80; }
    location /gone { return 404; }
    location /kept { error_page 403 http://elsewhere.example/denied?from=$uri; deny all; }
    location /moved { error_page 403 =301 https://elsewhere.example/; deny all; }
    location /teapot { error_page 403 =418 @named; deny all; }
    location /loop { error_page 404 /gone; return 404; }
    location @named { return 200 "named"; }
}
"#,
    );
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    // Inherited from the server; keeps 404; the page is internal and proxied.
    let d = t.decide(&https("app.example.com", "/gone"));
    let Action::Proxy(target) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(target.url, "http://pages/missing.html");
    assert_eq!(d.status_override, Some(404));
    let d = t.decide(&https("app.example.com", "/kept"));
    assert_eq!(
        d.action,
        Action::Return {
            status: 302,
            location: Some("http://elsewhere.example/denied?from=/kept".into()),
            body: None
        }
    );
    let d = t.decide(&https("app.example.com", "/moved"));
    assert!(
        matches!(d.action, Action::Return { status: 301, .. }),
        "{d:?}"
    );
    let d = t.decide(&https("app.example.com", "/teapot"));
    assert_eq!(
        d.action,
        Action::Return {
            status: 418,
            location: None,
            body: Some("named".into())
        }
    );
    // recursive_error_pages off: an error inside the error page answers as is.
    let d = t.decide(&https("app.example.com", "/loop"));
    assert!(
        matches!(d.action, Action::Return { status: 404, .. }),
        "{d:?}"
    );
    // The page itself is internal: asked for directly it is a 404, which
    // the server's error_page then answers with the page (as nginx does).
    let d = t.decide(&https("app.example.com", "/missing.html"));
    assert!(matches!(d.action, Action::Proxy(_)), "{d:?}");
    assert_eq!(d.status_override, Some(404));
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
    location /referers { valid_referers none blocked server_names; proxy_pass http://g:1; }
    location /default { satisfy all; proxy_pass http://g:1; }
    location /open { proxy_pass http://g:1; }
}",
    );
    let (t, report) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    for (host, path, guard) in [
        ("g.example.com", "/link", "secure_link"),
        ("g.example.com", "/referers", "valid_referers"),
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
fn a_server_requiring_client_certificates_answers_400_before_its_own_return() {
    let cfg = swag_layout();
    let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_string()]).unwrap();
    std::fs::write(cfg.path().join("ca.pem"), ca.cert.pem()).unwrap();
    write_conf(
        cfg.path(),
        "m.subdomain.conf",
        "server { listen 443 ssl; server_name m.*; ssl_verify_client on; ssl_client_certificate /config/ca.pem;
    return 301 https://elsewhere/;
}
server { listen 443 ssl; server_name n.*; ssl_verify_client off; location / { proxy_pass http://n:1; } }",
    );
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    // No certificate: nginx's 400 ("No required SSL certificate was sent").
    let d = t.decide(&https("m.example.com", "/"));
    assert!(
        matches!(&d.action, Action::Return { status: 400, body: Some(b), .. } if b.contains("No required SSL certificate was sent")),
        "{d:?}"
    );
    let d = t.decide(&https("n.example.com", "/"));
    assert!(matches!(d.action, Action::Proxy(_)), "{d:?}");
    // `on` or `optional` without a CA file is refused at load, as by nginx.
    write_conf(
        cfg.path(),
        "m.subdomain.conf",
        "server { listen 443 ssl; server_name o.*; ssl_verify_client optional; location / { proxy_pass http://o:1; } }",
    );
    let errs = load(cfg.path()).expect_err("no CA file");
    assert!(
        errs.iter()
            .any(|e| e.to_string().contains("m.subdomain.conf:1:")
                && e.to_string()
                    .contains("no ssl_client_certificate for ssl_verify_client")),
        "{errs:?}"
    );
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
