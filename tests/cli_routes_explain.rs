//! `moat routes` and `moat explain` as a user runs them: against SWAG's
//! layout with corpus files active, printing the JSON shape of issue 3.

#[path = "support/conf.rs"]
mod conf_support;

use std::path::Path;
use std::process::{Command, Output};

use conf_support::{activate, swag_layout, write_conf};
use serde_json::{json, Value};

fn moat(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("CONFIG_DIR")
        .output()
        .expect("run moat")
}

fn explain_json(config: &Path, args: &[&str]) -> Value {
    let mut all = vec!["explain", "--json"];
    all.extend_from_slice(args);
    let out = moat(config, &all);
    assert!(
        out.status.success(),
        "moat {all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("explain --json prints JSON")
}

fn header<'a>(list: &'a Value, name: &str) -> Vec<&'a str> {
    list.as_array()
        .expect("a header list")
        .iter()
        .filter(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .map(|h| h[1].as_str().expect("header value"))
        .collect()
}

#[test]
fn explain_json_has_the_issue_shape_for_a_proxied_request() {
    let cfg = swag_layout();
    activate(cfg.path(), "sonarr.subdomain");
    let v = explain_json(
        cfg.path(),
        &[
            "https://sonarr.example.com/api/v3/series?x=1",
            "-H",
            "X-Test: yes",
            "--method",
            "POST",
            "--remote-addr",
            "192.0.2.7",
        ],
    );
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "action",
        "location",
        "location_header",
        "response_headers",
        "server",
        "status",
        "upstream",
        "upstream_headers",
    ];
    want.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, want);
    assert_eq!(v["action"], "proxy");
    assert_eq!(v["status"], Value::Null);
    assert_eq!(v["location_header"], Value::Null);
    assert_eq!(v["upstream"], "http://sonarr:8989/api/v3/series?x=1");
    assert_eq!(v["server"]["names"], json!(["sonarr.*"]));
    assert!(v["server"]["file"]
        .as_str()
        .unwrap()
        .ends_with("proxy-confs/sonarr.subdomain.conf"));
    assert!(v["server"]["line"].as_u64().unwrap() > 0);
    assert_eq!(v["location"]["match"], "~ (/sonarr)?/api");
    assert_eq!(
        header(&v["upstream_headers"], "host"),
        ["sonarr.example.com"]
    );
    assert_eq!(header(&v["upstream_headers"], "x-real-ip"), ["192.0.2.7"]);
    assert_eq!(
        header(&v["upstream_headers"], "x-forwarded-method"),
        ["POST"]
    );
    assert_eq!(header(&v["upstream_headers"], "x-test"), ["yes"]);
}

#[test]
fn explain_reports_redirects_with_their_location() {
    let cfg = swag_layout();
    activate(cfg.path(), "ombi.subfolder");
    let v = explain_json(cfg.path(), &["https://example.com/ombi"]);
    assert_eq!(v["action"], "return");
    assert_eq!(v["status"], 301);
    assert_eq!(v["location_header"], "https://example.com/ombi/");
    assert_eq!(v["upstream"], Value::Null);
    // Port 80 (the scheme's default) goes to default.conf's redirect server.
    let v = explain_json(cfg.path(), &["http://anything.example.com/a/b?c=d"]);
    assert_eq!(v["status"], 301);
    assert_eq!(v["location_header"], "https://anything.example.com/a/b?c=d");
    assert_eq!(v["location"]["match"], "/");
}

#[test]
fn explain_applies_allow_deny_to_the_remote_address() {
    let cfg = swag_layout();
    activate(cfg.path(), "jellyfin.subdomain");
    let url = "https://jellyfin.example.com/metrics";
    let v = explain_json(cfg.path(), &[url, "--remote-addr", "203.0.113.9"]);
    assert_eq!(
        (v["action"].as_str(), v["status"].as_u64()),
        (Some("deny"), Some(403))
    );
    let v = explain_json(cfg.path(), &[url, "--remote-addr", "192.168.4.4"]);
    assert_eq!(v["action"], "proxy");
    assert_eq!(v["upstream"], "http://jellyfin:8096/metrics");
}

#[test]
fn explain_without_json_prints_a_readable_decision() {
    let cfg = swag_layout();
    activate(cfg.path(), "sonarr.subdomain");
    let out = moat(cfg.path(), &["explain", "https://sonarr.example.com/x"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("action    proxy http://sonarr:8989/x"),
        "{text}"
    );
    assert!(text.contains("sonarr.subdomain.conf:"), "{text}");
    assert!(text.contains("Host: sonarr.example.com"), "{text}");
}

#[test]
fn routes_json_lists_every_server_with_its_locations() {
    let cfg = swag_layout();
    activate(cfg.path(), "sonarr.subdomain");
    activate(cfg.path(), "ombi.subfolder");
    let out = moat(cfg.path(), &["routes", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("routes --json prints JSON");
    let servers = v["servers"].as_array().expect("servers");
    let sonarr = servers
        .iter()
        .find(|s| s["names"] == json!(["sonarr.*"]))
        .expect("the sonarr server is listed");
    let matches: Vec<&str> = sonarr["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["match"].as_str().unwrap())
        .collect();
    assert!(
        matches.contains(&"/") && matches.contains(&"~ (/sonarr)?/api"),
        "{matches:?}"
    );
    let default = servers
        .iter()
        .find(|s| s["names"] == json!(["_"]))
        .expect("the default 443 server is listed");
    let matches: Vec<&str> = default["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["match"].as_str().unwrap())
        .collect();
    assert!(
        matches.contains(&"^~ /ombi/"),
        "subfolder locations sit in the default server: {matches:?}"
    );
    let ports: Vec<u64> = v["listens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["port"].as_u64().unwrap())
        .collect();
    assert!(ports.contains(&80) && ports.contains(&443), "{ports:?}");

    let out = moat(cfg.path(), &["routes"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("server_name sonarr.*"), "{text}");
    assert!(text.contains("location ~ (/sonarr)?/api"), "{text}");
}

#[test]
fn load_errors_print_file_and_line_and_exit_1() {
    let cfg = swag_layout();
    write_conf(
        cfg.path(),
        "broken.subdomain.conf",
        "server {\n    listen 443 ssl;\n    server_name broken.*;\n    location / {\n        proxy_pass;\n    }\n}\n",
    );
    for args in [
        vec!["routes"],
        vec!["explain", "--json", "https://broken.example.com/"],
    ] {
        let out = moat(cfg.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("broken.subdomain.conf:5"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn config_dir_comes_from_the_environment_when_the_flag_is_absent() {
    let cfg = swag_layout();
    activate(cfg.path(), "sonarr.subdomain");
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["explain", "--json", "https://sonarr.example.com/"])
        .env("CONFIG_DIR", cfg.path())
        .output()
        .expect("run moat");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["upstream"], "http://sonarr:8989/");
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["routes"])
        .env("CONFIG_DIR", cfg.path().join("missing"))
        .output()
        .expect("run moat");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing` does not exist"));
}

#[test]
fn bad_explain_arguments_are_named() {
    let cfg = swag_layout();
    let out = moat(cfg.path(), &["explain", "sonarr.example.com/x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no scheme"));
    let out = moat(cfg.path(), &["explain", "https://x/", "-H", "NoColon"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`NoColon` is not `Name: value`"));
}

#[test]
fn explain_maps_auth_basic_to_auth_401_and_shows_the_auth_request_step() {
    let cfg = swag_layout();
    std::fs::write(
        cfg.path().join("nginx/.htpasswd"),
        "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n",
    )
    .unwrap();
    write_conf(
        cfg.path(),
        "locked.subdomain.conf",
        "server {\n    listen 443 ssl;\n    server_name locked.*;\n    include /config/nginx/ssl.conf;\n    location / {\n        auth_basic \"Locked\";\n        auth_basic_user_file /config/nginx/.htpasswd;\n        include /config/nginx/proxy.conf;\n        proxy_pass http://locked:8080;\n    }\n}\n",
    );
    let v = explain_json(cfg.path(), &["https://locked.example.com/x"]);
    assert_eq!(
        (v["action"].as_str(), v["status"].as_u64()),
        (Some("auth"), Some(401))
    );
    assert_eq!(
        header(&v["response_headers"], "www-authenticate"),
        ["Basic realm=\"Locked\""]
    );
    assert_eq!(v["upstream"], Value::Null);
    let v = explain_json(
        cfg.path(),
        &[
            "https://locked.example.com/x",
            "-H",
            "Authorization: Basic YWxpY2U6c2VjcmV0",
        ],
    );
    assert_eq!(v["action"], "proxy");
    assert_eq!(v["upstream"], "http://locked:8080/x");

    // SWAG's Authelia lines enabled: explain shows the subrequest and what
    // each answer of the auth server leads to.
    let sonarr = std::fs::read_to_string(
        cfg.path()
            .join("nginx/proxy-confs/sonarr.subdomain.conf.sample"),
    )
    .unwrap()
    .replace(
        "#include /config/nginx/authelia-server.conf;",
        "include /config/nginx/authelia-server.conf;",
    )
    .replace(
        "#include /config/nginx/authelia-location.conf;",
        "include /config/nginx/authelia-location.conf;",
    );
    write_conf(cfg.path(), "sonarr.subdomain.conf", &sonarr);
    let v = explain_json(
        cfg.path(),
        &["https://sonarr.example.com/calendar?a=1", "-X", "POST"],
    );
    assert_eq!(
        (v["action"].as_str(), v["status"].as_u64()),
        (Some("auth"), None),
        "{v}"
    );
    let auth = &v["auth"];
    assert_eq!(auth["request"]["uri"], "/authelia/api/authz/auth-request");
    assert_eq!(
        auth["request"]["url"],
        "http://authelia:9091/api/authz/auth-request"
    );
    assert_eq!(auth["request"]["method"], "GET");
    assert_eq!(
        header(&auth["request"]["headers"], "x-original-url"),
        ["https://sonarr.example.com/calendar?a=1"]
    );
    assert_eq!(
        header(&auth["request"]["headers"], "x-original-method"),
        ["POST"]
    );
    assert_eq!(auth["on_2xx"]["action"], "proxy");
    assert_eq!(
        auth["on_2xx"]["upstream"],
        "http://sonarr:8989/calendar?a=1"
    );
    // 401 goes to @authelia_proxy_signin: `return 302 $signin_url`, which
    // is empty without the auth server's Location.
    assert_eq!(
        (
            auth["on_401"]["action"].as_str(),
            auth["on_401"]["status"].as_u64()
        ),
        (Some("return"), Some(302)),
        "{auth}"
    );
    assert_eq!(auth["on_403"]["status"].as_u64(), Some(403));
    assert_eq!(auth["on_error"]["status"].as_u64(), Some(500));
    // The internal location itself is not reachable from outside.
    let v = explain_json(
        cfg.path(),
        &["https://sonarr.example.com/authelia/api/authz/auth-request"],
    );
    assert_eq!(
        (v["action"].as_str(), v["status"].as_u64()),
        (Some("deny"), Some(404)),
        "{v}"
    );
}

/// SWAG's default server passes existing `.php` files to PHP-FPM; moat has
/// no FastCGI, and explain says so rather than calling it an auth failure.
#[test]
fn explain_maps_fastcgi_pass_to_unsupported_503() {
    let cfg = swag_layout();
    std::fs::create_dir_all(cfg.path().join("www")).unwrap();
    std::fs::write(cfg.path().join("www/info.php"), "<?php phpinfo();\n").unwrap();
    let v = explain_json(cfg.path(), &["https://example.com/info.php"]);
    assert_eq!(
        (v["action"].as_str(), v["status"].as_u64()),
        (Some("unsupported"), Some(503)),
        "{v}"
    );
    // A .php file that does not exist is nginx's 404 from the `if (!-f ...)`.
    let v = explain_json(cfg.path(), &["https://example.com/missing.php"]);
    assert_eq!(v["status"].as_u64(), Some(404), "{v}");
}
