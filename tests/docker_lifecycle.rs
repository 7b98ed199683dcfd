//! moat's image in a real Docker engine: what the image declares, the
//! /config volume it lays out, and PID 1's duties (SIGTERM from
//! `docker stop`, SIGHUP from `docker kill -s HUP`, reaping orphans), also
//! with `--user` and `--read-only`. Issue 7, "Image" and "Lifecycle".
//!
//! The images are built from the test's own static `moat` binary by
//! `docker/build-local.sh`; nothing is pulled.

#[path = "support/docker.rs"]
mod docker;
#[path = "support/env.rs"]
mod env;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use docker::{Container, Run};

/// Issue 7's size target for the image, 20 MB, read as 20 MiB as this
/// project has from the start (docker/README.md). The release build CI
/// shares with the tests meets it (packed relocations from build.rs, crates
/// that never run per request built for size), so it is asserted, not just
/// reported.
const SIZE_TARGET_BYTES: u64 = 20 * 1024 * 1024;

/// The image users get is built from the profile every test runs against:
/// docker/Dockerfile builds `--release` (no separate image profile), the
/// tests and scripts/test.sh build `--release`, and no profile in Cargo.toml
/// aborts on panic (a panic in one request must unwind its task, not end
/// PID 1; tests/proxy_panic.rs). Needs no Docker engine.
#[test]
fn image_profile_is_the_tested_profile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let dockerfile = read("docker/Dockerfile");
    let build: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.contains("cargo build"))
        .collect();
    assert_eq!(
        build.len(),
        1,
        "one cargo build in docker/Dockerfile: {build:?}"
    );
    assert!(
        build[0].contains("--release") && !build[0].contains("--profile"),
        "docker/Dockerfile builds another profile than the tested one: {}",
        build[0]
    );
    assert!(
        dockerfile.contains("/release/moat /out/moat"),
        "the image copies the release binary"
    );
    let test_sh = read("scripts/test.sh");
    assert!(
        test_sh.contains("cargo build --release"),
        "scripts/test.sh builds --release"
    );
    assert!(
        test_sh.contains("cargo test --release"),
        "scripts/test.sh tests --release"
    );
    let local = read("docker/build-local.sh");
    assert!(
        local.contains("profile=release\n"),
        "build-local.sh builds the release profile"
    );
    let cargo = read("Cargo.toml");
    for (n, line) in cargo.lines().enumerate() {
        let code = line.split('#').next().unwrap();
        assert!(
            !(code.contains("panic") && code.contains("abort")),
            "Cargo.toml:{}: `{line}`: a profile that aborts on panic lets one request end PID 1",
            n + 1
        );
        assert!(
            !code.trim_start().starts_with("[profile.dist"),
            "Cargo.toml:{}: a separate image profile is not what CI tests",
            n + 1
        );
    }
}

/// A moat container with a fresh host directory mounted as /config.
fn start_moat(run: &Run, image: &str, name: &str, extra: &[&str]) -> (String, std::path::PathBuf) {
    let config = run.temp_dir();
    let spec = Container::new(name, image)
        .volume(&config, "/config")
        .env("LOG_FORMAT", "text")
        .args(extra);
    let c = run.start(&spec);
    run.wait_running(&c);
    run.wait_log(&c, "supervisor running", Duration::from_secs(20));
    (c, config)
}

#[test]
fn image_is_binary_plus_roots_and_declares_volume_ports_health_and_stop_signal() {
    let Some(run) =
        Run::new("image_is_binary_plus_roots_and_declares_volume_ports_health_and_stop_signal")
    else {
        return;
    };
    let image = run.moat_image();
    let inspect: serde_json::Value =
        serde_json::from_str(&docker::docker(&["image", "inspect", &image])).unwrap();
    let img = &inspect[0];
    let size = img["Size"].as_u64().unwrap();
    // The image is the stripped binary plus the CA bundle: nothing else may
    // creep in (no shell, no libc, no package manager).
    let stripped = run.temp_dir().join("moat");
    std::fs::copy(&run.moat_bin, &stripped).unwrap();
    let _ = std::process::Command::new("strip").arg(&stripped).status();
    let binary = std::fs::metadata(&stripped).unwrap().len();
    let ca = std::fs::metadata("/etc/ssl/certs/ca-certificates.crt")
        .map(|m| m.len())
        .unwrap_or(0);
    let mib = |b: u64| b as f64 / 1048576.0;
    eprintln!(
        "moat image size: {size} bytes ({:.1} MiB; binary {:.1} MiB, CA bundle {:.2} MiB); issue 7's target: <= {SIZE_TARGET_BYTES} bytes (20 MiB)",
        mib(size),
        mib(binary),
        mib(ca),
    );
    assert!(
        size <= SIZE_TARGET_BYTES,
        "the image is {size} bytes, over issue 7's 20 MiB"
    );
    assert!(
        size <= binary + ca + 64 * 1024,
        "the image ({size} bytes) holds more than the binary ({binary}) and the CA bundle ({ca})"
    );
    let cfg = &img["Config"];
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/moat"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["run"]));
    assert!(cfg["ExposedPorts"].get("80/tcp").is_some(), "{cfg}");
    assert!(cfg["ExposedPorts"].get("443/tcp").is_some(), "{cfg}");
    assert!(cfg["Volumes"].get("/config").is_some(), "{cfg}");
    assert_eq!(cfg["StopSignal"], "SIGTERM");
    assert_eq!(
        cfg["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/moat", "health"])
    );
    assert_eq!(
        cfg["User"], "",
        "runs as root by default (ports 80/443, chown)"
    );
    assert_eq!(cfg["Labels"]["org.opencontainers.image.title"], "moat");
    let env: Vec<&str> = cfg["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(env.contains(&"CONFIG_DIR=/config"), "{env:?}");
    // The root filesystem holds only the binary, the CA roots, /tmp and /config.
    let c = run.start(&Container::new("probe", &image).cmd(&["--version"]));
    docker::wait_for(
        Duration::from_secs(60),
        "`moat --version` to exit",
        || (run.state(&c).0 == "exited").then_some(()),
        || run.logs(&c),
    );
    assert_eq!(run.state(&c).1, 0, "{}", run.logs(&c));
    assert!(run.logs(&c).contains("moat"), "{}", run.logs(&c));
    let export = std::process::Command::new("docker")
        .args(["export", &c])
        .output()
        .unwrap();
    let listing = std::process::Command::new("tar")
        .arg("-t")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut tar| {
            use std::io::Write;
            tar.stdin.take().unwrap().write_all(&export.stdout)?;
            tar.wait_with_output()
        })
        .unwrap();
    let files = String::from_utf8_lossy(&listing.stdout);
    for wanted in [
        "moat",
        "etc/ssl/certs/ca-certificates.crt",
        "tmp/",
        "config/",
    ] {
        assert!(
            files.lines().any(|l| l == wanted),
            "{wanted} missing from the image: {files}"
        );
    }
}

#[test]
fn config_volume_is_laid_out_and_owned_by_puid() {
    let Some(run) = Run::new("config_volume_is_laid_out_and_owned_by_puid") else {
        return;
    };
    let image = run.moat_image();
    let (c, config) = start_moat(
        &run,
        &image,
        "layout",
        &["-e", "PUID=1234", "-e", "PGID=2345"],
    );
    run.wait_log(&c, "config directory ready", Duration::from_secs(10));
    for file in [
        "nginx/nginx.conf",
        "nginx/ssl.conf",
        "nginx/proxy.conf",
        "nginx/resolver.conf",
        "nginx/site-confs/default.conf",
        "keys/cert.crt",
        "keys/cert.key",
    ] {
        assert!(
            config.join(file).is_file(),
            "/config/{file} was not written"
        );
    }
    for dir in [
        "nginx/proxy-confs",
        "dns-conf",
        "etc/letsencrypt",
        "log/nginx",
        "www",
    ] {
        assert!(config.join(dir).is_dir(), "/config/{dir} was not created");
    }
    // Generated from the container's /etc/resolv.conf: Docker's embedded DNS.
    let resolver = std::fs::read_to_string(config.join("nginx/resolver.conf")).unwrap();
    assert!(
        resolver.contains("resolver 127.0.0.11") && resolver.contains("valid=30s"),
        "{resolver}"
    );
    // Like SWAG, root chowns what it writes to PUID:PGID.
    let meta = std::fs::metadata(config.join("nginx/nginx.conf")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 2345));
}

#[test]
fn docker_stop_exits_zero_well_within_the_grace_period() {
    let Some(run) = Run::new("docker_stop_exits_zero_well_within_the_grace_period") else {
        return;
    };
    let image = run.moat_image();
    let (c, _config) = start_moat(&run, &image, "stop", &[]);
    let started = Instant::now();
    docker::docker(&["stop", "-t", "10", &c]);
    let took = started.elapsed();
    let (status, code) = run.state(&c);
    eprintln!("docker stop took {took:?}");
    assert_eq!(status, "exited");
    assert_eq!(code, 0, "exit code after SIGTERM:\n{}", run.logs(&c));
    // Docker sends SIGKILL at 10 s: an exit well before means moat handled SIGTERM.
    assert!(took < Duration::from_secs(5), "docker stop took {took:?}");
    let logs = run.logs(&c);
    assert!(logs.contains("stopping"), "{logs}");
    assert!(!logs.contains("second stop signal"), "{logs}");
}

#[test]
fn docker_kill_hup_reloads_the_configuration() {
    let Some(run) = Run::new("docker_kill_hup_reloads_the_configuration") else {
        return;
    };
    let image = run.moat_image();
    let (c, _config) = start_moat(&run, &image, "hup", &[]);
    let before = run.logs(&c).len();
    docker::docker(&["kill", "-s", "HUP", &c]);
    let logs = run.wait_log_after(
        &c,
        before,
        "configuration reloaded",
        Duration::from_secs(10),
    );
    assert!(logs[before..].contains("SIGHUP"), "{}", &logs[before..]);
    assert_eq!(run.state(&c).0, "running", "SIGHUP must not stop moat");
}

/// `docker top` rows as (pid, ppid, stat, args).
fn processes(c: &str) -> Vec<(String, String, String, String)> {
    docker::docker(&["top", c, "-o", "pid,ppid,stat,args"])
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((
                w.next()?.to_string(),
                w.next()?.to_string(),
                w.next()?.to_string(),
                w.collect::<Vec<_>>().join(" "),
            ))
        })
        .collect()
}

#[test]
fn orphans_left_in_the_container_are_reaped() {
    let test = "orphans_left_in_the_container_are_reaped";
    let Some(run) = Run::new(test) else {
        return;
    };
    let Some(image) = run.moat_image_with_busybox(test) else {
        return;
    };
    let (c, _config) = start_moat(&run, &image, "reap", &[]);
    let moat_pid = processes(&c)
        .into_iter()
        .find(|p| p.3.contains("/moat"))
        .expect("moat runs")
        .0;
    // The shell exits at once; its two sleeps become orphans adopted by PID 1.
    docker::docker(&[
        "exec",
        &c,
        "/busybox",
        "sh",
        "-c",
        "/busybox sleep 5 & /busybox sleep 5 & exit 0",
    ]);
    let adopted = docker::wait_for(
        Duration::from_secs(4),
        "the two orphans to show in `docker top`",
        || {
            let sleeps: Vec<_> = processes(&c)
                .into_iter()
                .filter(|p| p.3.contains("sleep 5"))
                .collect();
            (sleeps.len() == 2).then_some(sleeps)
        },
        || format!("{:?}", processes(&c)),
    );
    assert!(
        adopted.iter().all(|p| p.1 == moat_pid),
        "orphans are adopted by moat (pid {moat_pid}): {adopted:?}"
    );
    // Once they exit, nothing of them stays: no zombie (<defunct>, state Z).
    docker::wait_for(
        Duration::from_secs(20),
        "the orphans to exit and be reaped",
        || {
            let ps = processes(&c);
            ps.iter()
                .all(|p| {
                    !p.3.contains("sleep") && !p.2.starts_with('Z') && !p.3.contains("defunct")
                })
                .then_some(())
        },
        || format!("{:?}", processes(&c)),
    );
    assert_eq!(run.state(&c).0, "running");
}

#[test]
fn runs_with_user_and_read_only_root() {
    let Some(run) = Run::new("runs_with_user_and_read_only_root") else {
        return;
    };
    let image = run.moat_image();
    let config = run.temp_dir();
    // Any user may write the volume; the image itself stays read-only.
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let spec = Container::new("ro", &image)
        .volume(&config, "/config")
        .env("LOG_FORMAT", "text")
        .args(&["--user", "1000:1000", "--read-only", "--tmpfs", "/tmp"]);
    let c = run.start(&spec);
    run.wait_running(&c);
    run.wait_log(&c, "supervisor running", Duration::from_secs(20));
    let meta = std::fs::metadata(config.join("nginx/nginx.conf")).unwrap();
    assert_eq!(meta.uid(), 1000, "written by the --user id");
    assert!(Path::new(&config.join("keys/cert.key")).is_file());
    docker::docker(&["stop", &c]);
    assert_eq!(run.state(&c), ("exited".to_string(), 0), "{}", run.logs(&c));
}

#[test]
fn compose_example_is_valid_and_puts_moat_and_backends_on_one_network() {
    let test = "compose_example_is_valid_and_puts_moat_and_backends_on_one_network";
    let Some(compose) = env::require_program(test, "docker-compose") else {
        return;
    };
    let file = docker::repo_root().join("docker/compose.yaml");
    let out = std::process::Command::new(compose)
        .arg("-f")
        .arg(&file)
        .arg("config")
        .output()
        .expect("docker-compose runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "docker/compose.yaml is invalid: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for wanted in [
        "image: moat\n",
        "image: moat-echo:local",
        "443",
        ":/config",
        "name: moat-proxy",
    ] {
        assert!(text.contains(wanted), "{wanted:?} missing from:\n{text}");
    }
    // Every service joins the one user-defined network.
    assert_eq!(text.matches("proxy: null").count(), 3, "{text}");
}
