//! `moat check`: exit 0 on a fresh or bootstrapped /config, exit 1 with one
//! line naming the variable for each invalid setting.

#[path = "support/foundation.rs"]
mod foundation;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use foundation::{moat_bin, moat_command, stop_gracefully, temp_config, Running};

fn check(dir: &Path, envs: &[(&str, &str)]) -> Output {
    let mut cmd = moat_command(moat_bin(), dir, envs);
    cmd.arg("check");
    cmd.output().expect("moat check runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_passes_on_a_fresh_config_dir() {
    let tmp = temp_config();
    let dir = tmp.path().join("not-yet-created");
    let out = check(&dir, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.is_empty(), "no problems printed: {stdout}");
    assert!(stderr.contains("writes the defaults"), "{stderr}");
    assert!(!dir.exists(), "check writes nothing into the config dir");
}

#[test]
fn check_passes_on_a_bootstrapped_config_dir() {
    let tmp = temp_config();
    let mut moat = Running::spawn(moat_command(moat_bin(), tmp.path(), &[]));
    moat.wait_for(&["supervisor running"], Duration::from_secs(20));
    stop_gracefully(&mut moat);

    let out = check(tmp.path(), &[("URL", "example.com"), ("SUBDOMAINS", "www")]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("is OK"), "{stderr}");
}

#[test]
fn the_config_option_overrides_config_dir() {
    let tmp = temp_config();
    let mut cmd = moat_command(moat_bin(), Path::new("/nonexistent/moat"), &[]);
    cmd.args(["check", "--config"]).arg(tmp.path());
    let out = cmd.output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&tmp.path().display().to_string()),
        "{stderr}"
    );
}

#[test]
fn check_fails_naming_each_invalid_setting() {
    let tmp = temp_config();
    let rows: &[(&[(&str, &str)], &str)] = &[
        (&[("URL", "not a domain")], "URL"),
        (
            &[("URL", "example.com"), ("SUBDOMAINS", "a_b")],
            "SUBDOMAINS",
        ),
        (
            &[("URL", "example.com"), ("EXTRA_DOMAINS", "x..org")],
            "EXTRA_DOMAINS",
        ),
        (&[("VALIDATION", "carrier-pigeon")], "VALIDATION"),
        (&[("VALIDATION", "dns")], "DNSPLUGIN"),
        (
            &[("VALIDATION", "dns"), ("DNSPLUGIN", "nosuch")],
            "DNSPLUGIN",
        ),
        (&[("PROPAGATION", "1m")], "PROPAGATION"),
        (&[("CERTPROVIDER", "zerossl")], "EMAIL"),
        (&[("PUID", "root")], "PUID"),
        (&[("HTTP_PORT", "99999")], "HTTP_PORT"),
        (&[("LOG_FORMAT", "yaml")], "LOG_FORMAT"),
        (&[("SHUTDOWN_GRACE", "forever")], "SHUTDOWN_GRACE"),
        (&[("KEY_TYPE", "dsa")], "KEY_TYPE"),
        (&[("ACME_SERVER", "pebble")], "ACME_SERVER"),
        (
            &[("ACME_CA_ROOT", "/nonexistent/pebble.pem")],
            "ACME_CA_ROOT",
        ),
    ];
    for (env, var) in rows {
        let out = check(tmp.path(), env);
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{env:?}: stdout:\n{stdout}\nstderr:\n{stderr}"
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "one line per problem for {env:?}: {stdout}");
        assert!(
            lines[0].starts_with(&format!("{var}=")),
            "{env:?} names {var}: {stdout}"
        );
    }
}

#[test]
fn check_fails_with_file_and_line_for_a_broken_conf() {
    let tmp = temp_config();
    let mut moat = Running::spawn(moat_command(moat_bin(), tmp.path(), &[]));
    moat.wait_for(&["supervisor running"], Duration::from_secs(20));
    stop_gracefully(&mut moat);

    let broken = tmp.path().join("nginx/proxy-confs/app.subdomain.conf");
    std::fs::write(
        &broken,
        "server {\n    listen 443 ssl;\n    proxy_pass;\n}\n",
    )
    .unwrap();
    let out = check(tmp.path(), &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let want = format!("{}:3", broken.display());
    assert!(
        stdout.lines().all(|l| l.contains("app.subdomain.conf:")),
        "every problem line names the file: {stdout}"
    );
    assert!(
        stdout.contains(&want),
        "the line is named ({want}): {stdout}"
    );
}

/// `moat check` refuses what nginx refuses (a typo'd directive, a second
/// `proxy_read_timeout`), naming file and line, and prints the one
/// no-effect summary line.
#[test]
fn check_fails_on_a_typo_and_a_duplicate_and_prints_the_no_effect_summary() {
    let tmp = temp_config();
    let mut moat = Running::spawn(moat_command(moat_bin(), tmp.path(), &[]));
    moat.wait_for(&["supervisor running"], Duration::from_secs(20));
    stop_gracefully(&mut moat);

    let out = check(tmp.path(), &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let summary: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("have no effect in moat"))
        .collect();
    assert_eq!(summary.len(), 1, "{stderr}");
    assert!(summary[0].starts_with("info: "), "{stderr}");

    let conf = tmp.path().join("nginx/proxy-confs/app.subdomain.conf");
    for (body, line, message) in [
        ("        dney all;\n", 5, "unknown directive \"dney\""),
        (
            "        proxy_read_timeout 5s;\n        proxy_read_timeout 6s;\n",
            6,
            "\"proxy_read_timeout\" directive is duplicate",
        ),
    ] {
        std::fs::write(
            &conf,
            format!(
                "server {{\n    listen 443 ssl;\n    server_name app.*;\n    location / {{\n{body}        proxy_pass http://127.0.0.1:1;\n    }}\n}}\n"
            ),
        )
        .unwrap();
        let out = check(tmp.path(), &[]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        let want = format!("{}:{line}:", conf.display());
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&want) && l.contains(message)),
            "want {want} {message}: {stdout}"
        );
    }

    std::fs::write(
        &conf,
        "server {\n    listen 443 ssl;\n    server_name app.*;\n    location / {\n        gzip on;\n        proxy_pass http://127.0.0.1:1;\n    }\n}\n",
    )
    .unwrap();
    let out = check(tmp.path(), &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with("warning: ")
            && l.contains("gzip (nginx/proxy-confs/app.subdomain.conf:5)")),
        "{stderr}"
    );

    std::fs::write(
        &conf,
        "server {\n    listen 443 ssl;\n    server_name app.*;\n    location / {\n        secure_link $arg_h;\n        proxy_pass http://127.0.0.1:1;\n    }\n}\n",
    )
    .unwrap();
    let out = check(tmp.path(), &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let want = format!("{}:5: \"secure_link\" restricts access", conf.display());
    assert!(stdout.contains(&want), "{want}: {stdout}");
}

/// `dns-conf/<file>` in a fresh config dir holding `text`.
fn with_dns_conf(file: &str, text: &str) -> tempfile::TempDir {
    let tmp = temp_config();
    std::fs::create_dir_all(tmp.path().join("dns-conf")).unwrap();
    std::fs::write(tmp.path().join("dns-conf").join(file), text).unwrap();
    tmp
}

#[test]
fn check_refuses_an_untouched_dns_template_naming_file_and_key() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let rows = [
        (
            "cloudflare",
            "cloudflare.ini",
            ":4: dns_cloudflare_api_token still holds the template's placeholder value",
        ),
        (
            "google",
            "google.json",
            ":3: _comment shows this is still SWAG's template",
        ),
        (
            "azure",
            "azure.ini",
            ":5: dns_azure_sp_client_id still holds the template's placeholder value",
        ),
        (
            "route53",
            "route53.ini",
            ": missing key aws_access_key_id under [default]",
        ),
    ];
    for (plugin, file, tail) in rows {
        let template = std::fs::read_to_string(format!("{repo}/dns-conf/{file}")).unwrap();
        let tmp = with_dns_conf(file, &template);
        let envs = [
            ("URL", "example.com"),
            ("VALIDATION", "dns"),
            ("DNSPLUGIN", plugin),
        ];
        let out = check(tmp.path(), &envs);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{plugin}: {stdout}\n{stderr}");
        let path = tmp.path().join("dns-conf").join(file);
        assert!(
            stdout.contains(&format!("{plugin}: {}{tail}", path.display())),
            "{plugin}: {stdout}"
        );
    }
    // Filled in, the same file passes (no request is sent).
    let tmp = with_dns_conf(
        "cloudflare.ini",
        "dns_cloudflare_api_token = 0123456789abcdef-real\n",
    );
    let envs = [
        ("URL", "example.com"),
        ("VALIDATION", "dns"),
        ("DNSPLUGIN", "cloudflare"),
    ];
    let out = check(tmp.path(), &envs);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stdout.contains("0123456789abcdef-real") && !stderr.contains("0123456789abcdef-real"));
}

#[test]
fn check_names_the_supported_plugins_and_acmedns_and_exec_for_an_unknown_one() {
    let tmp = temp_config();
    let envs = [
        ("URL", "example.com"),
        ("VALIDATION", "dns"),
        ("DNSPLUGIN", "njalla"),
    ];
    let out = check(tmp.path(), &envs);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("DNSPLUGIN=\"njalla\": unknown DNS provider; for any other DNS host use DNSPLUGIN=acmedns")
            && stdout.contains("or DNSPLUGIN=exec (a program of yours)")
            && stdout.contains(&format!("(allowed: {})", moat::dns::PROVIDER_NAMES.join(", "))),
        "{stdout}"
    );
}
