//! AUTO_PROXY_CERTS end to end, in real containers: the names the confs
//! generated from container labels serve join moat's certificate by a new
//! order from pebble (HTTP-01 over the run's Docker network) for the same
//! lineage, `/config/etc/letsencrypt/live/<URL>/`, while the certificate in
//! service keeps answering every handshake; names outside URL never join.
//!
//! Its own test binary: moat sees every container of the Docker engine, and
//! containers on networks moat is not on are skipped, so each test's moat
//! only ever publishes the containers of its own run.
//!
//! pebble resolves the names it validates through Docker's DNS, so the moat
//! container carries a network alias for each one, including the names that
//! are only published later.

#[path = "support/docker.rs"]
mod docker;
#[path = "support/env.rs"]
mod env;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docker::{wait_for, Container, Response, Run};

const DOMAIN: &str = "example.test";
/// The host's Docker socket, mounted read-only into moat.
const SOCKET: &str = "/var/run/docker.sock";
/// Every name pebble may validate: moat's network aliases.
const ALIASES: &[&str] = &[
    "example.test",
    "app.example.test",
    "films.example.test",
    "b.example.test",
];
/// How long a published name may take to reach the certificate.
const JOIN_WAIT: Duration = Duration::from_secs(90);
/// How long a label change may take to reach the routes.
const WAIT: Duration = Duration::from_secs(30);

const ORDERING: &str = "ordering a certificate";
const INSTALLED: &str = "new certificate installed";
const NAMES_CHANGED: &str = "published names changed; checking the certificate (AUTO_PROXY_CERTS)";
const LEFT_OUT: &str = "names published from container labels are left out of the certificate";

/// pebble and moat (URL=example.test, SUBDOMAINS=app, AUTO_PROXY_CERTS=true)
/// with the first certificate issued and served.
struct Stack {
    run: Run,
    config: PathBuf,
    moat: String,
    pebble: String,
    echo_image: String,
    https: SocketAddr,
    /// Trusts only pebble's issuing root; never resumes a session.
    tls: Arc<rustls::ClientConfig>,
    /// The leaf moat served for `app.example.test` once the first
    /// certificate was in place.
    first_leaf: Vec<u8>,
}

impl Stack {
    fn start(test: &str) -> Option<Stack> {
        let run = Run::new(test)?;
        let images = run.pebble_images(test)?;
        let moat_image = run.moat_image();
        let echo_image = run.echo_image();

        let config = run.temp_dir();
        let ca_dir = images.listener_ca_dir(&run);

        let pebble = images.start_pebble(&run, &[]);

        let mut spec = Container::new("moat", &moat_image)
            .volume(&config, "/config")
            .volume(&ca_dir, "/ca:ro")
            .volume(Path::new(SOCKET), "/var/run/docker.sock:ro")
            .env("URL", DOMAIN)
            .env("SUBDOMAINS", "app")
            .env("VALIDATION", "http")
            .env("EMAIL", "e2e@example.test")
            .env("ACME_SERVER", "https://pebble:14000/dir")
            .env("ACME_CA_ROOT", "/ca/pebble-listener-ca.pem")
            .env("AUTO_PROXY_CERTS", "true")
            .env("AUTO_PROXY_CERTS_INTERVAL", "1s")
            .env("LOG_FORMAT", "text")
            .publish(443);
        for alias in ALIASES {
            spec = spec.alias(alias);
        }
        let moat = run.start(&spec);
        run.wait_running(&moat);
        let https = run.port(&moat, 443);

        let fullchain = lineage_dir(&config).join("fullchain.pem");
        wait_for(
            Duration::from_secs(60),
            "pebble to issue moat's first certificate",
            || fullchain.is_file().then_some(()),
            || format!("moat:\n{}\npebble:\n{}", run.logs(&moat), run.logs(&pebble)),
        );
        let root_pem = images.root(&run, &pebble);
        let tls = full_handshakes(&root_pem);
        let app = format!("app.{DOMAIN}");
        let first_leaf = wait_for(
            WAIT,
            "moat to serve the first certificate for app.example.test",
            || {
                let (_, chain) = docker::https_get(https, &app, "/", &tls).ok()?;
                let leaf = chain.into_iter().next()?;
                docker::cert_names(&leaf).contains(&app).then_some(leaf)
            },
            || run.logs(&moat),
        );
        let stack = Stack {
            run,
            config,
            moat,
            pebble,
            echo_image,
            https,
            tls,
            first_leaf,
        };
        let line = stack.wait_line(&[&format!(
            "AUTO_PROXY_CERTS: names published from container labels under {DOMAIN} join the certificate"
        )]);
        assert!(line.contains("INFO"), "an info line: {line}");
        // The first order, for the configured names only.
        let orders = stack.lines(&[ORDERING]);
        assert_eq!(orders.len(), 1, "{}", stack.logs());
        assert!(orders[0].contains("no certificate yet"), "{}", orders[0]);
        Some(stack)
    }

    fn logs(&self) -> String {
        self.run.logs(&self.moat)
    }

    /// Every line of moat's logs containing all of `needles`.
    fn lines(&self, needles: &[&str]) -> Vec<String> {
        self.logs()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_owned)
            .collect()
    }

    /// Waits until one line of moat's logs contains every one of `needles`.
    fn wait_line(&self, needles: &[&str]) -> String {
        wait_for(
            WAIT,
            &format!("a line of moat's logs with {needles:?}"),
            || self.lines(needles).into_iter().next(),
            || self.logs(),
        )
    }

    /// A `moat-echo` container answering with `name`, on the run's network,
    /// with Docker `labels`; returns its full name.
    fn app(&self, name: &str, labels: &[(&str, &str)]) -> String {
        let mut spec = Container::new(name, &self.echo_image).env("ECHO_NAME", name);
        for (k, v) in labels {
            spec = spec.args(&["--label", &format!("{k}={v}")]);
        }
        let full = self.run.start(&spec);
        self.run.wait_running(&full);
        full
    }

    /// The conf discovery generates for container `container`.
    fn generated(&self, container: &str) -> PathBuf {
        self.config.join(format!(
            "nginx/proxy-confs/auto-proxy-{container}.subdomain.conf"
        ))
    }

    /// Waits until the handshake for `sni` presents, verified against
    /// pebble's root, a leaf naming `sni`; returns that leaf.
    fn wait_leaf_for(&self, sni: &str) -> Vec<u8> {
        let last = Mutex::new(String::new());
        wait_for(
            JOIN_WAIT,
            &format!("a certificate naming {sni} served for it"),
            || match docker::https_get(self.https, sni, "/", &self.tls) {
                Ok((_, chain)) => {
                    let leaf = chain.into_iter().next()?;
                    let names = docker::cert_names(&leaf);
                    if names.iter().any(|n| n == sni) {
                        Some(leaf)
                    } else {
                        *last.lock().unwrap() = format!("served {names:?}");
                        None
                    }
                }
                Err(e) => {
                    *last.lock().unwrap() = e.to_string();
                    None
                }
            },
            || {
                format!(
                    "last attempt: {}\nmoat logs:\n{}\npebble logs:\n{}",
                    last.lock().unwrap(),
                    self.logs(),
                    self.run.logs(&self.pebble)
                )
            },
        )
    }

    /// Waits until `https://host/` is answered by the echo backend `name`.
    fn wait_echo(&self, host: &str, name: &str) -> serde_json::Value {
        docker::wait_answer(
            WAIT,
            &format!("https://{host}/ answered by backend {name}"),
            || docker::https_get(self.https, host, "/", &self.tls).map(|(r, _)| r),
            |r| r.status == 200 && echo_name(r).as_deref() == Some(name),
            || format!("moat logs:\n{}", self.logs()),
        )
        .json()
    }

    /// The names of the leaf in the lineage's `fullchain.pem` on disk.
    fn stored_names(&self) -> Vec<String> {
        let pem = std::fs::read(lineage_dir(&self.config).join("fullchain.pem")).unwrap();
        let leaf: rustls_pki_types::CertificateDer<'static> =
            rustls_pki_types::pem::PemObject::pem_slice_iter(&pem)
                .next()
                .expect("fullchain.pem holds a certificate")
                .expect("fullchain.pem parses");
        docker::cert_names(leaf.as_ref())
    }

    /// The directories in `etc/letsencrypt/live`.
    fn lineages(&self) -> Vec<String> {
        let mut dirs: Vec<String> = std::fs::read_dir(self.config.join("etc/letsencrypt/live"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        dirs
    }
}

/// `/config/etc/letsencrypt/live/<URL>`.
fn lineage_dir(config: &Path) -> PathBuf {
    config.join(format!("etc/letsencrypt/live/{DOMAIN}"))
}

/// A client trusting only `root_pem` that never resumes a TLS session:
/// a resumed TLS 1.3 session carries no Certificate message, so the
/// certificate rustls reports would be the one of the first handshake, and
/// the handshake would not show which certificate moat serves now.
fn full_handshakes(root_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::clone(&docker::tls_config(root_pem));
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// The `name` of a moat-echo answer; `None` for anything else.
fn echo_name(r: &Response) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    json["name"].as_str().map(str::to_owned)
}

fn has(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n == name)
}

/// What the handshake thread saw.
#[derive(Default)]
struct Probe {
    /// Handshakes that completed and verified.
    handshakes: AtomicUsize,
    /// Of those, the ones that presented the first certificate.
    old_leaf: AtomicUsize,
    /// Of those, the ones that presented another certificate.
    new_leaf: AtomicUsize,
    /// Every handshake that failed, with its error.
    handshake_failures: Mutex<Vec<String>>,
    /// Requests that failed after a good handshake, with their error.
    request_failures: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// Opens TLS connections to `addr` for `sni`, one after the other, until
/// told to stop, each verified against `tls`'s roots and followed by one
/// HTTPS GET (any status).
fn probe(
    addr: SocketAddr,
    sni: String,
    tls: Arc<rustls::ClientConfig>,
    first_leaf: Vec<u8>,
    seen: Arc<Probe>,
) {
    use std::io::{Read, Write};
    while !seen.stop.load(Ordering::SeqCst) {
        let mut stream = match docker::tls_connect(addr, &sni, &tls) {
            Ok(s) => s,
            Err(e) => {
                seen.handshake_failures
                    .lock()
                    .unwrap()
                    .push(format!("{:?}: {e}", std::time::SystemTime::now()));
                continue;
            }
        };
        seen.handshakes.fetch_add(1, Ordering::SeqCst);
        let leaf = stream
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
            .unwrap_or_default();
        if leaf == first_leaf {
            seen.old_leaf.fetch_add(1, Ordering::SeqCst);
        } else {
            seen.new_leaf.fetch_add(1, Ordering::SeqCst);
        }
        let request = format!("GET /probe HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n");
        let mut raw = vec![];
        let result = stream
            .write_all(request.as_bytes())
            .and_then(|_| match stream.read_to_end(&mut raw) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {
                    Ok(())
                }
                Err(e) => Err(e),
            })
            .and_then(|_| docker::parse_response(&raw).map(|_| ()));
        if let Err(e) = result {
            seen.request_failures
                .lock()
                .unwrap()
                .push(format!("{:?}: {e}", std::time::SystemTime::now()));
        }
        // Pacing, not waiting for anything: a steady stream of handshakes.
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_published_name_joins_the_certificate_without_a_failed_handshake() {
    let test = "a_published_name_joins_the_certificate_without_a_failed_handshake";
    let Some(s) = Stack::start(test) else {
        return;
    };
    let app = format!("app.{DOMAIN}");
    let films = format!("films.{DOMAIN}");

    // Before: the configured names only, and nothing else ordered yet.
    let before = docker::cert_names(&s.first_leaf);
    assert!(has(&before, DOMAIN) && has(&before, &app), "{before:?}");
    assert!(
        !has(&before, &films),
        "films is not in the first certificate: {before:?}"
    );
    assert!(s.lines(&[NAMES_CHANGED]).is_empty(), "{}", s.logs());

    // Handshakes for app.example.test all along.
    let seen = Arc::new(Probe::default());
    let prober = {
        let (addr, sni, tls, leaf, seen) = (
            s.https,
            app.clone(),
            s.tls.clone(),
            s.first_leaf.clone(),
            seen.clone(),
        );
        std::thread::spawn(move || probe(addr, sni, tls, leaf, seen))
    };
    // Some handshakes with the first certificate before anything changes.
    wait_for(
        WAIT,
        "the probe to complete a dozen handshakes",
        || (seen.old_leaf.load(Ordering::SeqCst) >= 12).then_some(()),
        || format!("failures: {:?}", seen.handshake_failures.lock().unwrap()),
    );

    // A container whose labels publish films.example.test (no preset: the template).
    let container = s.app(
        "films",
        &[
            ("swag", "enable"),
            ("swag_url", &films),
            ("swag_port", "80"),
        ],
    );
    let conf = wait_for(
        WAIT,
        "the generated conf for films",
        || std::fs::read_to_string(s.generated(&container)).ok(),
        || s.logs(),
    );
    assert!(conf.contains(&format!("server_name {films};")), "{conf}");

    // films joins the certificate, and its route answers over it.
    let leaf = s.wait_leaf_for(&films);
    let answer = s.wait_echo(&films, "films");
    assert_eq!(answer["name"], "films");
    // The new certificate serves app.example.test too, for a while.
    let new_before = seen.new_leaf.load(Ordering::SeqCst);
    wait_for(
        WAIT,
        "the probe to complete three dozen handshakes with the new certificate",
        || (seen.new_leaf.load(Ordering::SeqCst) >= new_before + 36).then_some(()),
        || {
            format!(
                "handshakes {} (old {}, new {}), failures: {:?}",
                seen.handshakes.load(Ordering::SeqCst),
                seen.old_leaf.load(Ordering::SeqCst),
                seen.new_leaf.load(Ordering::SeqCst),
                seen.handshake_failures.lock().unwrap()
            )
        },
    );
    seen.stop.store(true, Ordering::SeqCst);
    prober.join().expect("the probe thread");

    // Not one handshake failed across the swap.
    let handshake_failures = seen.handshake_failures.lock().unwrap().clone();
    let request_failures = seen.request_failures.lock().unwrap().clone();
    let (total, old, new) = (
        seen.handshakes.load(Ordering::SeqCst),
        seen.old_leaf.load(Ordering::SeqCst),
        seen.new_leaf.load(Ordering::SeqCst),
    );
    eprintln!(
        "probe: {total} handshakes ({old} with the first certificate, {new} with the new one)"
    );
    assert!(
        handshake_failures.is_empty(),
        "{} failed handshakes for {app} (of {}):\n{}\nmoat logs:\n{}",
        handshake_failures.len(),
        total + handshake_failures.len(),
        handshake_failures.join("\n"),
        s.logs()
    );
    assert!(
        request_failures.is_empty(),
        "{} requests failed after a good handshake:\n{}",
        request_failures.len(),
        request_failures.join("\n")
    );
    assert!(total >= 48 && old >= 12 && new >= 36, "{total} {old} {new}");

    // The same lineage grew: the new leaf keeps the configured names.
    let after = docker::cert_names(&leaf);
    for name in [DOMAIN, app.as_str(), films.as_str()] {
        assert!(has(&after, name), "{name} missing from {after:?}");
    }
    assert_ne!(leaf, s.first_leaf);
    let stored = s.stored_names();
    assert!(has(&stored, &films) && has(&stored, &app), "{stored:?}");
    assert_eq!(s.lineages(), vec![DOMAIN.to_owned()]);

    // Logged: the change, one order for it with its reason, the install.
    let logs = s.logs();
    let changed = s.lines(&[NAMES_CHANGED]);
    assert_eq!(changed.len(), 1, "{logs}");
    assert!(changed[0].contains(&films), "{}", changed[0]);
    let orders = s.lines(&[ORDERING]);
    assert_eq!(
        orders.len(),
        2,
        "exactly one order after the first:\n{logs}"
    );
    assert!(
        orders[1].contains("reason=\"the domain list changed\"") && orders[1].contains(&films),
        "{}",
        orders[1]
    );
    let installed = s.lines(&[INSTALLED]);
    assert_eq!(installed.len(), 2, "{logs}");
    assert!(installed[1].contains(&films), "{}", installed[1]);
    assert!(!installed[0].contains(&films), "{}", installed[0]);
    assert!(s.lines(&[LEFT_OUT]).is_empty(), "{logs}");
    assert!(s.lines(&["certificate order failed"]).is_empty(), "{logs}");
}

#[test]
fn a_name_outside_url_is_not_added() {
    let test = "a_name_outside_url_is_not_added";
    let Some(s) = Stack::start(test) else {
        return;
    };
    let outside = "films.elsewhere.test";
    let b = format!("b.{DOMAIN}");

    // Published under a name outside URL: the conf appears and is loaded.
    let elsewhere = s.app(
        "elsewhere",
        &[
            ("swag", "enable"),
            ("swag_url", outside),
            ("swag_port", "80"),
        ],
    );
    let conf = wait_for(
        WAIT,
        "the generated conf for films.elsewhere.test",
        || std::fs::read_to_string(s.generated(&elsewhere)).ok(),
        || s.logs(),
    );
    assert!(conf.contains(&format!("server_name {outside};")), "{conf}");
    let published = s.wait_line(&["docker discovery: published", &elsewhere]);
    let after_publish = s.logs().find(&published).unwrap() + published.len();
    s.run
        .wait_log_after(&s.moat, after_publish, "configuration reloaded", WAIT);

    // Then a name under URL: it joins, and the outside one does not.
    let container = s.app(
        "b",
        &[("swag", "enable"), ("swag_url", &b), ("swag_port", "80")],
    );
    let leaf = s.wait_leaf_for(&b);
    s.wait_echo(&b, "b");
    let names = docker::cert_names(&leaf);
    assert!(has(&names, &b) && has(&names, DOMAIN), "{names:?}");
    assert!(!has(&names, outside), "{outside} joined: {names:?}");
    let stored = s.stored_names();
    assert!(!has(&stored, outside) && has(&stored, &b), "{stored:?}");
    assert!(s.generated(&container).is_file());

    // One change (b's), one order for it, nothing tried for the other name.
    let logs = s.logs();
    let changed = s.lines(&[NAMES_CHANGED]);
    assert_eq!(changed.len(), 1, "{logs}");
    assert!(
        changed[0].contains(&b) && !changed[0].contains(outside),
        "{}",
        changed[0]
    );
    let orders = s.lines(&[ORDERING]);
    assert_eq!(orders.len(), 2, "{logs}");
    assert!(
        orders[1].contains("reason=\"the domain list changed\"")
            && orders[1].contains(&b)
            && !orders[1].contains(outside),
        "{}",
        orders[1]
    );
    assert!(!logs.contains(LEFT_OUT), "{logs}");
    assert!(s.lines(&["certificate order failed"]).is_empty(), "{logs}");
    assert_eq!(s.lineages(), vec![DOMAIN.to_owned()]);
}
