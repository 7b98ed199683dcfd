//! nginx as the oracle for the files moat writes: the bootstrapped tree,
//! with every shipped proxy-conf sample activated, passes `nginx -t`.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use foundation::{moat_bin, moat_command, stop_gracefully, temp_config, Running};

fn rewrite_config_paths(dir: &Path, root: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rewrite_config_paths(&path, root);
        } else if path.extension().is_some_and(|e| e == "conf") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.replace("/config/", &format!("{}/", root.display()));
            std::fs::write(&path, text).unwrap();
        }
    }
}

/// The auth snippets use `set_escape_uri` (set-misc module, which SWAG's
/// nginx has). When Debian's module is installed, load it and add one server
/// per auth system that includes its `-server.conf` and `-location.conf`.
fn add_auth_servers(dir: &Path) {
    let modules = Path::new("/usr/lib/nginx/modules");
    let set_misc = modules.join("ngx_http_set_misc_module.so");
    if !env::require(
        "defaults_and_every_sample_pass_nginx_t (auth snippets)",
        set_misc.exists(),
        "libnginx-mod-http-set-misc is not installed: auth snippets not checked by nginx",
    ) {
        return;
    }
    let nginx_conf = dir.join("nginx/nginx.conf");
    let text = std::fs::read_to_string(&nginx_conf).unwrap();
    let loads = format!(
        "load_module {};\nload_module {};\n",
        modules.join("ndk_http_module.so").display(),
        set_misc.display()
    );
    std::fs::write(&nginx_conf, loads + &text).unwrap();
    let mut site = String::new();
    for auth in ["authelia", "authentik", "ldap", "tinyauth"] {
        site.push_str(&format!(
            "server {{\n    listen 443 ssl;\n    server_name {auth}-test.*;\n    \
             include /config/nginx/ssl.conf;\n    include /config/nginx/{auth}-server.conf;\n    \
             location / {{\n        include /config/nginx/{auth}-location.conf;\n        \
             include /config/nginx/proxy.conf;\n        proxy_pass http://127.0.0.1:9;\n    }}\n}}\n"
        ));
    }
    std::fs::write(dir.join("nginx/site-confs/auth-test.conf"), site).unwrap();
}

#[test]
fn defaults_and_every_sample_pass_nginx_t() {
    let Some(nginx) = env::require_program("defaults_and_every_sample_pass_nginx_t", "nginx")
    else {
        return;
    };
    let tmp = temp_config();
    let dir = tmp.path().join("config");
    let mut moat = Running::spawn(moat_command(moat_bin(), &dir, &[]));
    moat.wait_for(&["supervisor running"], Duration::from_secs(20));
    stop_gracefully(&mut moat);

    let confs = dir.join("nginx/proxy-confs");
    let mut activated = 0;
    for entry in std::fs::read_dir(&confs).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(active) = name.strip_suffix(".sample") {
            std::fs::copy(entry.path(), confs.join(active)).unwrap();
            activated += 1;
        }
    }
    assert!(activated >= 9, "all samples activated ({activated})");
    add_auth_servers(&dir);
    rewrite_config_paths(&dir.join("nginx"), &dir);

    let out = Command::new(nginx)
        .arg("-t")
        .arg("-c")
        .arg(dir.join("nginx/nginx.conf"))
        .arg("-g")
        .arg(format!("pid {};", tmp.path().join("nginx.pid").display()))
        .output()
        .expect("nginx runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "nginx -t refuses moat's tree:\n{stderr}"
    );
    assert!(stderr.contains("test is successful"), "{stderr}");
}
