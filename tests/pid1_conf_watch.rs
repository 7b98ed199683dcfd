//! The supervisor reloads the confs when files under /config/nginx change,
//! without a signal, and ignores `*.sample` files.

#[path = "support/foundation.rs"]
mod foundation;

use std::time::Duration;

use foundation::{moat_bin, moat_command, send_signal, temp_config, Running};
use nix::sys::signal::Signal;

#[test]
fn editing_a_proxy_conf_triggers_a_reload() {
    let tmp = temp_config();
    let moat = Running::spawn(moat_command(moat_bin(), tmp.path(), &[]));
    moat.wait_for(&["supervisor running"], Duration::from_secs(20));
    let reloads = |m: &Running| m.count_lines(&["configuration reloaded", "change under"]);
    assert_eq!(reloads(&moat), 0);

    let confs = tmp.path().join("nginx/proxy-confs");
    std::fs::copy(
        confs.join("gitea.subdomain.conf.sample"),
        confs.join("gitea.subdomain.conf"),
    )
    .unwrap();
    moat.wait_for_lines(
        &["configuration reloaded", "change under"],
        1,
        Duration::from_secs(10),
    );

    std::fs::remove_file(confs.join("gitea.subdomain.conf")).unwrap();
    moat.wait_for_lines(
        &["configuration reloaded", "change under"],
        2,
        Duration::from_secs(10),
    );

    // A sample changing is not a conf change; a later real edit still is.
    std::fs::write(
        confs.join("gitea.subdomain.conf.sample"),
        "# edited sample\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("nginx/proxy.conf"),
        "proxy_read_timeout 60;\n",
    )
    .unwrap();
    moat.wait_for_lines(
        &["configuration reloaded", "change under"],
        3,
        Duration::from_secs(10),
    );
    assert_eq!(
        reloads(&moat),
        3,
        "exactly one reload per change:\n{}",
        moat.log()
    );

    let mut moat = moat;
    send_signal(moat.child.id(), Signal::SIGTERM);
    assert_eq!(
        moat.wait_exit(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
}
