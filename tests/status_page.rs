//! The status page on the loopback metrics endpoint, over real sockets: a
//! moat with a user conf and its self-signed default certificate.
//!
//! - `/api/status` names every server with its file:line, locations and
//!   upstreams, every certificate in service with its validity, the
//!   configuration state; a conf dropped in later shows up after the
//!   reload;
//! - per server block, the requests, 5xx and latest upstream time, and the
//!   latest failed requests with their conf file:line, upstream and cause;
//! - the public listeners never answer it: `/api/status` and `/` over HTTPS
//!   reach the app (the recorder shows it), not moat's page;
//! - the page renders in headless Chromium (Debian's `chromium`): the DOM
//!   holds the routes table and the certificate time-line SVG with one bar
//!   per certificate; the screenshot is kept as
//!   `target/tmp/status-page.png`.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/recorder.rs"]
mod recorder;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use foundation::{command_env, moat_bin, moat_command, temp_config, wait_until, Running};
use recorder::Recorder;

const CONF: &str = "# status page test
server {
    listen 443 ssl;
    server_name app.test;
    include /config/nginx/ssl.conf;
    location / {
        proxy_pass http://UPSTREAM;
    }
    location ^~ /admin/ {
        deny all;
    }
    location /down/ {
        proxy_pass http://DOWN;
    }
}
";

/// A loopback address nothing listens on (bound, then closed).
fn closed_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

struct Instance {
    moat: Running,
    https: u16,
    metrics: String,
}

fn start(root: &Path, upstream: SocketAddr) -> Instance {
    start_with(root, upstream, &[])
}

fn start_with(root: &Path, upstream: SocketAddr, envs: &[(&str, &str)]) -> Instance {
    std::fs::create_dir_all(root.join("nginx/proxy-confs")).unwrap();
    std::fs::write(
        root.join("nginx/proxy-confs/app.subdomain.conf"),
        CONF.replace("UPSTREAM", &upstream.to_string())
            .replace("DOWN", &closed_addr().to_string()),
    )
    .unwrap();
    let cmd = moat_command(moat_bin(), root, envs);
    let env = |name: &str| command_env(&cmd, name);
    let (https, metrics) = (env("HTTPS_PORT").parse().unwrap(), env("METRICS_ADDR"));
    let moat = Running::spawn(cmd);
    moat.wait_for(&["metrics endpoint listening"], Duration::from_secs(20));
    moat.wait_for_lines(&["proxy listening"], 2, Duration::from_secs(20));
    Instance {
        moat,
        https,
        metrics,
    }
}

/// `(status line, body)` of a GET on the metrics endpoint.
fn get(addr: &str, path: &str) -> (String, String) {
    let (head, body) = get_with(addr, path, "");
    (head.lines().next().unwrap_or_default().to_owned(), body)
}

/// `(head, body)` of a GET with `extra` header lines.
fn get_with(addr: &str, path: &str, extra: &str) -> (String, String) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.to_owned(), body.to_owned())
}

fn api_status(i: &Instance) -> serde_json::Value {
    let (status, body) = get(&i.metrics, "/api/status");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn route<'a>(status: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    status["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["names"].as_array().unwrap().iter().any(|n| n == name))
}

/// `(status code, body)` of an HTTPS GET through the public listener.
fn public_get(i: &Instance, path: &str) -> (String, String) {
    let out = Command::new("curl")
        .args([
            "-sk",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "--resolve",
        ])
        .arg(format!("app.test:{}:127.0.0.1", i.https))
        .arg(format!("https://app.test:{}{path}", i.https))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_owned(), body.to_owned())
}

#[test]
fn api_status_lists_routes_and_certificates_and_follows_reloads() {
    let up = Recorder::start();
    let tmp = temp_config();
    let i = start(tmp.path(), up.addr);
    let status = api_status(&i);
    assert_eq!(status["config"]["state"], "current", "{status:#}");
    assert!(status["generated_at"].as_str().unwrap().starts_with("20"));
    let app = route(&status, "app.test").unwrap_or_else(|| panic!("{status:#}"));
    assert_eq!(
        app["file"], "nginx/proxy-confs/app.subdomain.conf",
        "{app:#}"
    );
    assert_eq!(app["line"], 2, "{app:#}");
    assert_eq!(app["source"], "file");
    assert!(
        app["listens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "443 ssl"),
        "{app:#}"
    );
    let locations = app["locations"].as_array().unwrap();
    let root = locations.iter().find(|l| l["match"] == "/").unwrap();
    assert_eq!(root["action"], "proxy");
    assert_eq!(root["upstream"], format!("http://{}", up.addr));
    let admin = locations
        .iter()
        .find(|l| l["match"] == "^~ /admin/")
        .unwrap();
    assert_eq!(admin["action"], "deny", "{admin:#}");

    // The self-signed default certificate moat made at start.
    let now = status["generated_at_unix"].as_i64().unwrap();
    let certs = status["certificates"].as_array().unwrap();
    let default = certs
        .iter()
        .find(|c| {
            c["served_for"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n == "_default")
        })
        .unwrap_or_else(|| panic!("{status:#}"));
    assert!(
        default["not_before_unix"].as_i64().unwrap() <= now,
        "{default:#}"
    );
    assert!(
        default["not_after_unix"].as_i64().unwrap() > now,
        "{default:#}"
    );
    assert!(default["days_left"].as_i64().unwrap() > 0, "{default:#}");
    assert!(
        !default["issuer"].as_str().unwrap().is_empty(),
        "{default:#}"
    );
    assert!(status["renewals"].is_array());
    assert!(status["bans"].is_null(), "DISABLE_F2B=true: {status:#}");

    // A conf dropped in later is on the page once the reload has loaded it.
    std::fs::write(
        tmp.path().join("nginx/proxy-confs/later.subdomain.conf"),
        "server {\n    listen 443 ssl;\n    server_name later.test;\n    location / { return 204; }\n}\n",
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(15), || route(
            &api_status(&i),
            "later.test"
        )
        .is_some()),
        "later.test never appeared; log:\n{}",
        i.moat.log()
    );
}

#[test]
fn the_public_listeners_never_answer_the_status_page() {
    let up = Recorder::start();
    let tmp = temp_config();
    let i = start(tmp.path(), up.addr);
    for path in ["/api/status", "/"] {
        let (code, body) = public_get(&i, path);
        assert_eq!(code, "200", "{path}: {body}");
        assert!(
            body.starts_with(&format!("GET {path} HTTP/1.1")),
            "{path}: {body}"
        );
        assert!(!body.contains("generated_at") && !body.contains("cert-timeline"));
        assert!(up.saw(path), "{path} did not reach the app");
    }
    // The page itself is there, on the metrics endpoint.
    let (status, page) = get(&i.metrics, "/");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(page.contains("id=\"cert-timeline\""), "{page}");
}

#[test]
fn the_page_renders_in_headless_chromium() {
    let test = "the_page_renders_in_headless_chromium";
    let Some(chromium) = env::require_program(test, "chromium") else {
        return;
    };
    let up = Recorder::start();
    let tmp = temp_config();
    let i = start(tmp.path(), up.addr);
    let url = format!("http://{}/", i.metrics);
    let profile = tempfile::tempdir().unwrap();
    let headless = |extra: &[&str]| {
        let out = Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--window-size=1280,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium");
        assert!(
            out.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = headless(&["--dump-dom"]);
    assert!(dom.contains("<title>moat status</title>"), "{dom}");
    assert!(dom.contains("app.test"), "{dom}");
    assert!(dom.contains(&format!("http://{}", up.addr)), "{dom}");
    assert!(
        dom.contains("app.subdomain.conf:6"),
        "the / location's line: {dom}"
    );
    assert!(
        dom.contains("app.subdomain.conf:9"),
        "the /admin/ location's line: {dom}"
    );
    let certificates = api_status(&i)["certificates"].as_array().unwrap().len();
    assert!(certificates >= 1);
    assert_eq!(
        dom.matches("class=\"cert-bar\"").count(),
        certificates,
        "one bar per certificate: {dom}"
    );
    assert!(dom.contains("id=\"now\""), "{dom}");

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    headless(&[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // 1280x1000 in the IHDR chunk.
    assert_eq!(&png[16..24], &[0, 0, 5, 0, 0, 0, 3, 232]);
    eprintln!("status page screenshot: {}", shot.display());
}

/// STATUS_PAGE_AUTH: the page and its JSON need a user of the htpasswd
/// file (read per request: an edit needs no restart); a file that cannot
/// be read closes the page (503), never opens it; /health and /metrics stay
/// open for `moat health` and Prometheus.
#[test]
fn status_page_auth_guards_the_page_and_fails_closed() {
    use base64::Engine;
    let up = Recorder::start();
    let tmp = temp_config();
    let file = tmp.path().join("nginx/.htpasswd-status");
    std::fs::create_dir_all(tmp.path().join("nginx")).unwrap();
    // alice:secret
    std::fs::write(&file, "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n").unwrap();
    let i = start_with(
        tmp.path(),
        up.addr,
        &[("STATUS_PAGE_AUTH", file.to_str().unwrap())],
    );
    let basic = |user_pw: &str| {
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(user_pw)
        )
    };
    for path in ["/", "/api/status"] {
        let (head, body) = get_with(&i.metrics, path, "");
        assert!(head.starts_with("HTTP/1.1 401"), "{path}: {head}");
        assert!(
            head.contains("WWW-Authenticate: Basic realm=\"moat status\""),
            "{head}"
        );
        assert!(!body.contains("app.test"), "{body}");
        let (head, _) = get_with(&i.metrics, path, &basic("alice:wrong"));
        assert!(head.starts_with("HTTP/1.1 401"), "{path}: {head}");
        let (head, body) = get_with(&i.metrics, path, &basic("alice:secret"));
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        assert!(body.contains("app.test"), "{path}: {body}");
    }
    assert_eq!(get(&i.metrics, "/health").0, "HTTP/1.1 200 OK");
    assert_eq!(get(&i.metrics, "/metrics").0, "HTTP/1.1 200 OK");

    std::fs::remove_file(&file).unwrap();
    let (head, body) = get_with(&i.metrics, "/api/status", &basic("alice:secret"));
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(
        body.contains("STATUS_PAGE_AUTH") && body.contains(".htpasswd-status"),
        "{body}"
    );
    assert!(!body.contains("app.test"), "{body}");
}

/// A relative STATUS_PAGE_AUTH is a settings error naming the variable:
/// moat does not start with a page it was told to guard left open.
#[test]
fn a_relative_status_page_auth_path_stops_moat_at_start() {
    let tmp = temp_config();
    let out = moat_command(
        moat_bin(),
        tmp.path(),
        &[("STATUS_PAGE_AUTH", "nginx/.htpasswd")],
    )
    .output()
    .expect("moat");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("STATUS_PAGE_AUTH") && text.contains("not an absolute path"),
        "{text}"
    );
}

/// Traffic per server block and the latest failures: a request the app
/// answers and one whose upstream refuses the connection (502) show up
/// with the conf line that routed the failure and its cause in words.
#[test]
fn traffic_and_recent_errors_name_the_conf_line_and_the_cause() {
    let up = Recorder::start();
    let tmp = temp_config();
    let i = start(tmp.path(), up.addr);
    let status = api_status(&i);
    assert!(
        status["recent_errors"].as_array().unwrap().is_empty(),
        "{status:#}"
    );
    assert_eq!(public_get(&i, "/ok").0, "200");
    assert!(up.saw("/ok"));
    assert_eq!(public_get(&i, "/down/x").0, "502");
    let status = api_status(&i);
    let traffic = status["traffic"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["server"] == "app.test")
        .unwrap_or_else(|| panic!("{status:#}"));
    assert_eq!(traffic["requests"], 2, "{traffic:#}");
    assert_eq!(traffic["failed"], 1, "{traffic:#}");
    assert_eq!(traffic["last_status"], 502, "{traffic:#}");
    assert!(
        traffic["mean_upstream_ms"].as_f64().unwrap() >= 0.0,
        "{traffic:#}"
    );
    let errors = status["recent_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{status:#}");
    let e = &errors[0];
    assert_eq!(e["status"], 502, "{e:#}");
    assert_eq!(
        e["conf"], "nginx/proxy-confs/app.subdomain.conf:12",
        "{e:#}"
    );
    assert!(
        e["upstream"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{e:#}"
    );
    assert!(e["cause"].as_str().unwrap().contains("refused"), "{e:#}");
    // Health per upstream address: the app answered, the closed port refused.
    let upstreams = status["upstreams"].as_array().unwrap();
    let by_address = |addr: &str| {
        upstreams
            .iter()
            .find(|u| u["address"] == addr)
            .unwrap_or_else(|| panic!("no upstream {addr}: {status:#}"))
    };
    let app = by_address(&up.addr.to_string());
    assert_eq!(app["name"], up.addr.to_string(), "{app:#}");
    assert_eq!(
        (app["requests"].as_u64(), app["failed"].as_u64()),
        (Some(1), Some(0)),
        "{app:#}"
    );
    assert_eq!(app["last_status"], 200, "{app:#}");
    assert!(app["last_upstream_ms"].as_f64().is_some(), "{app:#}");
    let down = e["upstream"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://");
    let down = down.split('/').next().unwrap();
    let refused = by_address(down);
    assert_eq!(
        (refused["requests"].as_u64(), refused["failed"].as_u64()),
        (Some(1), Some(1)),
        "{refused:#}"
    );
    assert_eq!(refused["last_status"], 502, "{refused:#}");
    assert!(refused["last_upstream_ms"].is_null(), "{refused:#}");
    assert_eq!(upstreams.len(), 2, "{status:#}");
    let (_, page) = get(&i.metrics, "/");
    assert!(page.contains("class=\"recent-error\""), "{page}");
    assert_eq!(page.matches("<tr class=\"upstream\">").count(), 2, "{page}");
}
