//! Static files map the URI exactly as nginx maps it (issue 17 item 1,
//! issue 18 item 1a): three servers run in Debian's nginx and in the moat
//! binary on the same www tree of real files. `static.test`: `root` +
//! `index` with the `deny` locations of SWAG's default site conf (taken
//! from the corpus's `default.conf.sample`, every `location ... { deny
//! all; }` block verbatim) plus exact, prefix and case-insensitive regex
//! denials of our own. `swag.test`: SWAG's default HTTPS server itself from
//! the corpus (`try_files $uri $uri/ /index.html ...`, the PHP location,
//! the `.ht` denial). `try.test`: `try_files` in each of its forms (`=code`
//! with `error_page`, a URI with its own args, `@name`, a file served from
//! the same location, a redirect into an `internal` location), an index
//! file a regex denies, and `error_page` for what the file server answers
//! itself (404, 403 for a directory without an index, 405). Every spelling of every path the generator makes
//! (trailing `/`, `//`, `/.`, `/./`, a doubled leading slash, `/./` in
//! front, `/sub/..` in front, `%2f`/`%2F` for a slash, `%2e`/`%2E` for a
//! dot, a percent-encoded letter, upper and flipped case; queries kept)
//! goes to both; status must agree, and so must the body of every 200 and
//! the `Location` of every 301 (port aside), with floors per server and
//! status so the generator keeps reaching every branch. Then every base
//! path with HEAD, POST, PUT, DELETE and OPTIONS (nginx's static module:
//! GET, HEAD and POST only, POST to a file it finds is 405).
//!
//! Besides the differential: no spelling ever gets a protected file's
//! bytes from moat, whatever nginx does; and a symlink leaving the root,
//! which nginx follows (`disable_symlinks off`), stays refused by moat
//! (outside the comparison, on purpose).
//!
//! Not compared: error pages' bodies (nginx's names its version) and the
//! port in a `Location` (each side listens on its own).

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/nginx_wire.rs"]
mod nginx_wire;
#[path = "support/static_paths.rs"]
mod static_paths;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use foundation::{free_port, moat_bin, moat_command, temp_config, Running};
use nginx_wire::{ask_method_raw, ask_raw, moat_http_port, nginx_conf, start_nginx};
use static_paths::variants;

/// (path under the root, contents, protected by a `deny` location).
const FILES: &[(&str, &str, bool)] = &[
    ("index.html", "ROOT-INDEX", false),
    ("file.txt", "PLAIN-FILE", false),
    ("secret.txt", "SECRET-EXACT", true),
    ("db.bak", "SECRET-REGEX-CASELESS", true),
    (".htpasswd", "SECRET-SWAG-HT", true),
    (".htaccess", "SECRET-SWAG-HT2", true),
    ("sub/index.html", "SUB-INDEX", false),
    ("sub/f.txt", "SUB-FILE", false),
    ("private/data.txt", "SECRET-PREFIX", true),
    ("private/index.html", "SECRET-PREFIX-INDEX", true),
    (".hidden/x.txt", "HIDDEN-FILE", false),
    ("a%2Fb", "PERCENT-NAME", false),
    ("a/x.txt", "TRY-A", false),
    ("b/x.txt", "TRY-B", false),
    ("b/dir/index.html", "TRY-B-DIR-INDEX", false),
    ("g/x.txt", "TRY-G", false),
];

/// Our own denials besides the corpus's: exact, prefix, caseless regex.
const OWN_DENIALS: &str = "
    location = /secret.txt { deny all; }
    location ^~ /private/ { deny all; }
    location ~* \\.bak$ { deny all; }
";

/// `try_files` in each of its forms, and an index file a regex denies
/// (nginx's index lookup is an internal redirect, so the location of
/// `/sub/index.html` decides `/sub/`).
const TRY_FILES: &str = r#"
    location /a/ { try_files $uri =404; }
    location /b/ { try_files $uri $uri/ @fallback; }
    location @fallback { return 200 "fallback $uri $args"; }
    location /c/ { try_files /nothing /file.txt; }
    location /d/ { try_files $uri /redirected$uri?from=d; }
    location /redirected/ { return 200 "redirected $uri $args"; }
    location /e/ { try_files $uri =418; error_page 418 = @teapot; }
    location @teapot { return 200 "teapot $uri"; }
    location /f/ { try_files $uri /internal-only$uri; }
    location /internal-only/ { internal; return 200 "internal $uri"; }
    location ~ ^/sub/index\.html$ { deny all; }
    location /g/ {
        error_page 404 = @missing;
        error_page 403 =200 /file.txt;
        error_page 405 = @not_allowed;
    }
    location @missing { return 200 "missing $uri"; }
    location @not_allowed { return 200 "not allowed $request_method $uri"; }
"#;

/// `alias` in its forms (`ROOT` is each side's root): a prefix location
/// with and without the trailing slashes (nginx glues the rest of the URI
/// onto the alias as text), a regex location whose capture is the path,
/// an index reached through a regex alias, and `try_files` under an alias.
const ALIASES: &str = r#"
    location /al/ { alias ROOT/sub/; }
    location /glued { alias ROOT/b; }
    location /slashless/ { alias ROOT/a; }
    location ~ ^/re/(.+)$ { alias ROOT/b/$1; }
    location ~ ^/reidx/(.*)$ { alias ROOT/$1; }
    location /tf/ { alias ROOT/a/; try_files $uri =404; }
    location /tfd/ { alias ROOT/b/; try_files $uri $uri/ =404; }
    location /up { alias ROOT/sub/; }
"#;

/// Where the alias server's generator starts.
const ALIAS_BASES: &[&str] = &[
    "/al/",
    "/al/f.txt",
    "/al/index.html",
    "/al/nope",
    "/al",
    "/glued/x.txt",
    "/glued/dir/",
    "/glued/dir",
    "/gluedx",
    "/slashless/x.txt",
    "/slashless/",
    "/re/x.txt",
    "/re/dir/",
    "/re/dir",
    "/re/nope",
    "/reidx/sub/",
    "/reidx/sub",
    "/reidx/file.txt",
    "/reidx/noindex/",
    "/tf/x.txt",
    "/tf/nope",
    "/tf/",
    "/tfd/dir/",
    "/tfd/x.txt",
    "/up/f.txt",
];

/// Where the generator starts: every file, directory and some misses.
const BASES: &[&str] = &[
    "/",
    "/index.html",
    "/file.txt",
    "/secret.txt",
    "/db.bak",
    "/.htpasswd",
    "/.htaccess",
    "/sub",
    "/sub/",
    "/sub/f.txt",
    "/sub/index.html",
    "/private",
    "/private/",
    "/private/data.txt",
    "/noindex",
    "/noindex/",
    "/.hidden/x.txt",
    "/.hidden/",
    "/nonexistent",
    "/nonexistent/",
    "/a%252Fb",
    "/a%2Fb",
    "/sub?x=1",
    "/noindex?a=b&c",
];

/// Where the `try_files` server's generator starts.
const TRY_BASES: &[&str] = &[
    "/a/x.txt",
    "/a/nope",
    "/a/",
    "/b/x.txt",
    "/b/dir",
    "/b/dir/",
    "/b/dir?y=2",
    "/b/nope?x=1",
    "/c/anything",
    "/d/nope?q=1",
    "/d/",
    "/e/nope",
    "/f/zzz",
    "/internal-only/x",
    "/sub/",
    "/sub/f.txt",
    "/g/x.txt",
    "/g/nope",
    "/g/nope/",
    "/g/empty/",
    "/g/empty",
];

/// SWAG's default HTTPS server from the corpus (root, index, `location /`
/// with its `try_files`, the PHP location, the `.ht` denial), without its
/// listen, names, TLS and proxy-conf includes and root, which each side
/// gives its own.
fn swag_default_server() -> String {
    let text = std::fs::read_to_string(default_conf()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| **l == "server {")
        .nth(1)
        .map(|(i, _)| i)
        .expect("default.conf.sample's second server");
    let mut depth = 0;
    let mut out = String::new();
    for l in &lines[start..] {
        depth += l.matches('{').count();
        depth -= l.matches('}').count();
        if depth == 0 {
            break;
        }
        let own = [
            "server {",
            "listen ",
            "server_name ",
            "root ",
            "include /config/",
        ];
        if own.iter().any(|p| l.starts_with(p)) {
            continue;
        }
        out.push_str(&format!("    {l}\n"));
    }
    assert!(out.contains("try_files $uri $uri/"), "{out}");
    out
}

fn default_conf() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/swag-defaults/nginx/site-confs/default.conf.sample")
}

/// The `location ... { deny all; }` blocks of SWAG's default site conf.
fn swag_denials() -> String {
    let text = std::fs::read_to_string(default_conf()).unwrap();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("location ") && lines.get(i + 1) == Some(&"deny all;") {
            out.push_str(&format!("    {l} deny all; }}\n"));
        }
    }
    assert!(
        out.contains("\\.ht"),
        "default.conf.sample's `location ~ /\\.ht` deny: {out}"
    );
    out
}

fn status(raw: &str) -> u16 {
    raw.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {raw:?}"))
}

fn body(raw: &str) -> &str {
    raw.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// A `Location` header without the port (each side listens on its own).
fn location_path(raw: &str) -> Option<String> {
    let head = raw.split_once("\r\n\r\n").map_or(raw, |(h, _)| h);
    let value = head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case("location")
            .then(|| v.trim().to_string())
    })?;
    Some(match value.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.split(':').next().unwrap_or_default();
            format!("{scheme}://{host}{path}")
        }
        None => value,
    })
}

fn write_www(root: &Path) {
    for (path, contents, _) in FILES {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }
    std::fs::create_dir_all(root.join("noindex")).unwrap();
    std::fs::create_dir_all(root.join("g/empty")).unwrap();
}

#[test]
fn static_paths_map_to_files_as_in_nginx() {
    let test = "static_paths_map_to_files_as_in_nginx";
    let Some(nginx_bin) = env::require_program(test, "nginx") else {
        return;
    };
    let servers = |listen: &str, root: &str| {
        let server = |name: &str, body: &str| {
            format!(
                "server {{\n    listen {listen};\n    server_name {name};\n    root {root};\n{body}}}\n"
            )
        };
        [
            server(
                "static.test",
                &format!(
                    "    index index.html index.htm;\n{}{OWN_DENIALS}",
                    swag_denials()
                ),
            ),
            server("swag.test", &swag_default_server()),
            server("try.test", &format!("    index index.html;\n{TRY_FILES}")),
            server("alias.test", &ALIASES.replace("ROOT", root)),
        ]
        .concat()
    };
    let ntmp = tempfile::tempdir().unwrap();
    let nroot = ntmp.path();
    for d in ["nginx", "log", "tmp"] {
        std::fs::create_dir_all(nroot.join(d)).unwrap();
    }
    write_www(&nroot.join("www"));
    let nport = free_port();
    std::fs::write(
        nroot.join("nginx/nginx.conf"),
        nginx_conf(
            nroot,
            &format!("{} crit", nroot.join("log/error.log").display()),
            &servers(
                &format!("127.0.0.1:{nport}"),
                &nroot.join("www").display().to_string(),
            ),
        ),
    )
    .unwrap();
    let _nginx = start_nginx(&nginx_bin, nroot, nport);

    let mtmp = temp_config();
    let mroot = mtmp.path();
    std::fs::create_dir_all(mroot.join("nginx/proxy-confs")).unwrap();
    write_www(&mroot.join("www-static"));
    // A symlink out of the root: nginx would follow it, moat refuses it.
    std::fs::write(mroot.join("outside.txt"), "SECRET-OUTSIDE").unwrap();
    std::os::unix::fs::symlink(mroot.join("outside.txt"), mroot.join("www-static/link.txt"))
        .unwrap();
    std::fs::write(
        mroot.join("nginx/proxy-confs/static.subdomain.conf"),
        servers("80", "/config/www-static"),
    )
    .unwrap();
    let cmd = moat_command(moat_bin(), mroot, &[]);
    let mport = moat_http_port(&cmd);
    let moat = Running::spawn(cmd);
    moat.wait_for(&["proxy listening"], Duration::from_secs(20));
    moat.wait_for(&["configuration reloaded"], Duration::from_secs(20));

    let nginx_at = SocketAddr::from(([127, 0, 0, 1], nport));
    let moat_at = SocketAddr::from(([127, 0, 0, 1], mport));
    let from = Ipv4Addr::LOCALHOST;
    let mut paths: Vec<(&str, String)> = Vec::new();
    for (host, bases) in [
        ("static.test", BASES),
        ("swag.test", BASES),
        ("try.test", TRY_BASES),
        ("alias.test", ALIAS_BASES),
    ] {
        let set: BTreeSet<String> = bases.iter().flat_map(|b| variants(b)).collect();
        paths.extend(set.into_iter().map(|p| (host, p)));
    }
    let mut differ = Vec::new();
    let mut by_status = std::collections::BTreeMap::<(&str, u16), usize>::new();
    for (host, path) in &paths {
        let n = ask_raw(from, nginx_at, host, path, &[]);
        let m = ask_raw(from, moat_at, host, path, &[]);
        let (ns, ms) = (status(&n), status(&m));
        *by_status.entry((host, ns)).or_default() += 1;
        let same = ns == ms
            && (ns != 200 || body(&n) == body(&m))
            && (ns != 301 || location_path(&n) == location_path(&m));
        if !same {
            differ.push(format!(
                "GET {path} Host: {host}\n  nginx: {ns} {:?} {:?}\n  moat:  {ms} {:?} {:?}",
                location_path(&n),
                &body(&n)[..body(&n).len().min(40)],
                location_path(&m),
                &body(&m)[..body(&m).len().min(40)],
            ));
        }
        // The try_files server serves a file through `try_files
        // /nothing /file.txt` in its own location, as nginx does; the
        // other two must never give away what a denial protects (and
        // SWAG's own server denies only `.ht` files).
        if *host == "static.test" || *host == "swag.test" {
            for (_, contents, protected) in FILES {
                let denied = *protected && (*host == "static.test" || contents.contains("SWAG"));
                assert!(
                    !(denied && body(&m).contains(contents)),
                    "moat served the protected {contents} for {path} on {host}"
                );
            }
        }
    }
    eprintln!(
        "static: {} paths compared, nginx answered {by_status:?}",
        paths.len()
    );
    assert!(
        differ.is_empty(),
        "{} of {} paths differ:\n{}",
        differ.len(),
        paths.len(),
        differ.join("\n")
    );
    // The generator reaches every branch it exists for.
    #[rustfmt::skip]
    let floors = [
        ("static.test", 200, 20), ("static.test", 301, 5),
        ("static.test", 403, 40), ("static.test", 404, 60),
        ("swag.test", 200, 40), ("swag.test", 301, 5), ("swag.test", 403, 20),
        ("try.test", 200, 40), ("try.test", 301, 3),
        ("try.test", 403, 3), ("try.test", 404, 10),
        ("alias.test", 200, 30), ("alias.test", 301, 3), ("alias.test", 404, 30),
    ];
    for (host, code, floor) in floors {
        let n = by_status.get(&(host, code)).copied().unwrap_or(0);
        assert!(
            n >= floor,
            "{host}: nginx answered {code} {n} times, floor {floor}"
        );
    }
    assert!(paths.len() >= 800, "{} paths", paths.len());

    // Methods: nginx's index and static modules answer GET, HEAD and POST
    // (POST to a file it finds is 405), anything else 405; try_files and
    // the access phase come first.
    let mut differ = Vec::new();
    let mut methods = std::collections::BTreeMap::<(&str, u16), usize>::new();
    for (host, bases) in [
        ("static.test", BASES),
        ("swag.test", BASES),
        ("try.test", TRY_BASES),
        ("alias.test", ALIAS_BASES),
    ] {
        for base in bases {
            for method in ["HEAD", "POST", "PUT", "DELETE", "OPTIONS"] {
                let len = [("Content-Length", "0")];
                let n = ask_method_raw(from, nginx_at, method, host, base, &len);
                let m = ask_method_raw(from, moat_at, method, host, base, &len);
                let (ns, ms) = (status(&n), status(&m));
                *methods.entry((method, ns)).or_default() += 1;
                let same = ns == ms
                    && (method != "HEAD" || body(&m).is_empty())
                    && (ns != 200 || body(&n) == body(&m))
                    && (ns != 301 || location_path(&n) == location_path(&m));
                if !same {
                    differ.push(format!(
                        "{method} {base} Host: {host}\n  nginx: {ns} {:?}\n  moat:  {ms} {:?} {:?}",
                        location_path(&n),
                        location_path(&m),
                        &body(&m)[..body(&m).len().min(40)],
                    ));
                }
            }
        }
    }
    eprintln!("static methods: nginx answered {methods:?}");
    assert!(
        differ.is_empty(),
        "{} method probes differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    for (method, code, floor) in [
        ("HEAD", 200, 20),
        ("POST", 405, 5),
        ("POST", 200, 5),
        ("PUT", 405, 20),
    ] {
        let n = methods.get(&(method, code)).copied().unwrap_or(0);
        assert!(
            n >= floor,
            "{method}: nginx answered {code} {n} times, floor {floor}"
        );
    }

    let m = ask_raw(from, moat_at, "static.test", "/link.txt", &[]);
    assert_eq!(status(&m), 404, "{m}");
    assert!(!body(&m).contains("SECRET-OUTSIDE"));

    // Nothing leaves an alias' directory. nginx's "off-by-slash": `location
    // /up { alias .../sub/; }` maps `/up../file.txt` to `sub/../file.txt`
    // and serves the file above; moat refuses it (stricter, on purpose).
    let n = ask_raw(from, nginx_at, "alias.test", "/up../file.txt", &[]);
    assert_eq!((status(&n), body(&n)), (200, "PLAIN-FILE"), "nginx: {n}");
    for path in [
        "/up../file.txt",
        "/up..%2ffile.txt",
        "/re/..%2f..%2foutside.txt",
    ] {
        let m = ask_raw(from, moat_at, "alias.test", path, &[]);
        assert!(matches!(status(&m), 400 | 404), "{path}: {m}");
        assert!(
            !body(&m).contains("PLAIN-FILE") && !body(&m).contains("SECRET"),
            "{path}: {m}"
        );
    }
    // A symlink under an alias is refused as under a root.
    let m = ask_raw(from, moat_at, "alias.test", "/reidx/link.txt", &[]);
    assert_eq!(status(&m), 404, "{m}");
    assert!(!body(&m).contains("SECRET-OUTSIDE"));
    drop(moat);
}
