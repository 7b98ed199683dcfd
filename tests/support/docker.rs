//! Docker harness for the end-to-end tests: builds throw-away images
//! `FROM scratch` (moat, the `moat-echo` backend, Debian's pebble and
//! pebble-challtestsrv), runs containers on a user network created for the
//! run, publishes ports on 127.0.0.1 only, and removes every container,
//! network and image tag of the run when the [`Run`] is dropped, even when
//! the test panics (then the containers' logs are printed first).
//!
//! Include it with `#[path = "support/docker.rs"] mod docker;` next to
//! `#[path = "support/env.rs"] mod env;`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::env;

/// Where the repository lives (for `docker/build-local.sh`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `true` when `ldd` calls the file static (plain or static-pie).
pub fn is_static(binary: &Path) -> bool {
    let out = Command::new("ldd").arg(binary).output();
    let Ok(out) = out else { return false };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.contains("not a dynamic executable") || text.contains("statically linked")
}

/// The test binaries the images are made of, checked to be static. A dynamic
/// build cannot run in a scratch image: under CI that is a broken build
/// script (panic); locally the test is skipped loudly (`None`).
pub fn static_binaries(test: &str) -> Option<(PathBuf, PathBuf)> {
    let moat = PathBuf::from(env!("CARGO_BIN_EXE_moat"));
    let echo = PathBuf::from(env!("CARGO_BIN_EXE_moat-echo"));
    for bin in [&moat, &echo] {
        if !is_static(bin) {
            let why = format!(
                "{} is not statically linked; build the tests with \
                 CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu \
                 RUSTFLAGS='-C target-feature=+crt-static' cargo test --release (as scripts/test.sh does)",
                bin.display()
            );
            if env::in_ci() {
                panic!("{test}: {why}");
            }
            eprintln!("\n*** SKIP {test}: {why} ***\n");
            return None;
        }
    }
    Some((moat, echo))
}

/// Output of a docker command that must succeed; panics with its stderr.
/// Held around `docker build` and the removal of a run's images. Runs
/// that build the same context get the same image from the build cache;
/// without the lock, one run's `rmi` of its tag (the image's last) can
/// delete that image between another run's cache hit and its tagging,
/// which fails that build with "failed to get digest" (seen in CI).
fn image_lock() -> std::sync::MutexGuard<'static, ()> {
    static IMAGES: std::sync::Mutex<()> = std::sync::Mutex::new(());
    IMAGES.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn docker(args: &[&str]) -> String {
    let out = docker_try(args);
    if !out.status.success() {
        panic!(
            "docker {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs a docker command and returns whatever happened.
pub fn docker_try(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the docker CLI runs")
}

/// Polls `cond` every 100 ms until it returns `Some`, or panics after
/// `timeout` with `what` and the last value `describe` gives.
pub fn wait_for<T>(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}; state:\n{}",
                describe()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asks `get` every 100 ms until `accept` takes its answer; panics after
/// `timeout` naming `what`, the last answer (status and body) or error,
/// and `state()` (the logs, the files involved).
pub fn wait_answer(
    timeout: Duration,
    what: &str,
    get: impl Fn() -> std::io::Result<Response>,
    accept: impl Fn(&Response) -> bool,
    state: impl Fn() -> String,
) -> Response {
    let last = Mutex::new(String::new());
    wait_for(
        timeout,
        what,
        || match get() {
            Ok(r) if accept(&r) => Some(r),
            Ok(r) => {
                *last.lock().unwrap() = format!("{} {}", r.status, r.body);
                None
            }
            Err(e) => {
                *last.lock().unwrap() = e.to_string();
                None
            }
        },
        || format!("last answer: {}\n{}", last.lock().unwrap(), state()),
    )
}

static RUN_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Everything one test created in Docker; removed on drop.
pub struct Run {
    /// Unique prefix of every name and tag of this run (`moat-e2e-<pid>-<n>-<nanos>`).
    pub id: String,
    /// The user-defined network all containers join.
    pub network: String,
    containers: Mutex<Vec<String>>,
    images: Mutex<Vec<String>>,
    dirs: Mutex<Vec<tempfile::TempDir>>,
    /// The static moat binary the images are made of.
    pub moat_bin: PathBuf,
    /// The static moat-echo binary the backend image is made of.
    pub echo_bin: PathBuf,
}

impl Run {
    /// Checks for Docker and static binaries (loud skip locally, panic under
    /// CI), then creates the run's network.
    pub fn new(test: &str) -> Option<Run> {
        if !env::require_docker(test) {
            return None;
        }
        let (moat_bin, echo_bin) = static_binaries(test)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let id = format!(
            "moat-e2e-{}-{}-{nanos:x}",
            std::process::id(),
            RUN_COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let run = Run {
            network: id.clone(),
            id,
            containers: Mutex::new(vec![]),
            images: Mutex::new(vec![]),
            dirs: Mutex::new(vec![]),
            moat_bin,
            echo_bin,
        };
        docker(&["network", "create", "--label", "moat-e2e=1", &run.network]);
        Some(run)
    }

    /// A temporary directory that lives as long as the run.
    pub fn temp_dir(&self) -> PathBuf {
        let dir = tempfile::Builder::new()
            .prefix("moat-e2e-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().to_path_buf();
        self.dirs.lock().unwrap().push(dir);
        path
    }

    /// `docker build` of `context` (its `Dockerfile`) tagged for this run.
    pub fn build(&self, name: &str, context: &Path) -> String {
        let tag = format!("{}-{name}:test", self.id);
        self.images.lock().unwrap().push(tag.clone());
        let _images = image_lock();
        docker(&[
            "build",
            "-q",
            "--label",
            "moat-e2e=1",
            "-t",
            &tag,
            context.to_str().unwrap(),
        ]);
        tag
    }

    /// The moat image, made by `docker/build-local.sh` from the test's binary.
    pub fn moat_image(&self) -> String {
        let tag = format!("{}-moat:test", self.id);
        self.images.lock().unwrap().push(tag.clone());
        let out = Command::new(repo_root().join("docker/build-local.sh"))
            .arg(&tag)
            .arg(&self.moat_bin)
            .output()
            .expect("docker/build-local.sh runs");
        assert!(
            out.status.success(),
            "docker/build-local.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        tag
    }

    /// The moat image plus a static busybox at /busybox (test variant only:
    /// the shipped image has no shell). `None` when busybox is missing.
    pub fn moat_image_with_busybox(&self, test: &str) -> Option<String> {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .or_else(|| env::require_program(test, "busybox"))?;
        if !is_static(&busybox) {
            return env::require_program(test, "busybox-static (a static /bin/busybox)")
                .map(|_| unreachable!());
        }
        let base = self.moat_image();
        let ctx = self.temp_dir();
        std::fs::copy(&busybox, ctx.join("busybox")).unwrap();
        std::fs::write(
            ctx.join("Dockerfile"),
            format!("FROM {base}\nCOPY busybox /busybox\n"),
        )
        .unwrap();
        Some(self.build("moat-busybox", &ctx))
    }

    /// The backend image: the static `moat-echo` listening on :80.
    pub fn echo_image(&self) -> String {
        let ctx = self.temp_dir();
        std::fs::copy(&self.echo_bin, ctx.join("moat-echo")).unwrap();
        std::fs::write(
            ctx.join("Dockerfile"),
            "FROM scratch\nCOPY moat-echo /moat-echo\n\
             ENTRYPOINT [\"/moat-echo\", \"--listen\", \"0.0.0.0:80\"]\n",
        )
        .unwrap();
        self.build("echo", &ctx)
    }

    /// Images for Debian's pebble and pebble-challtestsrv (dynamically
    /// linked: the loader and every library `ldd` lists are copied at the
    /// same paths), with a listener certificate for the name `pebble`.
    /// `None` (loud skip; panic under CI) when pebble is not installed.
    pub fn pebble_images(&self, test: &str) -> Option<PebbleImages> {
        let pebble = env::require_program(test, "pebble")?;
        let challtestsrv = env::require_program(test, "pebble-challtestsrv")?;
        let (ca_pem, cert_pem, key_pem) = listener_certificate("pebble");

        let ctx = self.temp_dir();
        copy_with_libraries(&pebble, &ctx.join("root"), "usr/bin/pebble");
        let etc = ctx.join("root/etc/pebble");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("cert.pem"), &cert_pem).unwrap();
        std::fs::write(etc.join("key.pem"), &key_pem).unwrap();
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": "0.0.0.0:14000",
                "managementListenAddress": "0.0.0.0:15000",
                "certificate": "/etc/pebble/cert.pem",
                "privateKey": "/etc/pebble/key.pem",
                "httpPort": 80,
                "tlsPort": 443,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        std::fs::write(etc.join("config.json"), config.to_string()).unwrap();
        std::fs::write(
            ctx.join("Dockerfile"),
            "FROM scratch\nCOPY root/ /\n\
             ENV PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0\n\
             ENTRYPOINT [\"/usr/bin/pebble\", \"-config\", \"/etc/pebble/config.json\"]\n",
        )
        .unwrap();
        let pebble_tag = self.build("pebble", &ctx);

        let ctx = self.temp_dir();
        copy_with_libraries(
            &challtestsrv,
            &ctx.join("root"),
            "usr/bin/pebble-challtestsrv",
        );
        std::fs::write(
            ctx.join("Dockerfile"),
            "FROM scratch\nCOPY root/ /\n\
             ENTRYPOINT [\"/usr/bin/pebble-challtestsrv\", \"-http01\", \"\", \"-https01\", \"\", \"-tlsalpn01\", \"\"]\n",
        )
        .unwrap();
        let challtestsrv_tag = self.build("challtestsrv", &ctx);
        Some(PebbleImages {
            pebble: pebble_tag,
            challtestsrv: challtestsrv_tag,
            listener_ca_pem: ca_pem,
        })
    }

    /// `docker run -d` of `spec` on the run's network; returns the container name.
    pub fn start(&self, spec: &Container) -> String {
        let name = format!("{}-{}", self.id, spec.name);
        self.containers.lock().unwrap().push(name.clone());
        let mut args: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--name".into(),
            name.clone(),
            "--label".into(),
            "moat-e2e=1".into(),
            "--network".into(),
            self.network.clone(),
        ];
        for alias in &spec.aliases {
            args.extend(["--network-alias".into(), alias.clone()]);
        }
        for (k, v) in &spec.env {
            args.extend(["-e".into(), format!("{k}={v}")]);
        }
        for (host, inside) in &spec.volumes {
            args.extend(["-v".into(), format!("{}:{inside}", host.display())]);
        }
        for port in &spec.publish {
            args.extend(["-p".into(), format!("127.0.0.1::{port}")]);
        }
        args.extend(spec.extra.iter().cloned());
        args.push(spec.image.clone());
        args.extend(spec.cmd.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&refs);
        name
    }

    /// Removes a container now (e.g. to recreate a backend); it is no
    /// longer removed at the end.
    pub fn remove(&self, name: &str) {
        docker(&["rm", "-f", "-v", name]);
        self.containers.lock().unwrap().retain(|c| c != name);
    }

    /// The 127.0.0.1 address Docker published for the container's `port`/tcp.
    pub fn port(&self, name: &str, port: u16) -> SocketAddr {
        let out = docker(&["port", name, &format!("{port}/tcp")]);
        out.lines()
            .filter_map(|l| l.trim().parse::<SocketAddr>().ok())
            .find(|a| a.ip().is_loopback())
            .unwrap_or_else(|| panic!("no 127.0.0.1 mapping for {name} {port}/tcp: {out:?}"))
    }

    /// The container's address on the run's network.
    pub fn ip(&self, name: &str) -> String {
        docker(&[
            "inspect",
            "-f",
            &format!(
                "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
                self.network
            ),
            name,
        ])
    }

    /// Everything the container wrote to stdout and stderr so far.
    pub fn logs(&self, name: &str) -> String {
        let out = docker_try(&["logs", name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Waits until the logs contain `needle` (after the first `skip` bytes);
    /// returns the logs.
    pub fn wait_log(&self, name: &str, needle: &str, timeout: Duration) -> String {
        self.wait_log_after(name, 0, needle, timeout)
    }

    /// Like [`Run::wait_log`], looking only past byte `skip` of the logs.
    pub fn wait_log_after(
        &self,
        name: &str,
        skip: usize,
        needle: &str,
        timeout: Duration,
    ) -> String {
        wait_for(
            timeout,
            &format!("{needle:?} in the logs of {name}"),
            || {
                let logs = self.logs(name);
                logs.get(skip..)
                    .is_some_and(|tail| tail.contains(needle))
                    .then_some(logs)
            },
            || self.logs(name),
        )
    }

    /// `{{.State.Status}}` and `{{.State.ExitCode}}`.
    pub fn state(&self, name: &str) -> (String, i32) {
        let out = docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            name,
        ]);
        let (status, code) = out.split_once(' ').unwrap_or((&out, "-1"));
        (status.to_string(), code.parse().unwrap_or(-1))
    }

    /// Waits until the container is running (panics with its logs if it exits).
    pub fn wait_running(&self, name: &str) {
        wait_for(
            Duration::from_secs(20),
            &format!("{name} running"),
            || match self.state(name) {
                (s, _) if s == "running" => Some(()),
                (s, code) if s == "exited" || s == "dead" => panic!(
                    "{name} exited with {code} before it ran:\n{}",
                    self.logs(name)
                ),
                _ => None,
            },
            || self.logs(name),
        )
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let containers = std::mem::take(&mut *self.containers.lock().unwrap());
        if std::thread::panicking() {
            for c in &containers {
                eprintln!("----- docker logs {c} -----\n{}", self.logs(c));
            }
        }
        for c in &containers {
            let _ = docker_try(&["rm", "-f", "-v", c]);
        }
        let _ = docker_try(&["network", "rm", &self.network]);
        let images = std::mem::take(&mut *self.images.lock().unwrap());
        let _images = image_lock();
        for image in images {
            let _ = docker_try(&["rmi", "-f", &image]);
        }
    }
}

/// What to run: a builder for `docker run` arguments.
#[derive(Debug, Clone, Default)]
pub struct Container {
    /// Suffix of the container name (the full name is `<run id>-<name>`).
    pub name: String,
    /// Image tag.
    pub image: String,
    /// `--network-alias` values.
    pub aliases: Vec<String>,
    /// `-e` pairs.
    pub env: Vec<(String, String)>,
    /// `-v host:inside[:opts]` pairs.
    pub volumes: Vec<(PathBuf, String)>,
    /// Container ports published as `127.0.0.1::PORT`.
    pub publish: Vec<u16>,
    /// Any other `docker run` options (`--user`, `--read-only`, ...).
    pub extra: Vec<String>,
    /// Arguments after the image.
    pub cmd: Vec<String>,
}

impl Container {
    /// A container named `name` of `image`.
    pub fn new(name: &str, image: &str) -> Container {
        Container {
            name: name.into(),
            image: image.into(),
            ..Container::default()
        }
    }

    /// Adds a network alias.
    pub fn alias(mut self, alias: &str) -> Self {
        self.aliases.push(alias.into());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Bind-mounts `host` at `inside` (which may carry `:ro`).
    pub fn volume(mut self, host: &Path, inside: &str) -> Self {
        self.volumes.push((host.to_path_buf(), inside.into()));
        self
    }

    /// Publishes a container port on 127.0.0.1 (random host port).
    pub fn publish(mut self, port: u16) -> Self {
        self.publish.push(port);
        self
    }

    /// Adds raw `docker run` options.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.extra.extend(args.iter().map(|s| s.to_string()));
        self
    }

    /// Sets the arguments after the image.
    pub fn cmd(mut self, cmd: &[&str]) -> Self {
        self.cmd = cmd.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// The pebble pair's image tags and the CA of pebble's listener certificate.
pub struct PebbleImages {
    /// pebble (ACME on :14000, management on :15000).
    pub pebble: String,
    /// pebble-challtestsrv (DNS on :8053, management on :8055).
    pub challtestsrv: String,
    /// PEM of the CA that signed pebble's listener certificate (ACME_CA_ROOT).
    pub listener_ca_pem: String,
}

impl PebbleImages {
    /// A directory of the run holding the listener CA as
    /// `pebble-listener-ca.pem`: mounted at /ca, moat trusts the ACME endpoint
    /// with `ACME_CA_ROOT=/ca/pebble-listener-ca.pem`.
    pub fn listener_ca_dir(&self, run: &Run) -> PathBuf {
        let dir = run.temp_dir();
        std::fs::write(dir.join("pebble-listener-ca.pem"), &self.listener_ca_pem).unwrap();
        dir
    }

    /// Starts pebble (alias `pebble`, management published) with `args`
    /// and waits for its directory; returns the container name.
    pub fn start_pebble(&self, run: &Run, args: &[&str]) -> String {
        let pebble = run.start(
            &Container::new("pebble", &self.pebble)
                .alias("pebble")
                .publish(15000)
                .cmd(args),
        );
        run.wait_log(&pebble, "ACME directory available", Duration::from_secs(20));
        pebble
    }

    /// PEM of the root the `pebble` container issues under now, over its
    /// management API (verified against the listener CA).
    pub fn root(&self, run: &Run, pebble: &str) -> String {
        let mgmt = run.port(pebble, 15000);
        let cfg = tls_config(&self.listener_ca_pem);
        let (resp, _) = https_get(mgmt, "pebble", "/roots/0", &cfg).expect("pebble roots");
        assert_eq!(resp.status, 200, "{}", resp.body);
        resp.body
    }
}

/// DNS-01 for a moat container: pebble-challtestsrv and pebble as containers
/// on the run's network (pebble resolving through challtestsrv), and the
/// addresses a fake provider API in the test needs: it listens on the
/// network's gateway (which containers on the network reach) and publishes
/// its TXT records through challtestsrv's management port.
pub struct DnsStage {
    /// The images.
    pub images: PebbleImages,
    /// The challtestsrv container.
    pub challtestsrv: String,
    /// The pebble container.
    pub pebble: String,
    /// challtestsrv's management API, published on loopback.
    pub management: SocketAddr,
    /// challtestsrv's address on the network (DNS on :8053).
    pub dns_ip: String,
    /// The network's gateway: where the test's fakes listen.
    pub gateway: std::net::IpAddr,
    /// A directory holding pebble's listener CA as `pebble-listener-ca.pem`.
    pub ca_dir: PathBuf,
}

impl Run {
    /// Starts the [`DnsStage`], or `None` (skipped loudly) without pebble.
    pub fn dns_stage(&self, test: &str) -> Option<DnsStage> {
        let images = self.pebble_images(test)?;
        let challtestsrv = self.start(
            &Container::new("challtestsrv", &images.challtestsrv)
                .alias("challtestsrv")
                .publish(8055),
        );
        self.wait_running(&challtestsrv);
        let management = self.port(&challtestsrv, 8055);
        let dns_ip = self.ip(&challtestsrv);
        let gateway = docker(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            &self.network,
        ])
        .trim()
        .parse()
        .expect("the test network's gateway address");
        let pebble = images.start_pebble(self, &["-dnsserver", &format!("{dns_ip}:8053")]);
        let ca_dir = images.listener_ca_dir(self);
        Some(DnsStage {
            images,
            challtestsrv,
            pebble,
            management,
            dns_ip,
            gateway,
            ca_dir,
        })
    }
}

impl DnsStage {
    /// A moat container for `URL=domain SUBDOMAINS=wildcard VALIDATION=dns
    /// DNSPLUGIN=plugin` on `config`, ordering from pebble and checking
    /// propagation at challtestsrv; publishes 443.
    pub fn moat(&self, image: &str, config: &Path, domain: &str, plugin: &str) -> Container {
        Container::new("moat", image)
            .volume(config, "/config")
            .volume(&self.ca_dir, "/ca:ro")
            .env("URL", domain)
            .env("SUBDOMAINS", "wildcard")
            .env("VALIDATION", "dns")
            .env("DNSPLUGIN", plugin)
            .env("PROPAGATION_NAMESERVERS", &format!("{}:8053", self.dns_ip))
            .env("ACME_SERVER", "https://pebble:14000/dir")
            .env("ACME_CA_ROOT", "/ca/pebble-listener-ca.pem")
            .env("LOG_FORMAT", "text")
            .publish(443)
    }

    /// PEM of pebble's root, which issued what moat serves.
    pub fn root(&self, run: &Run) -> String {
        self.images.root(run, &self.pebble)
    }

    /// Waits until `moat` serves `*.domain` (issued by pebble) for
    /// `app.domain` and asserts the certificate also names `domain`.
    pub fn wait_for_wildcard(&self, run: &Run, moat: &str, domain: &str) {
        let tls = tls_config(&self.root(run));
        let https = run.port(moat, 443);
        let wildcard = format!("*.{domain}");
        let chain = wait_for(
            Duration::from_secs(30),
            "the wildcard certificate served",
            || {
                https_get(https, &format!("app.{domain}"), "/", &tls)
                    .ok()
                    .map(|(_, chain)| chain)
                    .filter(|chain| cert_names(&chain[0]).contains(&wildcard))
            },
            || run.logs(moat),
        );
        let names = cert_names(&chain[0]);
        assert!(names.iter().any(|n| n == domain), "{names:?}");
    }
}

/// Copies `binary` to `root/<inside>` with the loader and every library
/// `ldd` lists, each at its own absolute path under `root`.
pub fn copy_with_libraries(binary: &Path, root: &Path, inside: &str) {
    let target = root.join(inside);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(binary, &target).unwrap();
    let out = Command::new("ldd").arg(binary).output().expect("ldd runs");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)"; vdso has no file.
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let dest = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        // Follow symlinks: the image gets the real file under the linked name.
        std::fs::copy(path, &dest).unwrap_or_else(|e| panic!("copying {path}: {e}"));
    }
}

/// A fresh CA and a certificate for `names` signed by it: (ca, cert, key) PEMs.
pub fn listener_certificate(name: &str) -> (String, String, String) {
    let (ca, issuer) = test_ca("moat e2e listener CA");
    let (cert, key) = leaf_certificate(&issuer, &[name]);
    (ca, cert, key)
}

/// A self-signed CA: its PEM and an issuer to sign leaves with.
pub fn test_ca(common_name: &str) -> (String, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), rcgen::Issuer::new(params, key))
}

/// A leaf certificate for `names` signed by `issuer`: (cert, key) PEMs.
pub fn leaf_certificate(
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
    names: &[&str],
) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// One HTTP response read to the end of the connection.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: String,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (moat-echo's answer).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

fn request_text(host: &str, path: &str, extra: &[(&str, &str)]) -> String {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req
}

/// Plain HTTP `GET` with `Host: host`; `Err` on a connection problem.
pub fn http_get(addr: SocketAddr, host: &str, path: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request_text(host, path, &[]).as_bytes())?;
    let mut raw = vec![];
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// A TLS client configuration trusting only `roots_pem` (PEM, one or more).
pub fn tls_config(roots_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(roots_pem.as_bytes()) {
        let cert: rustls_pki_types::CertificateDer<'static> = cert.expect("root PEM parses");
        roots.add(cert).expect("root certificate is usable");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A verified TLS connection to `addr` for server name `sni`.
pub fn tls_connect(
    addr: SocketAddr,
    sni: &str,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = rustls_pki_types::ServerName::try_from(sni.to_string())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let conn = rustls::ClientConnection::new(config.clone(), name)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// HTTPS `GET https://sni/path` over `addr`, verified against `config`'s
/// roots; returns the response and the server's certificate chain (DER).
pub fn https_get(
    addr: SocketAddr,
    sni: &str,
    path: &str,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<(Response, Vec<Vec<u8>>)> {
    let mut stream = tls_connect(addr, sni, config)?;
    let chain = stream
        .conn
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|c| c.as_ref().to_vec())
        .collect();
    stream.write_all(request_text(sni, path, &[]).as_bytes())?;
    let mut raw = vec![];
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        // A peer closing without close_notify still delivered the response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok((parse_response(&raw)?, chain))
}

/// Opens a WebSocket at `wss://sni/path`, sends `message` as one text frame
/// and returns the text of the first frame that comes back.
pub fn websocket_echo(
    addr: SocketAddr,
    sni: &str,
    path: &str,
    config: &Arc<rustls::ClientConfig>,
    message: &str,
) -> std::io::Result<String> {
    let mut stream = tls_connect(addr, sni, config)?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {sni}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(req.as_bytes())?;
    let mut head = vec![];
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    if !head.starts_with("HTTP/1.1 101") {
        return Err(std::io::Error::other(format!("no 101 upgrade: {head}")));
    }
    // One masked text frame (client frames must be masked).
    let payload = message.as_bytes();
    assert!(payload.len() < 126, "short messages only");
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&frame)?;
    let mut hdr = [0u8; 2];
    stream.read_exact(&mut hdr)?;
    let len = match hdr[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            stream.read_exact(&mut l)?;
            u16::from_be_bytes(l) as usize
        }
        127 => return Err(std::io::Error::other("frame too long")),
        n => n as usize,
    };
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok(String::from_utf8_lossy(&body).to_string())
}

/// Parses a whole HTTP/1.1 response (Content-Length, chunked, or to EOF).
pub fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("incomplete response: {text:?}")))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// The DNS names (subjectAltName) of a DER certificate.
pub fn cert_names(der: &[u8]) -> Vec<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("certificate parses");
    cert.subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}
