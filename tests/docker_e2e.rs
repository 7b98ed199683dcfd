//! The whole product in real containers (issue 7, "End-to-end tests"):
//! pebble issues the certificate over HTTP-01 on a Docker network, moat
//! routes HTTPS by SWAG-format proxy-confs to backend containers found by
//! name through Docker's embedded DNS, picks up dropped-in confs, survives
//! `docker restart` without a new order, and adopts a /config volume that
//! SWAG left behind.
//!
//! Every image is built here from scratch (nothing is pulled); every port is
//! published on 127.0.0.1 only; everything is removed at the end.

#[path = "support/certbot_layout.rs"]
mod certbot_layout;
#[path = "support/challtestsrv.rs"]
mod challtestsrv;
#[path = "support/conf.rs"]
mod conf_support;
#[path = "support/docker.rs"]
mod docker;
#[path = "support/env.rs"]
mod env;
#[path = "support/fake_alidns.rs"]
mod fake_alidns;
#[path = "support/fake_http.rs"]
mod fake_http;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use docker::{Container, Run};

const DOMAIN: &str = "example.test";

/// A SWAG-format subdomain proxy-conf (the shape of SWAG's template) for
/// `label.*` proxied to `upstream:port` over plain HTTP.
fn subdomain_conf(label: &str, upstream: &str, port: u16) -> String {
    format!(
        "## written by moat's Docker test, in SWAG's proxy-conf format\n\
         server {{\n\
         \x20   listen 443 ssl;\n\
         \x20   listen [::]:443 ssl;\n\
         \x20   server_name {label}.*;\n\
         \x20   include /config/nginx/ssl.conf;\n\
         \x20   client_max_body_size 0;\n\
         \x20   location / {{\n\
         \x20       include /config/nginx/proxy.conf;\n\
         \x20       include /config/nginx/resolver.conf;\n\
         \x20       set $upstream_app {upstream};\n\
         \x20       set $upstream_port {port};\n\
         \x20       set $upstream_proto http;\n\
         \x20       proxy_pass $upstream_proto://$upstream_app:$upstream_port;\n\
         \x20   }}\n\
         }}\n"
    )
}

/// pebble, backends and moat on one network, with moat's certificate issued.
struct Stack {
    run: Run,
    config: PathBuf,
    moat: String,
    pebble: String,
    echo_image: String,
    https: SocketAddr,
    /// Trusts only pebble's current issuing root.
    tls: Arc<rustls::ClientConfig>,
}

impl Stack {
    /// Starts everything with `SUBDOMAINS=subdomains` and a backend
    /// container per name in `backends`, each routed by `<name>.subdomain.conf`.
    fn start(test: &str, subdomains: &str, backends: &[&str]) -> Option<Stack> {
        let run = Run::new(test)?;
        let images = run.pebble_images(test)?;
        let moat_image = run.moat_image();
        let echo_image = run.echo_image();

        let config = run.temp_dir();
        let ca_dir = images.listener_ca_dir(&run);
        let confs = config.join("nginx/proxy-confs");
        std::fs::create_dir_all(&confs).unwrap();
        for name in backends {
            let backend = run.start(&Container::new(name, &echo_image).env("ECHO_NAME", name));
            std::fs::write(
                confs.join(format!("{name}.subdomain.conf")),
                subdomain_conf(name, &backend, 80),
            )
            .unwrap();
        }

        let pebble = images.start_pebble(&run, &[]);

        let mut spec = Container::new("moat", &moat_image)
            .alias(DOMAIN)
            .volume(&config, "/config")
            .volume(&ca_dir, "/ca:ro")
            .env("URL", DOMAIN)
            .env("SUBDOMAINS", subdomains)
            .env("VALIDATION", "http")
            .env("EMAIL", "e2e@example.test")
            .env("ACME_SERVER", "https://pebble:14000/dir")
            .env("ACME_CA_ROOT", "/ca/pebble-listener-ca.pem")
            .env("LOG_FORMAT", "text")
            .publish(443)
            .publish(80)
            // HEALTHCHECK's own command, polled faster than the image's 30 s.
            .args(&["--health-interval", "1s", "--health-start-period", "60s"]);
        for label in subdomains.split(',').filter(|s| !s.is_empty()) {
            spec = spec.alias(&format!("{label}.{DOMAIN}"));
        }
        let moat = run.start(&spec);
        run.wait_running(&moat);
        let https = run.port(&moat, 443);

        // The certificate lands in SWAG's layout, then moat serves it.
        let fullchain = config.join(format!("etc/letsencrypt/live/{DOMAIN}/fullchain.pem"));
        docker::wait_for(
            Duration::from_secs(60),
            "pebble to issue moat's certificate",
            || fullchain.is_file().then_some(()),
            || format!("moat:\n{}\npebble:\n{}", run.logs(&moat), run.logs(&pebble)),
        );
        let root_pem = images.root(&run, &pebble);
        let tls = docker::tls_config(&root_pem);
        let stack = Stack {
            run,
            config,
            moat,
            pebble,
            echo_image,
            https,
            tls,
        };
        let first = backends.first().copied().unwrap_or("app");
        stack.wait_answer(first, Duration::from_secs(30));
        Some(stack)
    }

    fn host(label: &str) -> String {
        format!("{label}.{DOMAIN}")
    }

    /// `GET /` on `https://<label>.example.test` through moat's published port.
    fn get(&self, label: &str, path: &str) -> std::io::Result<(docker::Response, Vec<Vec<u8>>)> {
        docker::https_get(self.https, &Self::host(label), path, &self.tls)
    }

    /// Waits until `label` answers 200 from the backend named `label`.
    fn wait_answer(&self, label: &str, timeout: Duration) -> docker::Response {
        docker::wait_answer(
            timeout,
            &format!("a 200 from backend {label} through moat"),
            || self.get(label, "/probe").map(|(r, _)| r),
            // Until the conf is loaded the catch-all answers, 200 with
            // its welcome page (SWAG's try_files), which is not JSON.
            |r| {
                r.status == 200
                    && serde_json::from_str::<serde_json::Value>(&r.body)
                        .is_ok_and(|j| j["name"] == label)
            },
            || format!("moat logs:\n{}", self.run.logs(&self.moat)),
        )
    }
}

/// Header `name` as moat-echo saw it.
fn echoed_header(answer: &serde_json::Value, name: &str) -> Option<String> {
    answer["headers"].as_array()?.iter().find_map(|h| {
        (h[0].as_str()?.eq_ignore_ascii_case(name)).then(|| h[1].as_str().unwrap_or("").to_string())
    })
}

#[test]
fn issues_over_http01_and_routes_https_and_websockets_to_backends() {
    let test = "issues_over_http01_and_routes_https_and_websockets_to_backends";
    let Some(stack) = Stack::start(test, "app,chat", &["app", "chat"]) else {
        return;
    };
    let run = &stack.run;

    // The certificate chains to pebble's root (the handshake verified it) and covers every name.
    let (resp, chain) = stack.get("app", "/hello?x=1").expect("HTTPS to app");
    assert_eq!(resp.status, 200);
    let names = docker::cert_names(&chain[0]);
    for name in [DOMAIN, "app.example.test", "chat.example.test"] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    let answer = resp.json();
    assert_eq!(answer["name"], "app");
    assert_eq!(answer["method"], "GET");
    assert_eq!(answer["target"], "/hello?x=1");
    assert_eq!(
        echoed_header(&answer, "host").as_deref(),
        Some("app.example.test")
    );
    assert_eq!(
        echoed_header(&answer, "x-forwarded-proto").as_deref(),
        Some("https")
    );
    // The backend is reached from moat's address on the network ...
    let moat_ip = run.ip(&stack.moat);
    let peer: SocketAddr = answer["peer"].as_str().unwrap().parse().unwrap();
    assert_eq!(peer.ip().to_string(), moat_ip);
    // ... and X-Forwarded-For carries the client as moat saw it: Docker's
    // port publishing delivers host connections from the network's gateway
    // (userland proxy) or from 127.0.0.1 (NAT); never moat's own address.
    let gateway = docker::docker(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        &run.network,
    ]);
    let xff = echoed_header(&answer, "x-forwarded-for").expect("X-Forwarded-For set");
    assert!(
        xff == gateway || xff == "127.0.0.1",
        "X-Forwarded-For {xff:?}: expected the client address ({gateway} or 127.0.0.1)"
    );
    assert_eq!(
        echoed_header(&answer, "x-real-ip").as_deref(),
        Some(xff.as_str())
    );

    // chat routes to the other backend, and a WebSocket round-trips through it.
    let chat = stack.wait_answer("chat", Duration::from_secs(10));
    assert_eq!(chat.json()["name"], "chat");
    let echoed = docker::websocket_echo(
        stack.https,
        "chat.example.test",
        "/ws",
        &stack.tls,
        "hello moat",
    )
    .expect("WebSocket through moat");
    assert_eq!(echoed, "hello moat");

    // Port 80 redirects to HTTPS, as SWAG's default server does.
    let http = run.port(&stack.moat, 80);
    let redirect = docker::http_get(http, "app.example.test", "/x").expect("HTTP on :80");
    assert_eq!(redirect.status, 301, "{redirect:?}");
    assert_eq!(
        redirect.header("location"),
        Some("https://app.example.test/x")
    );

    // Docker's HEALTHCHECK (`moat health`) reports healthy.
    docker::wait_for(
        Duration::from_secs(30),
        "HEALTHCHECK to report healthy",
        || {
            let s = docker::docker(&["inspect", "-f", "{{.State.Health.Status}}", &stack.moat]);
            (s == "healthy").then_some(())
        },
        || docker::docker(&["inspect", "-f", "{{json .State.Health}}", &stack.moat]),
    );
}

#[test]
fn recreated_backend_with_a_new_address_is_found_again_without_restart() {
    let test = "recreated_backend_with_a_new_address_is_found_again_without_restart";
    let Some(stack) = Stack::start(test, "app", &["app"]) else {
        return;
    };
    let run = &stack.run;
    let backend = format!("{}-app", run.id);
    let old_ip = run.ip(&backend);
    let first = stack.wait_answer("app", Duration::from_secs(10)).json();
    assert_eq!(first["local_addr"], format!("{old_ip}:80"));

    run.remove(&backend);
    // Something else takes an address first, so the new backend cannot get the old one back.
    run.start(&Container::new("filler", &stack.echo_image));
    let recreated = run.start(&Container::new("app", &stack.echo_image).env("ECHO_NAME", "app"));
    assert_eq!(recreated, backend);
    let new_ip = run.ip(&backend);
    assert_ne!(
        new_ip, old_ip,
        "the recreated backend must have a new address"
    );

    // resolver.conf says valid=30s: within that window (plus slack) moat finds the new address.
    let started = std::time::Instant::now();
    let answer = docker::wait_for(
        Duration::from_secs(45),
        "moat to reach the recreated backend",
        || match stack.get("app", "/again") {
            Ok((r, _)) if r.status == 200 && r.json()["local_addr"] == format!("{new_ip}:80") => {
                Some(r.json())
            }
            _ => None,
        },
        || run.logs(&stack.moat),
    );
    eprintln!("recreated backend reached after {:?}", started.elapsed());
    assert_eq!(answer["name"], "app");
    let restarts = docker::docker(&["inspect", "-f", "{{.RestartCount}}", &stack.moat]);
    assert_eq!(restarts, "0", "moat was not restarted");
    assert!(run.logs(&stack.moat).matches("supervisor running").count() == 1);
}

#[test]
fn dropped_in_conf_is_served_and_a_broken_one_keeps_old_routes() {
    let test = "dropped_in_conf_is_served_and_a_broken_one_keeps_old_routes";
    let Some(stack) = Stack::start(test, "app,cloud", &["app"]) else {
        return;
    };
    let run = &stack.run;
    let cloud = run.start(&Container::new("cloud", &stack.echo_image).env("ECHO_NAME", "cloud"));
    let confs = stack.config.join("nginx/proxy-confs");

    // A new conf copied into the mounted volume: served without a restart.
    std::fs::write(
        confs.join("cloud.subdomain.conf"),
        subdomain_conf("cloud", &cloud, 80),
    )
    .unwrap();
    stack.wait_answer("cloud", Duration::from_secs(20));

    // A broken conf: reported with file:line, and the routes in service stay.
    let before = run.logs(&stack.moat).len();
    std::fs::write(
        confs.join("broken.subdomain.conf"),
        "server {\n    listen 443 ssl;\n    server_name broken.*;\n    location / {\n        proxy_pass http://x:80\n    }\n",
    )
    .unwrap();
    let logs = run.wait_log_after(
        &stack.moat,
        before,
        "keeping the previous configuration",
        Duration::from_secs(20),
    );
    let tail = &logs[before..];
    let located = regex::Regex::new(r"broken\.subdomain\.conf:\d+").unwrap();
    assert!(located.is_match(tail), "the error names file:line:\n{tail}");
    for label in ["app", "cloud"] {
        let (r, _) = stack.get(label, "/still").expect("still served");
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["name"], label);
    }
    assert_eq!(run.state(&stack.moat).0, "running");
}

#[test]
fn docker_restart_reuses_the_stored_account_and_certificate() {
    let test = "docker_restart_reuses_the_stored_account_and_certificate";
    let Some(stack) = Stack::start(test, "app", &["app"]) else {
        return;
    };
    let run = &stack.run;
    let (_, chain_before) = stack.get("app", "/").expect("served before restart");
    let orders_before = run.logs(&stack.moat).matches("ACME order created").count();
    assert_eq!(orders_before, 1, "{}", run.logs(&stack.moat));
    let pebble_orders = || run.logs(&stack.pebble).matches("POST /order-plz").count();
    let pebble_before = pebble_orders();

    let before = run.logs(&stack.moat).len();
    docker::docker(&["restart", "-t", "10", &stack.moat]);
    run.wait_running(&stack.moat);
    let logs = run.wait_log_after(
        &stack.moat,
        before,
        "no order needed",
        Duration::from_secs(30),
    );
    let after = &logs[before..];
    assert!(!after.contains("ACME order created"), "{after}");
    assert!(!after.contains("ACME account created"), "{after}");
    // The published port may change across a restart.
    let https = run.port(&stack.moat, 443);
    let (resp, chain_after) = docker::wait_for(
        Duration::from_secs(20),
        "moat to serve again after the restart",
        || docker::https_get(https, "app.example.test", "/", &stack.tls).ok(),
        || run.logs(&stack.moat),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        chain_after[0], chain_before[0],
        "the same certificate is served"
    );
    assert_eq!(pebble_orders(), pebble_before, "pebble saw no new order");
}

#[test]
fn dns_conf_fixed_and_restarted_issues_the_wildcard() {
    // VALIDATION=dns DNSPLUGIN=aliyun in a container: a wrong key in
    // aliyun.ini fails preflight with a clear log line and no order; fixing
    // the file and `docker restart` issues *.example.test over DNS-01.
    // pebble and challtestsrv run as containers on the test's network; the
    // fake Alidns (the DNS providers issue's, with its own signature
    // verifier) runs in the test, listening on that network's gateway, and
    // publishes its TXT records into the challtestsrv container.
    let test = "dns_conf_fixed_and_restarted_issues_the_wildcard";
    let Some(run) = Run::new(test) else {
        return;
    };
    let Some(stage) = run.dns_stage(test) else {
        return;
    };
    let moat_image = run.moat_image();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(async {
        let srv = challtestsrv::ChallTestSrv::attach(stage.management, stage.management);
        fake_alidns::FakeAlidns::start_at(
            srv,
            fake_alidns::FakeAlidnsOptions::default(),
            stage.gateway,
        )
        .await
    });
    let config = run.temp_dir();
    fake.write_ini(&config, Some("not-the-secret"), None);
    let moat = run.start(&stage.moat(&moat_image, &config, DOMAIN, "aliyun"));
    let logs = run.wait_log(&moat, "certificate order failed", Duration::from_secs(60));
    let line = logs
        .lines()
        .find(|l| l.contains("certificate order failed"))
        .unwrap_or_default();
    for needle in ["aliyun.ini", "dns_aliyun_access_key_secret"] {
        assert!(line.contains(needle), "the log line names {needle}: {line}");
    }
    let logs = run.logs(&moat);
    assert!(
        !logs.contains("not-the-secret"),
        "the secret reached the log:\n{logs}"
    );
    assert!(
        fake.rejected().iter().any(|c| c == "SignatureDoesNotMatch"),
        "the fake refused the signature: {:?}",
        fake.rejected()
    );
    assert!(
        !fake.accepted().iter().any(|a| a == "AddDomainRecord"),
        "no record was created with the wrong key: {:?}",
        fake.accepted()
    );
    let live = config.join(format!("etc/letsencrypt/live/{DOMAIN}/fullchain.pem"));
    assert!(!live.exists(), "no certificate with the wrong key");

    // Fix the file, restart the container: the wildcard is issued.
    fake.write_ini(&config, None, None);
    docker::docker(&["restart", &moat]);
    run.wait_running(&moat);
    docker::wait_for(
        Duration::from_secs(90),
        "the wildcard certificate in live/",
        || live.is_file().then_some(()),
        || {
            format!(
                "moat:\n{}\npebble:\n{}",
                run.logs(&moat),
                run.logs(&stage.pebble)
            )
        },
    );
    assert!(
        fake.accepted().iter().any(|a| a == "AddDomainRecord"),
        "the fixed key created the TXT records: {:?}",
        fake.accepted()
    );
    stage.wait_for_wildcard(&run, &moat, DOMAIN);
    // The TXT records are gone once the order is done.
    docker::wait_for(
        Duration::from_secs(30),
        "the TXT records cleaned up",
        || fake.records().is_empty().then_some(()),
        || format!("{:?}", fake.records()),
    );
    drop(rt);
}

/// Path → content of every file under `dir` (symlinks read through).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    out
}

#[test]
fn swag_config_volume_is_adopted_as_is() {
    let test = "swag_config_volume_is_adopted_as_is";
    let Some(run) = Run::new(test) else {
        return;
    };
    let moat_image = run.moat_image();
    let echo_image = run.echo_image();

    // /config as SWAG leaves it: defaults, every sample, two activated confs,
    // certbot's live/ + archive/ with a valid certificate, keys/ links.
    let layout = conf_support::swag_layout();
    let config = layout.path().to_path_buf();
    let now = certbot_layout::now();
    let names = [DOMAIN, "radarr.example.test", "sonarr.example.test"];
    let (fullchain, key, ca) = certbot_layout::make_cert(&names, now - 86400, now + 60 * 86400);
    certbot_layout::write_lineage(&config, DOMAIN, &fullchain, &key, true);
    std::fs::create_dir_all(config.join("etc/letsencrypt/renewal")).unwrap();
    std::fs::write(
        config.join(format!("etc/letsencrypt/renewal/{DOMAIN}.conf")),
        format!(
            "version = 2.11.0\narchive_dir = /config/etc/letsencrypt/archive/{DOMAIN}\n\
             cert = /config/etc/letsencrypt/live/{DOMAIN}/cert.pem\n\
             privkey = /config/etc/letsencrypt/live/{DOMAIN}/privkey.pem\n\
             chain = /config/etc/letsencrypt/live/{DOMAIN}/chain.pem\n\
             fullchain = /config/etc/letsencrypt/live/{DOMAIN}/fullchain.pem\n\n\
             [renewalparams]\nauthenticator = standalone\nserver = https://acme-v02.api.letsencrypt.org/directory\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(config.join("keys")).unwrap();
    std::os::unix::fs::symlink(
        format!("../etc/letsencrypt/live/{DOMAIN}"),
        config.join("keys/letsencrypt"),
    )
    .unwrap();
    std::os::unix::fs::symlink("letsencrypt/fullchain.pem", config.join("keys/cert.crt")).unwrap();
    std::os::unix::fs::symlink("letsencrypt/privkey.pem", config.join("keys/cert.key")).unwrap();
    std::fs::write(
        config.join(".donoteditthisfile.conf"),
        format!(
            "ORIGURL=\"{DOMAIN}\" ORIGSUBDOMAINS=\"radarr,sonarr\" ORIGONLY_SUBDOMAINS=\"false\" \
             ORIGEXTRA_DOMAINS=\"\" ORIGVALIDATION=\"http\" ORIGDNSPLUGIN=\"\" ORIGPROPAGATION=\"\" \
             ORIGSTAGING=\"false\" ORIGCERTPROVIDER=\"\" ORIGEMAIL=\"\"\n"
        ),
    )
    .unwrap();
    // Two real samples from SWAG's corpus, activated as a user would; their
    // backends are echo containers under the names the samples expect.
    let mut backends = vec![];
    for (sample, app, port) in [
        ("radarr.subdomain", "radarr", 7878),
        ("sonarr.subdomain", "sonarr", 8989),
    ] {
        conf_support::activate(&config, sample);
        let text = std::fs::read_to_string(config.join(format!("nginx/proxy-confs/{sample}.conf")))
            .unwrap();
        assert!(
            text.contains(&format!("set $upstream_app {app};"))
                && text.contains(&format!("set $upstream_port {port};")),
            "corpus sample {sample} changed: update this test"
        );
        run.start(
            &Container::new(app, &echo_image)
                .alias(app)
                .env("ECHO_NAME", app)
                .cmd(&["--listen", &format!("0.0.0.0:{port}")]),
        );
        backends.push(app);
    }
    let before = snapshot(&config);

    let moat = run.start(
        &Container::new("moat", &moat_image)
            .volume(&config, "/config")
            .env("URL", DOMAIN)
            .env("SUBDOMAINS", "radarr,sonarr")
            .env("VALIDATION", "http")
            // Nothing to reach: the existing certificate must be enough.
            .env("ACME_SERVER", "https://acme.invalid/dir")
            .env("LOG_FORMAT", "text")
            .publish(443),
    );
    run.wait_running(&moat);
    let https = run.port(&moat, 443);
    let tls = docker::tls_config(&ca);
    for app in &backends {
        let host = format!("{app}.{DOMAIN}");
        let (resp, chain) = docker::wait_for(
            Duration::from_secs(30),
            &format!("{host} served through the SWAG volume"),
            || match docker::https_get(https, &host, "/", &tls) {
                Ok((r, c)) if r.status == 200 => Some((r, c)),
                _ => None,
            },
            || run.logs(&moat),
        );
        assert_eq!(resp.json()["name"], *app);
        // The existing certificate is the one served.
        let leaf_pem = fullchain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap();
        let leaf_der = rustls_pki_types::pem::PemObject::from_pem_slice(leaf_pem.as_bytes())
            .map(|c: rustls_pki_types::CertificateDer<'static>| c.as_ref().to_vec())
            .unwrap();
        assert_eq!(chain[0], leaf_der, "the certificate certbot left is served");
    }
    let logs = run.logs(&moat);
    assert!(
        !logs.contains("ACME order created"),
        "no new order:\n{logs}"
    );

    // Nothing the user had was rewritten; only *.sample files may change.
    let after = snapshot(&config);
    for (path, bytes) in &before {
        if path.to_string_lossy().ends_with(".sample") {
            continue;
        }
        let now = after.get(path);
        assert!(
            now == Some(bytes),
            "/config/{} was changed or removed",
            path.display()
        );
    }
}
