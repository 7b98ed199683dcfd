//! Routing rules, one test per nginx rule, written as explain cases:
//! a request against SWAG's layout with real corpus files active, and the
//! decision nginx would take.

#[path = "support/conf.rs"]
mod conf_support;

use conf_support::{activate, https, swag_layout, write_conf};
use moat::conf::{
    load, Action, Decision, FileProbe, FileTest, ProxyTarget, RequestInfo, RouteTable,
};

fn table_with(actives: &[&str]) -> (tempfile::TempDir, RouteTable) {
    let cfg = swag_layout();
    for a in actives {
        activate(cfg.path(), a);
    }
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    (cfg, t)
}

fn table_from(file: &str, text: &str) -> (tempfile::TempDir, RouteTable) {
    let cfg = swag_layout();
    write_conf(cfg.path(), file, text);
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    (cfg, t)
}

fn proxied(d: &Decision) -> &ProxyTarget {
    match &d.action {
        Action::Proxy(t) => t,
        other => panic!("expected a proxy decision, got {other:?}"),
    }
}

fn loc(d: &Decision) -> String {
    d.location
        .as_ref()
        .map(|l| l.r#match.clone())
        .unwrap_or_default()
}

fn redirect(d: &Decision) -> (u16, String) {
    match &d.action {
        Action::Return {
            status,
            location: Some(l),
            ..
        } => (*status, l.clone()),
        other => panic!("expected a redirect, got {other:?}"),
    }
}

fn with_header(mut r: RequestInfo, name: &str, value: &str) -> RequestInfo {
    r.headers.push((name.to_string(), value.to_string()));
    r
}

/// The conf's values for `name` (the client's headers left out: a test
/// that needs them renders the list with its request).
fn header_values(t: &ProxyTarget, name: &str) -> Vec<String> {
    t.headers
        .list(&[])
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn regex_location_beats_prefix_location() {
    let (_c, t) = table_with(&["sonarr.subdomain"]);
    let d = t.decide(&https("sonarr.example.com", "/api/v3/series"));
    assert_eq!(loc(&d), "~ (/sonarr)?/api");
    let d = t.decide(&https("sonarr.example.com", "/calendar"));
    assert_eq!(loc(&d), "/");
    assert_eq!(proxied(&d).url, "http://sonarr:8989/calendar");
}

#[test]
fn caret_tilde_prefix_stops_the_regex_search() {
    let (_c, t) = table_with(&["ombi.subfolder"]);
    // default.conf's PHP regex would match, but ^~ /ombi/ stops the search.
    let d = t.decide(&https("example.com", "/ombi/index.php"));
    assert_eq!(loc(&d), "^~ /ombi/");
    assert_eq!(proxied(&d).url, "http://ombi:3579/ombi/index.php");
    // Without ^~ the regex wins over the `/` prefix.
    let d = t.decide(&https("example.com", "/other/index.php"));
    assert_eq!(loc(&d), "~ ^(.+\\.php)(.*)$");
    // default.conf: `if (!-f $document_root$fastcgi_script_name) { return 404; }`.
    assert!(
        matches!(d.action, Action::Return { status: 404, .. }),
        "{d:?}"
    );
}

struct AllFiles;
impl FileProbe for AllFiles {
    fn test(&self, path: &std::path::Path, test: FileTest) -> bool {
        assert!(
            path.ends_with("www/other/index.php"),
            "probe asked about {}",
            path.display()
        );
        test == FileTest::File
    }
}

#[test]
fn if_file_test_goes_through_the_probe_with_config_paths_mapped() {
    let (_c, t) = table_with(&[]);
    let d = t.decide_with(&https("example.com", "/other/index.php"), &AllFiles);
    // The PHP file exists, so default.conf passes it to FastCGI, which moat lacks.
    assert!(
        matches!(&d.action, Action::Unsupported { reason } if reason.contains("fastcgi_pass")),
        "{d:?}"
    );
}

/// A file system of a few paths under `/config/www` (`dir/` for a
/// directory), recording what it was asked.
struct Tree(&'static [&'static str], std::cell::RefCell<Vec<String>>);
impl FileProbe for Tree {
    fn test(&self, path: &std::path::Path, test: FileTest) -> bool {
        let text = path.display().to_string();
        let rel = text.split_once("/www").map_or("", |(_, r)| r).to_string();
        self.1.borrow_mut().push(rel.clone());
        self.0.iter().any(|p| match p.strip_suffix('/') {
            Some(dir) => test == FileTest::Dir && rel.trim_end_matches('/') == dir,
            None => test == FileTest::File && rel == *p,
        })
    }
}

const TRY_FILES: &str = r#"
server {
    listen 443 ssl;
    server_name try.*;
    root /config/www;
    location /a/ { try_files $uri $uri/ /fallback.html?from=a; }
    location /b/ { try_files $uri =418; error_page 418 = @teapot; }
    location @teapot { return 200 "teapot $uri"; }
    location /c/ { try_files $uri @app; }
    location @app { proxy_pass http://app:80; }
    location /d/ { try_files $arg_f =404; }
    location = /fallback.html { return 200 "fallback $args"; }
}
"#;

#[test]
fn try_files_tries_each_name_then_its_last_argument() {
    let (_c, t) = table_from("try.subdomain.conf", TRY_FILES);
    let tree = Tree(
        &["/a/x.txt", "/a/dir/", "/a/dir/index.html"],
        Default::default(),
    );
    let decide = |uri: &str| t.decide_with(&https("try.example.com", uri), &tree);
    // A file: served from the same location, `$uri` unchanged.
    assert!(
        matches!(&decide("/a/x.txt").action, Action::Static { path, .. } if path == "/a/x.txt")
    );
    // A directory named without its slash: `$uri/` matches, `$uri` stays
    // without it, and the file server redirects to the slash.
    assert!(matches!(&decide("/a/dir").action, Action::Static { path, .. } if path == "/a/dir"));
    // With the slash: the index, by an internal redirect.
    assert!(
        matches!(&decide("/a/dir/").action, Action::Static { path, .. } if path == "/a/dir/index.html")
    );
    // Nothing: an internal redirect to the last argument, its own args.
    assert_eq!(body(&decide("/a/nope?x=1")), "fallback from=a");
    // `=code` is an error nginx generates: error_page applies.
    assert_eq!(body(&decide("/b/nope")), "teapot /b/nope");
    // A named location.
    assert!(matches!(decide("/c/nope").action, Action::Proxy(_)));
    // A name that climbs out of the root is never tested.
    tree.1.borrow_mut().clear();
    let d = decide("/d/?f=/../../etc/passwd");
    assert!(
        matches!(d.action, Action::Return { status: 404, .. }),
        "{d:?}"
    );
    assert!(tree.1.borrow().is_empty(), "{:?}", tree.1.borrow());
}

#[test]
fn try_files_last_code_must_be_a_number_up_to_999() {
    for bad in ["=abc", "=1000", "="] {
        let cfg = swag_layout();
        write_conf(
            cfg.path(),
            "bad.subdomain.conf",
            &format!("server {{ listen 443 ssl; server_name bad.*; location / {{ try_files $uri {bad}; }} }}"),
        );
        let errors = load(cfg.path())
            .err()
            .unwrap_or_else(|| panic!("{bad} loaded"));
        let text = format!("{errors:?}");
        assert!(
            text.contains(&format!("invalid code \\\"{bad}\\\"")),
            "{bad}: {text}"
        );
    }
}

#[test]
fn longest_prefix_location_wins() {
    let (_c, t) = table_with(&["ombi.subfolder"]);
    assert_eq!(
        loc(&t.decide(&https("example.com", "/ombi/api/v1/status"))),
        "^~ /ombi/api"
    );
    assert_eq!(
        loc(&t.decide(&https("example.com", "/ombi/apix"))),
        "^~ /ombi/api"
    );
    assert_eq!(
        loc(&t.decide(&https("example.com", "/ombi/login"))),
        "^~ /ombi/"
    );
    let (s, l) = redirect(&t.decide(&https("example.com", "/ombi")));
    assert_eq!((s, l.as_str()), (301, "https://example.com/ombi/"));
}

#[test]
fn exact_location_wins_over_everything() {
    let (_c, t) = table_with(&["nextcloud.subfolder"]);
    let d = t.decide(&https("example.com", "/.well-known/carddav"));
    assert_eq!(loc(&d), "= /.well-known/carddav");
    assert_eq!(
        redirect(&d),
        (301, "https://example.com/nextcloud/remote.php/dav/".into())
    );
}

#[test]
fn nested_location_falls_back_to_its_parent() {
    let (_c, t) = table_with(&["nextcloud.subfolder"]);
    let d = t.decide(&https("example.com", "/.well-known/webfinger?resource=x"));
    assert_eq!(loc(&d), "^~ /.well-known");
    assert_eq!(
        redirect(&d),
        (
            301,
            "https://example.com/nextcloud/index.php/.well-known/webfinger?resource=x".into()
        )
    );
}

const NAMES: &str = r#"
server { listen 443 ssl; server_name www.example.org; location / { return 200 exact; } }
server { listen 443 ssl; server_name *.example.org; location / { return 200 head; } }
server { listen 443 ssl; server_name *.b.example.org; location / { return 200 longer-head; } }
server { listen 443 ssl; server_name www.*; location / { return 200 tail; } }
server { listen 443 ssl; server_name "~^(?<sub>[a-z]+)\.regex\.net$"; location / { return 200 $sub; } }
server { listen 443 ssl; server_name "~^www\."; location / { return 200 regex-second; } }
"#;

fn body(d: &Decision) -> String {
    match &d.action {
        Action::Return { body: Some(b), .. } => b.clone(),
        other => panic!("expected a body, got {other:?}"),
    }
}

#[test]
fn server_name_priority_is_exact_then_wildcards_then_regex() {
    let (_c, t) = table_from("names.subdomain.conf", NAMES);
    assert_eq!(body(&t.decide(&https("www.example.org", "/"))), "exact");
    assert_eq!(body(&t.decide(&https("WWW.Example.Org:443", "/"))), "exact");
    assert_eq!(body(&t.decide(&https("mail.example.org", "/"))), "head");
    assert_eq!(
        body(&t.decide(&https("a.b.example.org", "/"))),
        "longer-head"
    );
    assert_eq!(body(&t.decide(&https("www.example.com", "/"))), "tail");
    assert_eq!(body(&t.decide(&https("docs.regex.net", "/"))), "docs");
}

#[test]
fn unknown_host_falls_to_the_default_server() {
    let (c, t) = table_with(&["sonarr.subdomain"]);
    std::fs::create_dir_all(c.path().join("www")).unwrap();
    std::fs::write(c.path().join("www/index.html"), "hi").unwrap();
    let d = t.decide(&https("nobody.example.net", "/"));
    assert_eq!(d.server.names, vec!["_".to_string()]);
    assert!(d.server.file.ends_with("site-confs/default.conf"));
    // `try_files $uri $uri/ ...` finds the root directory, whose index
    // nginx serves by an internal redirect.
    assert!(
        matches!(&d.action, Action::Static { path, .. } if path == "/index.html"),
        "{d:?}"
    );
}

#[test]
fn named_capture_in_server_name_becomes_a_variable() {
    let (_c, t) = table_with(&["openvscode-server.subdomain"]);
    let d = t.decide(&https("8443.openvscode-server.example.com", "/?folder=/x"));
    assert_eq!(proxied(&d).url, "http://openvscode-server:8443/?folder=/x");
    let d = t.decide(&https("3000s.openvscode-server.example.com", "/"));
    assert_eq!(proxied(&d).url, "https://openvscode-server:3000/");
    let d = t.decide(&https("openvscode-server.example.com", "/"));
    assert_eq!(proxied(&d).url, "http://openvscode-server:3000/");
}

#[test]
fn proxy_pass_with_variables_and_a_uri_part_sends_exactly_that_uri() {
    let (_c, t) = table_with(&["mytinytodo.subfolder"]);
    let d = t.decide(&https("example.com", "/todo/ajax.php?loadLists"));
    assert_eq!(proxied(&d).path_and_query, "/");
    assert_eq!(proxied(&d).url, "http://mytinytodo/");
}

#[test]
fn proxy_pass_without_uri_part_forwards_the_raw_request_uri() {
    let (_c, t) = table_with(&["sonarr.subdomain"]);
    let d = t.decide(&https("sonarr.example.com", "/a%20b//c/../d?x=1&y=%2F"));
    assert_eq!(proxied(&d).path_and_query, "/a%20b//c/../d?x=1&y=%2F");
}

#[test]
fn rewrite_break_then_proxy_pass_sends_the_rewritten_uri_and_args() {
    let (_c, t) = table_with(&["nextcloud.subfolder"]);
    let d = t.decide(&https(
        "example.com",
        "/nextcloud/remote.php/dav/files/a%20b?x=1",
    ));
    assert_eq!(
        proxied(&d).url,
        "https://nextcloud/remote.php/dav/files/a%20b?x=1"
    );
    assert_eq!(proxied(&d).port, 443);
}

#[test]
fn rewrite_to_an_empty_uri_answers_500_like_nginx() {
    // sonarrtorss: `rewrite /sonarrtorss(.*) $1 break` on `/sonarrtorss`
    // leaves a zero-length URI, which nginx refuses with 500.
    let (_c, t) = table_with(&["sonarrtorss.subfolder"]);
    let d = t.decide(&https("example.com", "/sonarrtorss"));
    assert!(
        matches!(d.action, Action::Return { status: 500, .. }),
        "{:?}",
        d.action
    );
    let d = t.decide(&https("example.com", "/sonarrtorss/api/x"));
    assert_eq!(proxied(&d).path_and_query, "/api/x");
}

#[test]
fn server_level_if_with_rewrite_redirect_runs_before_locations() {
    let (_c, t) = table_with(&["ombi.subfolder"]);
    let r = with_header(
        https("example.com", "/api/v1/Settings?x=1"),
        "Referer",
        "https://example.com/ombi/",
    );
    let d = t.decide(&r);
    assert_eq!(d.location, None);
    assert_eq!(
        redirect(&d),
        (302, "https://example.com/ombi/api/v1/Settings".into())
    );
    // Without the referer the request goes on to the default location,
    // whose `try_files` (no /config/www in this tree) ends, as in nginx,
    // in the PHP location's `return 404`.
    let d = t.decide(&https("example.com", "/api/v1/Settings"));
    assert_eq!(loc(&d), "~ ^(.+\\.php)(.*)$");
    assert!(
        matches!(d.action, Action::Return { status: 404, .. }),
        "{d:?}"
    );
}

#[test]
fn allow_deny_guards_jellyfin_metrics() {
    let (_c, t) = table_with(&["jellyfin.subdomain"]);
    let mut r = https("jellyfin.example.com", "/metrics");
    r.remote = "192.168.1.20:5000".parse().expect("addr");
    assert_eq!(proxied(&t.decide(&r)).url, "http://jellyfin:8096/metrics");
    r.remote = "[::ffff:10.1.2.3]:5000".parse().expect("addr");
    assert!(matches!(t.decide(&r).action, Action::Proxy(_)));
    r.remote = "203.0.113.9:5000".parse().expect("addr");
    assert_eq!(t.decide(&r).action, Action::Deny { status: 403 });
    r.remote = "[2001:db8::1]:5000".parse().expect("addr");
    assert_eq!(t.decide(&r).action, Action::Deny { status: 403 });
}

#[test]
fn proxy_set_header_duplicates_are_all_sent_and_empty_values_remove() {
    let (_c, t) = table_with(&["qbittorrent.subdomain"]);
    let r = with_header(
        https("qbittorrent.example.com", "/"),
        "Referer",
        "https://evil.example/",
    );
    let d = t.decide(&r);
    let p = proxied(&d);
    assert_eq!(
        header_values(p, "Host"),
        vec!["qbittorrent.example.com", "qbittorrent:8080"]
    );
    assert_eq!(header_values(p, "X-Forwarded-Host").len(), 2);
    let sent = p.headers.list(&r.headers);
    assert!(
        !sent.iter().any(|(n, _)| n.eq_ignore_ascii_case("referer")),
        "Referer '' removes it: {sent:?}"
    );
    assert_eq!(header_values(p, "X-Forwarded-For"), vec!["192.0.2.10"]);
    assert_eq!(header_values(p, "Connection"), vec!["close"]);
}

#[test]
fn location_headers_replace_inherited_ones_only_when_it_has_its_own() {
    let (_c, t) = table_with(&["calibre-web.subdomain"]);
    // /kobo/ sets two headers and no proxy.conf: nginx's defaults apply.
    let d = t.decide(&with_header(
        https("calibre-web.example.com", "/kobo/x"),
        "Upgrade",
        "websocket",
    ));
    let p = proxied(&d);
    assert_eq!(header_values(p, "Host"), vec!["calibre-web:8083"]);
    assert_eq!(header_values(p, "Connection"), vec!["close"]);
    assert!(header_values(p, "Upgrade").is_empty());
    assert!(header_values(p, "X-Real-IP").is_empty());
    assert!(!p.options.http11);
    // `/` includes proxy.conf.
    let d = t.decide(&with_header(
        https("calibre-web.example.com", "/"),
        "Upgrade",
        "websocket",
    ));
    let p = proxied(&d);
    assert_eq!(header_values(p, "Host"), vec!["calibre-web.example.com"]);
    assert_eq!(header_values(p, "Connection"), vec!["upgrade"]);
    assert_eq!(header_values(p, "Upgrade"), vec!["websocket"]);
    assert_eq!(header_values(p, "X-Real-IP"), vec!["192.0.2.10"]);
    assert!(p.options.http11);
    assert_eq!(p.options.read_timeout, std::time::Duration::from_secs(240));
    assert_eq!(
        p.redirects,
        vec![("http://".to_string(), "https://".to_string())]
    );
}

#[test]
fn grpc_pass_inside_if_switches_the_handler() {
    let (_c, t) = table_with(&["pydio-cells.subdomain"]);
    let r = with_header(
        https("pydio-cells.example.com", "/x"),
        "Content-Type",
        "application/grpc",
    );
    match t.decide(&r).action {
        Action::Grpc(g) => assert_eq!(g.url, "grpcs://pydio-cells:8080/x"),
        other => panic!("expected grpc, got {other:?}"),
    }
    let d = t.decide(&https("pydio-cells.example.com", "/x"));
    assert_eq!(proxied(&d).url, "https://pydio-cells:8080/x");
}

#[test]
fn add_header_inside_if_applies_when_the_condition_holds() {
    let (_c, t) = table_with(&["jellyfin.subdomain"]);
    let r = with_header(
        https("jellyfin.example.com", "/web/"),
        "User-Agent",
        "Mozilla/5.0 (Web0S; Linux)",
    );
    let d = t.decide(&r);
    assert_eq!(d.response_headers.len(), 1);
    assert!(d.response_headers[0].always);
    assert_eq!(proxied(&d).url, "http://jellyfin:8096/web/");
    assert!(t
        .decide(&https("jellyfin.example.com", "/web/"))
        .response_headers
        .is_empty());
}

#[test]
fn plain_http_goes_to_the_port_80_redirect_server() {
    let (_c, t) = table_with(&[]);
    let mut r = https("example.com", "/a?b=c");
    r.tls = false;
    r.server_port = 80;
    assert_eq!(
        redirect(&t.decide(&r)),
        (301, "https://example.com/a?b=c".into())
    );
}

#[test]
fn internal_location_is_not_found_from_outside() {
    let (_c, t) = table_with(&["organizr-auth.subfolder"]);
    let d = t.decide(&https("example.com", "/auth-1"));
    assert_eq!(d.action, Action::Deny { status: 404 });
}

#[test]
fn an_internal_location_is_reached_by_a_rewrite_and_refused_from_outside() {
    // nginx sets r->internal on every rewrite that changes the URI (server
    // level, `last`, or no flag); checked against Debian's nginx 1.22 by the
    // oracle's `internal` class (tests/conf_nginx_oracle.rs).
    let conf = r#"
server { listen 443 ssl; server_name in.example.com;
  rewrite ^/srv-secret$ /secret;
  location = /secret { internal; proxy_pass http://backend:81; }
  location /to-secret { rewrite ^ /secret last; }
  location /plain { rewrite ^/plain(.*)$ /secret$1; }
}"#;
    let (_c, t) = table_from("in.subdomain.conf", conf);
    assert_eq!(
        t.decide(&https("in.example.com", "/secret")).action,
        Action::Deny { status: 404 }
    );
    for path in ["/to-secret", "/srv-secret", "/plain"] {
        assert_eq!(
            proxied(&t.decide(&https("in.example.com", path))).url,
            "http://backend:81/secret",
            "{path}"
        );
    }
}

#[test]
fn a_location_nested_in_an_internal_one_is_internal_too() {
    // nginx 1.22 answers 404 for /a/b here (checked against Debian's nginx).
    let conf = r#"
server { listen 443 ssl; server_name in.example.com;
  location /a { internal; location /a/b { proxy_pass http://backend:81; } }
  location /c { location /c/d { proxy_pass http://backend:81; } }
}"#;
    let (_c, t) = table_from("in.subdomain.conf", conf);
    assert_eq!(
        t.decide(&https("in.example.com", "/a/b")).action,
        Action::Deny { status: 404 }
    );
    assert_eq!(
        proxied(&t.decide(&https("in.example.com", "/c/d"))).url,
        "http://backend:81/c/d"
    );
}

#[test]
fn static_proxy_pass_uri_after_rewrite_break_and_last() {
    // Debian's nginx 1.22 sends /b/q?z=1 and /y/q?z=1 for this conf.
    let conf = r#"
server { listen 443 ssl; server_name rw.example.com;
  location /a/ { rewrite ^/a/(.*)$ /b/$1 break; proxy_pass http://backend:81/x/; }
  location /c/ { rewrite ^/c/(.*)$ /d/$1 last; }
  location /d/ { proxy_pass http://backend:81/y/; }
}"#;
    let (_c, t) = table_from("rw.subdomain.conf", conf);
    assert_eq!(
        proxied(&t.decide(&https("rw.example.com", "/a/q?z=1"))).url,
        "http://backend:81/b/q?z=1"
    );
    assert_eq!(
        proxied(&t.decide(&https("rw.example.com", "/c/q?z=1"))).url,
        "http://backend:81/y/q?z=1"
    );
}

#[test]
fn rewrite_last_searches_locations_again() {
    let conf = r#"
server { listen 443 ssl; server_name re.example.com;
  location /old/ { rewrite ^/old/(.*)$ /new/$1 last; }
  location /new/ { proxy_pass http://backend:81; }
  location /loop/ { rewrite ^ /loop/x; }
}"#;
    let (_c, t) = table_from("re.subdomain.conf", conf);
    let d = t.decide(&https("re.example.com", "/old/a?q=1"));
    assert_eq!(loc(&d), "/new/");
    assert_eq!(proxied(&d).url, "http://backend:81/new/a?q=1");
    let d = t.decide(&https("re.example.com", "/loop/"));
    assert!(
        matches!(d.action, Action::Return { status: 500, .. }),
        "{d:?}"
    );
}

#[test]
fn static_proxy_pass_uri_part_replaces_the_location_prefix() {
    let conf = r#"
server { listen 443 ssl; server_name st.example.com;
  location /app/ { proxy_pass http://127.0.0.1:8080/v2/; proxy_redirect default; }
}"#;
    let (_c, t) = table_from("st.subdomain.conf", conf);
    let d = t.decide(&https("st.example.com", "/app/x%20y?z=1"));
    let p = proxied(&d);
    assert_eq!(p.path_and_query, "/v2/x%20y?z=1");
    assert_eq!(p.host, "127.0.0.1");
    assert_eq!(header_values(p, "Host"), vec!["127.0.0.1:8080"]);
    assert_eq!(
        p.redirects,
        vec![("http://127.0.0.1:8080/v2/".to_string(), "/app/".to_string())]
    );
}

#[test]
fn client_max_body_size_and_cookie_path_are_typed() {
    let conf = r#"
server { listen 443 ssl; server_name b.example.com; client_max_body_size 10m;
  location / { proxy_pass http://b:1; proxy_cookie_path / "/; HTTPOnly; Secure"; }
  location /big { client_max_body_size 0; proxy_pass http://b:1; }
}"#;
    let (_c, t) = table_from("b.subdomain.conf", conf);
    let d = t.decide(&https("b.example.com", "/"));
    assert_eq!(d.max_body_size, Some(10 * 1024 * 1024));
    assert_eq!(
        proxied(&d).cookie_paths,
        vec![("/".to_string(), "/; HTTPOnly; Secure".to_string())]
    );
    assert_eq!(
        t.decide(&https("b.example.com", "/big")).max_body_size,
        None
    );
}

#[test]
fn proxy_pass_request_headers_off_sends_only_configured_headers() {
    let conf = r#"
server { listen 443 ssl; server_name p.example.com;
  location / { proxy_pass http://p:1; proxy_pass_request_headers off; proxy_set_header X-A a; }
}"#;
    let (_c, t) = table_from("p.subdomain.conf", conf);
    let r = with_header(https("p.example.com", "/"), "Cookie", "s=1");
    let d = t.decide(&r);
    assert_eq!(
        proxied(&d).headers.list(&r.headers),
        vec![
            ("X-A".to_string(), "a".to_string()),
            ("Host".to_string(), "p:1".to_string()),
            ("Connection".to_string(), "close".to_string())
        ]
    );
}

#[test]
fn proxy_hide_header_adds_to_nginx_defaults() {
    let (_c, t) = table_with(&["nextcloud.subfolder"]);
    let d = t.decide(&https("example.com", "/nextcloud/"));
    let hide = &proxied(&d).hide_headers;
    for h in [
        "date",
        "server",
        "x-accel-redirect",
        "referrer-policy",
        "x-frame-options",
    ] {
        assert!(hide.iter().any(|x| x == h), "{h} hidden: {hide:?}");
    }
    // Without proxy_hide_header only nginx's defaults are hidden.
    let (_c, t) = table_with(&["sonarr.subdomain"]);
    let d = t.decide(&https("sonarr.example.com", "/"));
    assert!(!proxied(&d)
        .hide_headers
        .iter()
        .any(|x| x == "x-frame-options"));
}

#[test]
fn map_with_regex_and_default_feeds_set_and_headers() {
    let conf = r#"
map $http_x_client $client_kind { default other; "" none; ~^curl/ cli; ~*MOZILLA browser; }
server { listen 443 ssl; server_name m.example.com;
  location / { set $kind "kind=$client_kind"; proxy_pass http://m:1; proxy_set_header X-Kind $kind; }
}"#;
    let cfg = swag_layout();
    // map is an http-level directive: put it in a site-conf next to default.conf.
    std::fs::write(cfg.path().join("nginx/site-confs/m.conf"), conf).expect("write");
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let kind = |ua: Option<&str>| {
        let mut r = https("m.example.com", "/");
        if let Some(ua) = ua {
            r.headers.push(("X-Client".into(), ua.into()));
        }
        let d = t.decide(&r);
        header_values(proxied(&d), "X-Kind")[0].to_string()
    };
    assert_eq!(kind(None), "kind=none");
    assert_eq!(kind(Some("curl/8.0")), "kind=cli");
    assert_eq!(kind(Some("Mozilla/5.0")), "kind=browser");
    assert_eq!(kind(Some("wget")), "kind=other");
}

#[test]
fn return_with_a_code_and_text_sends_a_body() {
    let conf = r#"server { listen 443 ssl; server_name r.example.com;
  location = /health { return 200 "ok $request_method $uri$is_args$args"; }
  location /gone { return 410; }
  location /away { return https://elsewhere.example/$host; }
}"#;
    let (_c, t) = table_from("r.subdomain.conf", conf);
    assert_eq!(
        body(&t.decide(&https("r.example.com", "/health?a=1"))),
        "ok GET /health?a=1"
    );
    assert_eq!(
        t.decide(&https("r.example.com", "/gone")).action,
        Action::Return {
            status: 410,
            location: None,
            body: None
        }
    );
    assert_eq!(
        redirect(&t.decide(&https("r.example.com", "/away"))),
        (302, "https://elsewhere.example/r.example.com".into())
    );
}

#[test]
fn rewrite_with_new_args_keeps_the_old_ones_unless_question_mark() {
    let conf = r#"server { listen 443 ssl; server_name w.example.com;
  location /keep { rewrite ^/keep/(.*)$ /x/$1?a=1 break; proxy_pass http://w:1; }
  location /drop { rewrite ^/drop/(.*)$ /x/$1? break; proxy_pass http://w:1; }
  location /perm { rewrite ^/perm/(.*)$ /x/$1 permanent; }
}"#;
    let (_c, t) = table_from("w.subdomain.conf", conf);
    assert_eq!(
        proxied(&t.decide(&https("w.example.com", "/keep/p?b=2"))).path_and_query,
        "/x/p?a=1&b=2"
    );
    assert_eq!(
        proxied(&t.decide(&https("w.example.com", "/drop/p?b=2"))).path_and_query,
        "/x/p"
    );
    assert_eq!(
        redirect(&t.decide(&https("w.example.com", "/perm/p?b=2"))),
        (301, "https://w.example.com/x/p?b=2".into())
    );
}

#[test]
fn location_matching_uses_the_decoded_normalised_uri() {
    let (_c, t) = table_with(&["ombi.subfolder"]);
    assert_eq!(
        loc(&t.decide(&https("example.com", "/x/../ombi/%61pi/v1"))),
        "^~ /ombi/api"
    );
    assert_eq!(
        loc(&t.decide(&https("example.com", "//ombi//api"))),
        "^~ /ombi/api"
    );
    let d = t.decide(&https("example.com", "/../etc/passwd"));
    assert!(
        matches!(d.action, Action::Return { status: 400, .. }),
        "{d:?}"
    );
}

#[test]
fn missing_host_header_uses_the_default_server_and_its_name() {
    let (_c, t) = table_with(&[]);
    let mut r = https("example.com", "/x");
    r.host = None;
    r.headers.clear();
    r.tls = false;
    r.server_port = 80;
    let (status, location) = redirect(&t.decide(&r));
    assert_eq!(status, 301);
    assert_eq!(
        location, "https:///x",
        "nginx: $host is empty with no Host and no server_name"
    );
}

#[test]
fn themepark_sub_filter_reaches_the_decision() {
    let (_c, t) = table_with(&["themepark.subfolder"]);
    let d = t.decide(&https("example.com", "/themepark/theme.css"));
    assert_eq!(loc(&d), "^~ /themepark/");
    let f = proxied(&d)
        .body_filter
        .clone()
        .expect("sub_filter in effect");
    assert_eq!(
        f.rules,
        vec![(
            r#"url("/css/"#.to_string(),
            r#"url("/themepark/css/"#.to_string()
        )]
    );
    assert!(f.matches_type("application/javascript"));
    assert!(!f.once);
    assert!(!f.keep_last_modified);
    // A location without sub_filter carries none.
    let (_c, t) = table_with(&["ombi.subfolder"]);
    assert_eq!(
        proxied(&t.decide(&https("example.com", "/ombi/x"))).body_filter,
        None
    );
}

#[test]
fn sub_filter_expands_variables_and_inner_level_replaces_outer() {
    let conf = r#"
server { listen 443 ssl; server_name s.example.com;
  sub_filter '</HEAD>' '<base href="https://$host/">';
  sub_filter 'x' 'y';
  sub_filter_last_modified on;
  location / { proxy_pass http://s:1; }
  location /inner/ {
    sub_filter_types text/css application/json;
    sub_filter_once off;
    sub_filter 'a' '$request_uri';
    proxy_pass http://s:1;
  }
}"#;
    let (_c, t) = table_from("s.subdomain.conf", conf);
    let f = proxied(&t.decide(&https("s.example.com", "/p")))
        .body_filter
        .clone()
        .expect("outer sub_filter");
    assert_eq!(
        f.rules,
        vec![
            (
                "</head>".to_string(),
                r#"<base href="https://s.example.com/">"#.to_string()
            ),
            ("x".to_string(), "y".to_string()),
        ]
    );
    assert!(f.once && f.keep_last_modified);
    assert_eq!(f.types, vec!["text/html".to_string()]);
    assert!(f.matches_type("text/html; charset=utf-8") && !f.matches_type("text/css"));

    let f = proxied(&t.decide(&https("s.example.com", "/inner/q?z=1")))
        .body_filter
        .clone()
        .expect("inner sub_filter");
    assert_eq!(f.rules, vec![("a".to_string(), "/inner/q?z=1".to_string())]);
    assert!(!f.once && f.keep_last_modified);
    assert!(f.matches_type("text/css") && f.matches_type("TEXT/HTML"));
    assert!(!f.matches_type("image/png"));
}

#[test]
fn a_proxying_location_named_with_a_slash_redirects_the_name_without_it() {
    // nginx's auto_redirect, checked against Debian's nginx 1.22 by the
    // oracle's parity conf: no regex is tried, and a prefix location named
    // exactly as the URI takes precedence.
    let conf = r#"
server { listen 443 ssl; server_name in.example.com;
  location /auto/ { proxy_pass http://backend:81; }
  location /both { proxy_pass http://backend:82; }
  location ^~ /both/ { proxy_pass http://backend:81; }
  location ~ ^/auto { return 418; }
}"#;
    let (_c, t) = table_from("in.subdomain.conf", conf);
    assert_eq!(
        redirect(&t.decide(&https("in.example.com", "/auto?x=1"))),
        (301, "https://in.example.com/auto/?x=1".into())
    );
    assert_eq!(
        proxied(&t.decide(&https("in.example.com", "/both"))).url,
        "http://backend:82/both"
    );
}
