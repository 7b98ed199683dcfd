//! Docker container discovery (SWAG's swag-auto-proxy mod, built in) end to
//! end, in real containers: moat reads the host's Docker socket, publishes
//! every running container labelled `swag=enable` by writing
//! `proxy-confs/auto-proxy-<name>.subdomain.conf` from a proxy-conf sample
//! (the `swag_preset_conf` one, else SWAG's generic template), follows the
//! events stream as containers are recreated with other labels or stop,
//! leaves the user's own confs alone, refuses labels and generated confs that
//! would not load, survives `docker restart` without rewriting anything, and
//! stays off without a socket.
//!
//! Why end to end: the contract is about files on the /config volume, the
//! routes moat then serves and what Docker tells it, so each test looks at
//! all three: the generated file's text, an HTTPS request through moat's
//! published 443 to a `moat-echo` backend found by its container name
//! through Docker's DNS, and `/api/status` on the metrics port.
//!
//! The /config volume is SWAG's layout with a CA-signed certificate for
//! `*.example.test` and `example.test` already in place and
//! `ACME_SERVER=https://acme.invalid/dir`, so no order is ever needed. moat
//! lists every labelled container of the Docker engine, other tests'
//! included (it skips those on networks it is not on), so every host name
//! here carries the run's id and cannot collide.

#[path = "support/certbot_layout.rs"]
mod certbot_layout;
#[path = "support/conf.rs"]
mod conf_support;
#[path = "support/docker.rs"]
mod docker;
#[path = "support/env.rs"]
mod env;

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use docker::{wait_for, Container, Response, Run};

const DOMAIN: &str = "example.test";
/// The first line of every generated conf starts with this and the container's name.
const HEADER: &str = "## moat: generated from the labels of container ";
/// The host's Docker socket, mounted read-only into moat.
const SOCKET: &str = "/var/run/docker.sock";
/// How long a label change may take to reach the routes (the contract's 30 s).
const WAIT: Duration = Duration::from_secs(30);

/// How the moat container reaches the Docker engine.
#[derive(Clone, Copy, PartialEq)]
enum Engine {
    /// The socket at its default path, `/var/run/docker.sock`.
    DefaultSocket,
    /// The socket elsewhere, named by `DOCKER_HOST=unix:///docker/engine.sock`.
    DockerHost,
    /// Neither: discovery must be off.
    None,
}

/// moat on the run's network with the seeded /config volume.
struct Stack {
    run: Run,
    /// SWAG's /config, bind-mounted at /config (dropped after `run`).
    layout: tempfile::TempDir,
    moat: String,
    echo_image: String,
    /// Trusts only the CA that signed the seeded certificate.
    tls: Arc<rustls::ClientConfig>,
    /// Published 443 and 9113 (they change when moat is restarted).
    https: Cell<SocketAddr>,
    metrics: Cell<SocketAddr>,
}

impl Stack {
    /// Starts moat and waits until it serves HTTPS with the seeded certificate.
    fn start(test: &str, engine: Engine) -> Option<Stack> {
        let run = Run::new(test)?;
        let moat_image = run.moat_image();
        let echo_image = run.echo_image();

        let layout = conf_support::swag_layout();
        let now = certbot_layout::now();
        let wildcard = format!("*.{DOMAIN}");
        let (fullchain, key, ca) =
            certbot_layout::make_cert(&[&wildcard, DOMAIN], now - 86_400, now + 60 * 86_400);
        certbot_layout::write_lineage(layout.path(), DOMAIN, &fullchain, &key, true);

        let mut spec = Container::new("moat", &moat_image)
            .volume(layout.path(), "/config")
            .env("URL", DOMAIN)
            .env("SUBDOMAINS", "")
            .env("VALIDATION", "http")
            // Nothing to reach: the seeded certificate must be enough.
            .env("ACME_SERVER", "https://acme.invalid/dir")
            .env("LOG_FORMAT", "text")
            .env("METRICS_ADDR", "0.0.0.0:9113")
            .publish(443)
            .publish(9113);
        spec = match engine {
            Engine::DefaultSocket => spec.volume(Path::new(SOCKET), "/var/run/docker.sock:ro"),
            Engine::DockerHost => spec
                .volume(Path::new(SOCKET), "/docker/engine.sock:ro")
                .env("DOCKER_HOST", "unix:///docker/engine.sock"),
            Engine::None => spec,
        };
        let moat = run.start(&spec);
        run.wait_running(&moat);
        run.wait_log(&moat, "supervisor running", WAIT);
        let stack = Stack {
            https: Cell::new(run.port(&moat, 443)),
            metrics: Cell::new(run.port(&moat, 9113)),
            run,
            layout,
            moat,
            echo_image,
            tls: docker::tls_config(&ca),
        };
        stack.wait_serving();
        let logs = stack.logs();
        assert!(logs.contains("no order needed"), "{logs}");
        assert!(!logs.contains("ACME order created"), "{logs}");
        Some(stack)
    }

    /// Waits until moat answers HTTPS (any status) and `/api/status`.
    fn wait_serving(&self) {
        let probe = self.host("probe");
        wait_for(
            WAIT,
            "moat to answer HTTPS and /api/status",
            || {
                self.get(&probe, "/").ok()?;
                self.status()
            },
            || self.logs(),
        );
    }

    /// After `docker restart`/`start`: the new published ports, once serving.
    fn restarted(&self, logs_before: usize) {
        self.run.wait_running(&self.moat);
        self.run
            .wait_log_after(&self.moat, logs_before, "supervisor running", WAIT);
        self.https.set(self.run.port(&self.moat, 443));
        self.metrics.set(self.run.port(&self.moat, 9113));
        self.wait_serving();
    }

    fn logs(&self) -> String {
        self.run.logs(&self.moat)
    }

    fn config(&self) -> &Path {
        self.layout.path()
    }

    /// `<run id>-<label>.example.test`: covered by the wildcard and unique
    /// to this run.
    fn host(&self, label: &str) -> String {
        format!("{}-{label}.{DOMAIN}", self.run.id)
    }

    /// Starts a `moat-echo` container `name` answering with `name`, with
    /// `labels` (Docker labels, `key=value`); returns its full name.
    fn app(&self, name: &str, labels: &[(&str, &str)]) -> String {
        let mut spec = Container::new(name, &self.echo_image).env("ECHO_NAME", name);
        for (k, v) in labels {
            spec = spec.args(&["--label", &format!("{k}={v}")]);
        }
        self.run.start(&spec)
    }

    /// The generated conf's path for container `container` (full name).
    fn generated(&self, container: &str) -> PathBuf {
        self.config().join(generated_rel(container))
    }

    /// Waits until the generated conf for `container` exists with its
    /// header and `contains` in it; returns its text.
    fn wait_generated(&self, container: &str, contains: &str) -> String {
        let path = self.generated(container);
        wait_for(
            WAIT,
            &format!("{} with its header and {contains:?}", path.display()),
            || {
                let text = std::fs::read_to_string(&path).ok()?;
                let first = text.lines().next()?;
                (first.starts_with(&format!("{HEADER}{container}")) && text.contains(contains))
                    .then_some(text)
            },
            || self.describe_file(&path),
        )
    }

    /// Waits until `path` is gone.
    fn wait_gone(&self, path: &Path) {
        wait_for(
            WAIT,
            &format!("{} removed", path.display()),
            || (!path.exists()).then_some(()),
            || self.describe_file(path),
        );
    }

    fn describe_file(&self, path: &Path) -> String {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()));
        format!(
            "{}:\n{text}\nproxy-confs: {:?}\nmoat logs:\n{}",
            path.display(),
            auto_proxy_files(self.config()),
            self.logs()
        )
    }

    /// `GET https://host/path` through moat's published 443.
    fn get(&self, host: &str, path: &str) -> std::io::Result<Response> {
        docker::https_get(self.https.get(), host, path, &self.tls).map(|(r, _)| r)
    }

    /// Waits until `https://host/path` is answered by the echo backend `name`.
    fn wait_echo(&self, host: &str, path: &str, name: &str) -> serde_json::Value {
        docker::wait_answer(
            WAIT,
            &format!("https://{host}{path} answered by backend {name}"),
            || self.get(host, path),
            |r| r.status == 200 && echo_name(r).as_deref() == Some(name),
            || {
                format!(
                    "auto-proxy files: {:?}\nmoat logs:\n{}",
                    auto_proxy_files(self.config()),
                    self.logs()
                )
            },
        )
        .json()
    }

    /// Waits until moat answers `https://host/` with something other than
    /// the echo backend `name` (SWAG's default server); returns the answer.
    fn wait_not_echo(&self, host: &str, name: &str) -> Response {
        docker::wait_answer(
            WAIT,
            &format!("https://{host}/ no longer answered by backend {name}"),
            || self.get(host, "/"),
            |r| echo_name(r).as_deref() != Some(name),
            || format!("moat logs:\n{}", self.logs()),
        )
    }

    /// `/api/status` as JSON, `None` until it answers 200.
    fn status(&self) -> Option<serde_json::Value> {
        let r = docker::http_get(self.metrics.get(), "localhost", "/api/status").ok()?;
        (r.status == 200).then(|| r.json())
    }

    /// Waits until `/api/status` lists a server block from `file` (relative
    /// to /config); returns it.
    fn wait_route(&self, file: &str) -> serde_json::Value {
        wait_for(
            WAIT,
            &format!("/api/status to list a route from {file}"),
            || {
                routes(&self.status()?)
                    .into_iter()
                    .find(|r| r["file"] == file)
            },
            || format!("{:#?}", self.status()),
        )
    }

    /// Waits until `/api/status` lists no server block from `file`.
    fn wait_no_route(&self, file: &str) {
        wait_for(
            WAIT,
            &format!("/api/status to list no route from {file}"),
            || {
                let status = self.status()?;
                (!routes(&status).iter().any(|r| r["file"] == file)).then_some(())
            },
            || format!("{:#?}", self.status()),
        );
    }

    /// Waits until one line of moat's logs contains every one of `needles`;
    /// returns that line.
    fn wait_line(&self, needles: &[&str]) -> String {
        wait_for(
            WAIT,
            &format!("a line of moat's logs with {needles:?}"),
            || log_line(&self.logs(), needles),
            || self.logs(),
        )
    }
}

/// The generated conf of `container`, relative to /config.
fn generated_rel(container: &str) -> String {
    format!("nginx/proxy-confs/auto-proxy-{container}.subdomain.conf")
}

/// The first line of `logs` containing every one of `needles`.
fn log_line(logs: &str, needles: &[&str]) -> Option<String> {
    logs.lines()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_owned)
}

/// The `name` of a moat-echo answer; `None` for anything else.
fn echo_name(r: &Response) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    json["name"].as_str().map(str::to_owned)
}

/// `/api/status`'s `routes`.
fn routes(status: &serde_json::Value) -> Vec<serde_json::Value> {
    status["routes"].as_array().cloned().unwrap_or_default()
}

/// The `auto-proxy-*` files in proxy-confs.
fn auto_proxy_files(config: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(config.join("nginx/proxy-confs"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("auto-proxy-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Bytes and mtime of a file.
fn fingerprint(path: &Path) -> (Vec<u8>, SystemTime) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    (bytes, mtime)
}

/// A user's own SWAG-format subdomain conf: `host` proxied to
/// `upstream:80`, without moat's header.
fn user_conf(host: &str, upstream: &str) -> String {
    format!(
        "## written by the user, not by moat\n\
         server {{\n\
         \x20   listen 443 ssl;\n\
         \x20   listen [::]:443 ssl;\n\
         \x20   server_name {host};\n\
         \x20   include /config/nginx/ssl.conf;\n\
         \x20   location / {{\n\
         \x20       include /config/nginx/proxy.conf;\n\
         \x20       include /config/nginx/resolver.conf;\n\
         \x20       set $upstream_app {upstream};\n\
         \x20       set $upstream_port 80;\n\
         \x20       set $upstream_proto http;\n\
         \x20       proxy_pass $upstream_proto://$upstream_app:$upstream_port;\n\
         \x20   }}\n\
         }}\n"
    )
}

#[test]
fn labelled_container_is_published_followed_through_recreation_and_dropped_on_stop() {
    let test = "labelled_container_is_published_followed_through_recreation_and_dropped_on_stop";
    let Some(s) = Stack::start(test, Engine::DefaultSocket) else {
        return;
    };
    let radarr = s.host("radarr");
    let app = s.app(
        "app",
        &[
            ("swag", "enable"),
            ("swag_preset_conf", "radarr"),
            ("swag_port", "80"),
            ("swag_url", &radarr),
        ],
    );
    let answer = s.wait_echo(&radarr, "/movie/1", "app");
    assert_eq!(answer["target"], "/movie/1");
    assert!(!s.logs().contains("docker discovery: off"), "{}", s.logs());

    // The radarr sample, with the container's name, port and host in it.
    let text = s.wait_generated(&app, "server_name");
    let first = text.lines().next().unwrap_or_default();
    assert!(first.starts_with(&format!("{HEADER}{app}")), "{text}");
    for needle in [
        format!("server_name {radarr};"),
        "location ~ (/radarr)?/api {".to_owned(),
        format!("set $upstream_app {app};"),
        "set $upstream_port 80;".to_owned(),
        "set $upstream_proto http;".to_owned(),
    ] {
        assert!(text.contains(&needle), "{needle:?} missing:\n{text}");
    }
    assert!(!text.contains("set $upstream_port 7878;"), "{text}");
    // The sample's API location routes to the container too.
    let api = s.wait_echo(&radarr, "/api/v3/system/status", "app");
    assert_eq!(api["target"], "/api/v3/system/status");

    let rel = generated_rel(&app);
    let route = s.wait_route(&rel);
    assert_eq!(route["source"], "docker", "{route:#}");
    assert!(
        route["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == &radarr),
        "{route:#}"
    );
    let locations = route["locations"].as_array().unwrap();
    assert!(
        locations.iter().any(|l| l["match"] == "~ (/radarr)?/api"),
        "{route:#}"
    );

    // Labels cannot change on a running container: recreate it.
    s.run.remove(&app);
    let movies = s.host("movies");
    let again = s.app(
        "app",
        &[
            ("swag", "enable"),
            ("swag_preset_conf", "radarr"),
            ("swag_port", "80"),
            ("swag_url", &movies),
        ],
    );
    assert_eq!(again, app);
    s.wait_echo(&movies, "/", "app");
    let other = s.wait_not_echo(&radarr, "app");
    eprintln!("{radarr} after the recreation: {}", other.status);
    let text = s.wait_generated(&app, &format!("server_name {movies};"));
    assert!(!text.contains(&radarr), "the old host stays:\n{text}");

    // Stopped: the file goes, and so does the route.
    docker::docker(&["stop", "-t", "1", &app]);
    s.wait_gone(&s.generated(&app));
    s.wait_no_route(&rel);
    s.wait_not_echo(&movies, "app");
}

#[test]
fn container_without_a_preset_gets_the_generic_template_and_two_route_at_once() {
    let test = "container_without_a_preset_gets_the_generic_template_and_two_route_at_once";
    // Also the DOCKER_HOST=unix://... way to the engine.
    let Some(s) = Stack::start(test, Engine::DockerHost) else {
        return;
    };
    // No sample has these names, and neither sets swag_port or swag_url.
    let plain = s.app("plain", &[("swag", "enable")]);
    let other = s.app("other", &[("swag", "enable")]);
    for (container, name) in [(&plain, "plain"), (&other, "other")] {
        // The default swag_url is `<container name>.*`.
        s.wait_echo(&format!("{container}.{DOMAIN}"), "/", name);
        let text = s.wait_generated(container, "proxy_pass");
        for needle in [
            "proxy_pass $upstream_proto://$upstream_app:$upstream_port;".to_owned(),
            "set $upstream_port 80;".to_owned(),
            "set $upstream_proto http;".to_owned(),
            format!("set $upstream_app {container};"),
            format!("server_name {container}.*;"),
        ] {
            assert!(text.contains(&needle), "{needle:?} missing:\n{text}");
        }
        // Every placeholder of the template is filled in where it counts.
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            assert!(!line.contains('<'), "placeholder left: {line:?}\n{text}");
        }
        let route = s.wait_route(&generated_rel(container));
        assert_eq!(route["source"], "docker", "{route:#}");
    }
    // Both at once, still.
    for (container, name) in [(&plain, "plain"), (&other, "other")] {
        let r = s.get(&format!("{container}.{DOMAIN}"), "/").unwrap();
        assert_eq!(echo_name(&r).as_deref(), Some(name), "{r:?}");
    }
}

#[test]
fn user_confs_for_a_labelled_container_are_left_alone() {
    let test = "user_confs_for_a_labelled_container_are_left_alone";
    let Some(s) = Stack::start(test, Engine::DefaultSocket) else {
        return;
    };
    let confs = s.config().join("nginx/proxy-confs");
    // The containers' full names are known before they start.
    let mine = format!("{}-mine", s.run.id);
    let theirs = format!("{}-theirs", s.run.id);
    // An auto-proxy file the user wrote (no header), and a plain active conf.
    let mine_file = confs.join(format!("auto-proxy-{mine}.subdomain.conf"));
    let theirs_file = confs.join(format!("{theirs}.subdomain.conf"));
    let mine_text = user_conf(&s.host("mine-user"), &mine);
    let theirs_text = user_conf(&s.host("theirs-user"), &theirs);
    std::fs::write(&mine_file, &mine_text).unwrap();
    std::fs::write(&theirs_file, &theirs_text).unwrap();

    let started = s.app(
        "mine",
        &[("swag", "enable"), ("swag_url", &s.host("mine-labels"))],
    );
    assert_eq!(started, mine);
    let started = s.app(
        "theirs",
        &[("swag", "enable"), ("swag_url", &s.host("theirs-labels"))],
    );
    assert_eq!(started, theirs);

    s.wait_echo(&s.host("mine-user"), "/", "mine");
    s.wait_echo(&s.host("theirs-user"), "/", "theirs");
    for container in [&mine, &theirs] {
        let line = s.wait_line(&["docker discovery: left alone", container]);
        eprintln!("{line}");
    }
    assert_eq!(std::fs::read_to_string(&mine_file).unwrap(), mine_text);
    assert_eq!(std::fs::read_to_string(&theirs_file).unwrap(), theirs_text);
    assert!(
        !s.generated(&theirs).exists(),
        "{}",
        s.describe_file(&s.generated(&theirs))
    );
    // The labels' hosts are not served; the user's are, as files.
    s.wait_not_echo(&s.host("mine-labels"), "mine");
    s.wait_not_echo(&s.host("theirs-labels"), "theirs");
    let route = s.wait_route(&generated_rel(&mine));
    assert_eq!(route["source"], "file", "{route:#}");
    assert_eq!(route["names"], serde_json::json!([s.host("mine-user")]));
}

#[test]
fn invalid_labels_and_a_conf_that_would_not_load_are_refused() {
    let test = "invalid_labels_and_a_conf_that_would_not_load_are_refused";
    let Some(s) = Stack::start(test, Engine::DefaultSocket) else {
        return;
    };
    let good_host = s.host("good");
    let good = s.app("good", &[("swag", "enable"), ("swag_url", &good_host)]);
    let bad = [
        (
            s.app(
                "badurl",
                &[("swag", "enable"), ("swag_url", "bad name.example.test")],
            ),
            "swag_url",
        ),
        (
            s.app(
                "badport",
                &[
                    ("swag", "enable"),
                    ("swag_url", &s.host("badport")),
                    ("swag_port", "70000"),
                ],
            ),
            "swag_port",
        ),
        (
            s.app(
                "badproto",
                &[
                    ("swag", "enable"),
                    ("swag_url", &s.host("badproto")),
                    ("swag_proto", "ftp"),
                ],
            ),
            "swag_proto",
        ),
    ];
    s.wait_echo(&good_host, "/", "good");
    s.wait_generated(&good, "server_name");
    for (container, label) in &bad {
        let line = s.wait_line(&["docker discovery: labels refused", container, label]);
        assert!(line.contains("ERROR"), "an error line: {line}");
        assert!(
            !s.generated(container).exists(),
            "{}",
            s.describe_file(&s.generated(container))
        );
    }

    // Valid labels, but the conf they make is not valid nginx.
    let logs_before = s.logs().len();
    let bogus = s.app(
        "bogus",
        &[
            ("swag", "enable"),
            ("swag_url", &s.host("bogus")),
            ("swag_server_custom_directive", "bogus_directive on;"),
        ],
    );
    let line = s.wait_line(&["docker discovery: conf refused", &bogus]);
    assert!(line.contains("ERROR"), "an error line: {line}");
    assert!(
        !s.generated(&bogus).exists(),
        "{}",
        s.describe_file(&s.generated(&bogus))
    );
    // The routes in service are unchanged and the configuration is current.
    let r = s.get(&good_host, "/still").unwrap();
    assert_eq!(echo_name(&r).as_deref(), Some("good"), "{r:?}");
    let status = s.status().expect("/api/status");
    assert_eq!(status["config"]["state"], "current", "{status:#}");
    assert!(
        routes(&status)
            .iter()
            .any(|r| r["file"] == generated_rel(&good)),
        "{status:#}"
    );
    assert!(
        !routes(&status)
            .iter()
            .any(|r| r["file"] == generated_rel(&bogus)),
        "{status:#}"
    );
    let after = &s.logs()[logs_before..];
    assert!(
        !after.contains("configuration reload failed"),
        "a refused conf never reaches the loader:\n{after}"
    );
}

#[test]
fn restarted_moat_keeps_generated_files_and_drops_those_of_departed_containers() {
    let test = "restarted_moat_keeps_generated_files_and_drops_those_of_departed_containers";
    let Some(s) = Stack::start(test, Engine::DefaultSocket) else {
        return;
    };
    let one = s.app("one", &[("swag", "enable"), ("swag_url", &s.host("one"))]);
    let two = s.app("two", &[("swag", "enable"), ("swag_url", &s.host("two"))]);
    s.wait_echo(&s.host("one"), "/", "one");
    s.wait_echo(&s.host("two"), "/", "two");
    s.wait_generated(&one, "server_name");
    s.wait_generated(&two, "server_name");
    let before_one = fingerprint(&s.generated(&one));
    let before_two = fingerprint(&s.generated(&two));

    let logs_before = s.logs().len();
    docker::docker(&["restart", &s.moat]);
    s.restarted(logs_before);
    s.wait_echo(&s.host("one"), "/", "one");
    s.wait_echo(&s.host("two"), "/", "two");
    // A container started now is published: discovery has listed and is
    // following events, so it had its chance to rewrite the others.
    let three = s.app(
        "three",
        &[("swag", "enable"), ("swag_url", &s.host("three"))],
    );
    s.wait_echo(&s.host("three"), "/", "three");
    s.wait_generated(&three, "server_name");
    assert!(
        fingerprint(&s.generated(&one)) == before_one,
        "{one}'s file was rewritten across the restart"
    );
    assert!(
        fingerprint(&s.generated(&two)) == before_two,
        "{two}'s file was rewritten across the restart"
    );

    // A container that goes away while moat is down loses its file at start.
    docker::docker(&["stop", &s.moat]);
    s.run.remove(&two);
    let logs_before = s.logs().len();
    docker::docker(&["start", &s.moat]);
    s.restarted(logs_before);
    s.wait_gone(&s.generated(&two));
    s.wait_no_route(&generated_rel(&two));
    s.wait_not_echo(&s.host("two"), "two");
    s.wait_echo(&s.host("one"), "/", "one");
    assert!(
        fingerprint(&s.generated(&one)) == before_one,
        "{one}'s file was rewritten across the second start"
    );
}

#[test]
fn without_a_socket_discovery_is_off_and_dropped_in_confs_still_serve() {
    let test = "without_a_socket_discovery_is_off_and_dropped_in_confs_still_serve";
    let Some(s) = Stack::start(test, Engine::None) else {
        return;
    };
    let line = s.wait_line(&["docker discovery: off"]);
    assert!(line.contains("INFO"), "an info line: {line}");
    assert_eq!(
        s.logs().matches("docker discovery: off").count(),
        1,
        "{}",
        s.logs()
    );

    // A labelled container on moat's network, then a conf dropped in for it.
    let hidden = s.app(
        "hidden",
        &[("swag", "enable"), ("swag_url", &s.host("hidden"))],
    );
    std::fs::write(
        s.config().join("nginx/proxy-confs/dropped.subdomain.conf"),
        user_conf(&s.host("dropped"), &hidden),
    )
    .unwrap();
    s.wait_echo(&s.host("dropped"), "/", "hidden");

    // The dropped-in conf is served; the labels are not.
    assert_eq!(
        auto_proxy_files(s.config()),
        Vec::<String>::new(),
        "{}",
        s.logs()
    );
    let r = s.get(&s.host("hidden"), "/").unwrap();
    assert_ne!(echo_name(&r).as_deref(), Some("hidden"), "{r:?}");
    let status = s.status().expect("/api/status");
    let sources: Vec<_> = routes(&status)
        .iter()
        .map(|r| r["source"].clone())
        .collect();
    assert!(sources.iter().all(|s| s == "file"), "{status:#}");
    assert!(
        routes(&status)
            .iter()
            .any(|r| r["file"] == "nginx/proxy-confs/dropped.subdomain.conf"),
        "{status:#}"
    );
}

/// A Docker network of the test's besides the run's own, and the containers
/// started on it directly (`Run::start` always joins the run's network):
/// the containers, then the network, are removed on drop, even on panic.
/// Declared after the [`Stack`] it belongs to, so it is dropped first and
/// the run's network has nothing of it left attached when the run goes.
struct OtherNetwork {
    name: String,
    containers: Vec<String>,
}

impl OtherNetwork {
    /// `docker network create <run id>-other`.
    fn create(run: &Run) -> OtherNetwork {
        let name = format!("{}-other", run.id);
        docker::docker(&["network", "create", "--label", "moat-e2e=1", &name]);
        OtherNetwork {
            name,
            containers: vec![],
        }
    }

    /// A `moat-echo` container `<run id>-<name>` answering with `name`, on
    /// this network only, with `labels`; returns its full name.
    fn app(&mut self, s: &Stack, name: &str, labels: &[(&str, &str)]) -> String {
        let full = format!("{}-{name}", s.run.id);
        self.containers.push(full.clone());
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--name",
            &full,
            "--label",
            "moat-e2e=1",
            "--network",
            &self.name,
            "-e",
            &format!("ECHO_NAME={name}"),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        for (k, v) in labels {
            args.extend(["--label".to_owned(), format!("{k}={v}")]);
        }
        args.push(s.echo_image.clone());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker::docker(&refs);
        s.run.wait_running(&full);
        full
    }
}

impl Drop for OtherNetwork {
    fn drop(&mut self) {
        for c in &self.containers {
            if std::thread::panicking() {
                let out = docker::docker_try(&["logs", c]);
                eprintln!(
                    "----- docker logs {c} -----\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let _ = docker::docker_try(&["rm", "-f", "-v", c]);
        }
        let _ = docker::docker_try(&["network", "rm", &self.name]);
    }
}

/// The `{{.NetworkSettings.Networks}}` names of a container, sorted.
fn networks_of(container: &str) -> Vec<String> {
    let out = docker::docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        container,
    ]);
    let mut nets: Vec<String> = out.split_whitespace().map(str::to_owned).collect();
    nets.sort();
    nets
}

#[test]
fn a_container_on_a_network_moat_is_not_on_is_skipped() {
    let test = "a_container_on_a_network_moat_is_not_on_is_skipped";
    let Some(s) = Stack::start(test, Engine::DefaultSocket) else {
        return;
    };
    // Dropped before `s`: its container leaves the run's network first.
    let mut other = OtherNetwork::create(&s.run);
    let stray_host = s.host("stray");
    let stray = other.app(
        &s,
        "stray",
        &[("swag", "enable"), ("swag_url", &stray_host)],
    );
    assert_eq!(networks_of(&stray), vec![other.name.clone()]);
    assert!(
        !networks_of(&s.moat).contains(&other.name),
        "moat must not be on {}",
        other.name
    );

    // Skipped, with one info line naming it and both sides' networks.
    let line = s.wait_line(&["docker discovery: skipped", &stray]);
    eprintln!("{line}");
    assert!(line.contains("INFO"), "an info line: {line}");
    assert!(
        line.contains(&other.name) && line.contains(&s.run.network),
        "the line names the container's and moat's networks: {line}"
    );

    // A container on the run's network, started after: published by name
    // and routed. Its pass listed the stray container again.
    let near = s.app("near", &[("swag", "enable"), ("swag_url", &s.host("near"))]);
    s.wait_echo(&s.host("near"), "/", "near");
    let text = s.wait_generated(&near, "server_name");
    assert!(
        text.contains(&format!("set $upstream_app {near};")),
        "{text}"
    );
    let route = s.wait_route(&generated_rel(&near));
    assert_eq!(route["source"], "docker", "{route:#}");

    // Nothing for the stray one: no file, no route, its host not served,
    // and the skip said once although two passes looked at it.
    assert!(
        !s.generated(&stray).exists(),
        "{}",
        s.describe_file(&s.generated(&stray))
    );
    assert_eq!(
        auto_proxy_files(s.config()),
        vec![format!("auto-proxy-{near}.subdomain.conf")]
    );
    let status = s.status().expect("/api/status");
    assert!(
        !routes(&status)
            .iter()
            .any(|r| r["file"] == generated_rel(&stray)),
        "{status:#}"
    );
    let r = s.get(&stray_host, "/").unwrap();
    assert_ne!(echo_name(&r).as_deref(), Some("stray"), "{r:?}");
    let logs = s.logs();
    let skips = logs
        .lines()
        .filter(|l| l.contains("docker discovery: skipped") && l.contains(&stray))
        .count();
    assert_eq!(skips, 1, "the skip is said once:\n{logs}");
    assert!(
        !logs
            .lines()
            .any(|l| l.contains("docker discovery: skipped") && l.contains(&near)),
        "{logs}"
    );

    // Connected to moat's network: the `network connect` event alone has
    // it published by name, with no other container event.
    docker::docker(&["network", "connect", &s.run.network, &stray]);
    let mut want = vec![other.name.clone(), s.run.network.clone()];
    want.sort();
    assert_eq!(networks_of(&stray), want);
    let text = s.wait_generated(&stray, &format!("server_name {stray_host};"));
    assert!(
        text.contains(&format!("set $upstream_app {stray};")),
        "published by name:\n{text}"
    );
    s.wait_echo(&stray_host, "/", "stray");
    drop(other);
}
