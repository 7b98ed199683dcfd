//! The acme-dns provider against a fake acme-dns server that keeps every
//! request, with SWAG's `acmedns.ini` and registration file layout: the
//! update carries the registration's user, key and subdomain, the apex and
//! wildcard values both stay served (acme-dns keeps two), cleanup sends
//! nothing, preflight only reads, and a wrong password or SWAG's untouched
//! registration template is named with its file and field. Then the exec
//! provider with a fake hook script that records every call: lego's
//! `present|cleanup <fqdn.> <value>` arguments, its variables from exec.ini,
//! failures and the timeout reported with the output redacted.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_acmedns.rs"]
mod fake_acmedns;
#[path = "support/fake_exec.rs"]
mod fake_exec;
#[path = "support/fake_http.rs"]
mod fake_http;

use dns_ini::with_files;
use fake_acmedns::FakeAcmeDns;
use fake_exec::FakeHook;

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";
const SUB: &str = "d420c923-bbd7-4056-ab64-c3ca54c9b3cf";

fn acmedns_ini(url: &str) -> String {
    // SWAG's path: found under moat's config directory.
    format!(
        "dns_acmedns_api_url = {url}\n\
         dns_acmedns_registration_file = /config/dns-conf/acmedns-registration.json\n"
    )
}

fn registration(password: &str) -> String {
    format!(
        r#"{{
  "example.test": {{
    "username": "eabcdb41-d89f-4580-826f-3e62e9755ef2",
    "password": "{password}",
    "fulldomain": "{SUB}.auth.example.org",
    "subdomain": "{SUB}",
    "allowfrom": []
  }}
}}"#
    )
}

#[tokio::test]
async fn acmedns_updates_the_registration_subdomain_and_keeps_both_values() {
    let password = "pbAXVjlIOE01xbut7YnAbkhMQIkcwoHO0ek2j4Q0";
    let fake = FakeAcmeDns::start(&[("eabcdb41-d89f-4580-826f-3e62e9755ef2", password, SUB)]).await;
    let (_d, p) = with_files(
        "acmedns",
        &[
            ("acmedns.ini", &acmedns_ini(&fake.endpoint)),
            ("acmedns-registration.json", &registration(password)),
        ],
    );
    let p = p.unwrap();
    assert_eq!(p.name(), "acmedns");

    let line = p
        .preflight(&["example.test".into(), "*.example.test".into()])
        .await
        .unwrap();
    assert_eq!(
        line,
        format!(
            "acmedns: server at {} answers; registrations for example.test (CNAME to {SUB}.auth.example.org)",
            fake.endpoint
        )
    );
    // Preflight only reads.
    assert_eq!(fake.requests(), [("GET".to_owned(), "/health".to_owned())]);

    let apex = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    let wild = p
        .present("_acme-challenge.example.test", WILDCARD_VALUE)
        .await
        .unwrap();
    assert_eq!(fake.values(SUB), [APEX_VALUE, WILDCARD_VALUE]);
    assert_eq!(apex.fqdn, "_acme-challenge.example.test");

    // Cleanup is a no-op: acme-dns has no delete.
    let before = fake.requests().len();
    p.cleanup(&apex).await.unwrap();
    p.cleanup(&wild).await.unwrap();
    assert_eq!(fake.requests().len(), before);

    // A domain without a registration is named with the registration file.
    let err = p
        .present("_acme-challenge.other.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("acmedns-registration.json: no registration for other.test"),
        "{err}"
    );
    let err = p
        .preflight(&["other.test".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no registration for other.test"), "{err}");
}

#[tokio::test]
async fn acmedns_wrong_password_and_templates_are_named() {
    let fake = FakeAcmeDns::start(&[("eabcdb41-d89f-4580-826f-3e62e9755ef2", "right", SUB)]).await;
    let (_d, p) = with_files(
        "acmedns",
        &[
            ("acmedns.ini", &acmedns_ini(&fake.endpoint)),
            (
                "acmedns-registration.json",
                &registration("wrong-secret-value"),
            ),
        ],
    );
    let err = p
        .unwrap()
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("HTTP 401: forbidden")
            && text.contains("check username and password of \"example.test\" in ")
            && text.contains("acmedns-registration.json"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-value"), "{text}");

    // SWAG's untouched registration template.
    let swag = r#"{
    "yourdomain.com": {
      "username":"yourusername",
      "password":"yourpassword",
      "fulldomain":"<guid>.acme.yourdomain.com",
      "subdomain":"<guid>",
      "allowfrom":[]
    }
  }"#;
    let (dir, p) = with_files(
        "acmedns",
        &[
            ("acmedns.ini", &acmedns_ini(&fake.endpoint)),
            ("acmedns-registration.json", swag),
        ],
    );
    let err = p.err().unwrap().to_string();
    assert_eq!(
        err,
        format!(
            "acmedns: {}/dns-conf/acmedns-registration.json: yourdomain.com is the template's \
             placeholder domain: replace it with your domain and its acme-dns registration \
             (from POST /register)",
            dir.path().display()
        )
    );
    let (_d, p) = with_files(
        "acmedns",
        &[
            ("acmedns.ini", &acmedns_ini(&fake.endpoint)),
            ("acmedns-registration.json", &registration("yourpassword")),
        ],
    );
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("example.test: password still holds the template's placeholder value"),
        "{err}"
    );
    // The registration file missing: the ini's line is named.
    let (_d, p) = with_files("acmedns", &[("acmedns.ini", &acmedns_ini(&fake.endpoint))]);
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("acmedns.ini:2: dns_acmedns_registration_file: cannot read"),
        "{err}"
    );
}

fn exec_ini(hook: &FakeHook, extra: &str) -> String {
    format!(
        "dns_exec_path = {}\ndns_exec_env_API_TOKEN = hook-secret-token\n{extra}",
        hook.path.display()
    )
}

#[tokio::test]
async fn exec_runs_the_hook_with_lego_arguments_and_redacts_its_output() {
    let bin = tempfile::tempdir().unwrap();
    let hook = FakeHook::write(bin.path(), "hook", 0, 0);
    let (_d, p) = with_files(
        "exec",
        &[("exec.ini", &exec_ini(&hook, "dns_exec_propagation = 7\n"))],
    );
    let p = p.unwrap();
    assert_eq!(p.name(), "exec");
    assert_eq!(p.propagation_default().as_secs(), 7);

    // Preflight does not run the program.
    let line = p.preflight(&["example.test".into()]).await.unwrap();
    assert!(line.contains("is executable (not run"), "{line}");
    assert!(hook.calls().is_empty());

    let apex = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    let wild = p
        .present("_acme-challenge.example.test", WILDCARD_VALUE)
        .await
        .unwrap();
    p.cleanup(&apex).await.unwrap();
    p.cleanup(&wild).await.unwrap();
    assert_eq!(
        hook.calls(),
        [
            format!("present _acme-challenge.example.test. {APEX_VALUE} token=hook-secret-token"),
            format!(
                "present _acme-challenge.example.test. {WILDCARD_VALUE} token=hook-secret-token"
            ),
            format!("cleanup _acme-challenge.example.test. {APEX_VALUE} token=hook-secret-token"),
            format!(
                "cleanup _acme-challenge.example.test. {WILDCARD_VALUE} token=hook-secret-token"
            ),
        ]
    );
}

#[tokio::test]
async fn exec_failures_and_timeouts_are_errors_without_secrets() {
    let bin = tempfile::tempdir().unwrap();
    let failing = FakeHook::write(bin.path(), "failing", 3, 0);
    let (_d, p) = with_files("exec", &[("exec.ini", &exec_ini(&failing, ""))]);
    let err = p
        .unwrap()
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(!err.retryable());
    assert!(
        text.contains("present _acme-challenge.example.test. failed (exit status: 3)")
            && text.contains("using token *** for _acme-challenge.example.test.")
            && text.contains("some diagnostics"),
        "{text}"
    );
    assert!(!text.contains("hook-secret-token"), "{text}");

    let slow = FakeHook::write(bin.path(), "slow", 0, 30);
    let (_d, p) = with_files(
        "exec",
        &[("exec.ini", &exec_ini(&slow, "dns_exec_timeout = 1\n"))],
    );
    let start = std::time::Instant::now();
    let err = p
        .unwrap()
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap_err();
    assert!(start.elapsed().as_secs() < 4, "killed at the timeout");
    // What the hook started went with it (its whole process group).
    let sleeps = slow.sleeps();
    assert_eq!(sleeps.len(), 1, "the hook recorded its sleep");
    let gone = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| {
                stat.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !gone(sleeps[0]) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        gone(sleeps[0]),
        "the hook's sleep {} outlived the timeout",
        sleeps[0]
    );
    assert!(err.retryable());
    assert!(
        err.to_string().contains(
            "did not finish within 1s and was killed (raise dns_exec_timeout in exec.ini)"
        ),
        "{err}"
    );

    // A program that is not executable, or missing, is named at load.
    let plain = bin.path().join("plain");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    let (_d, p) = with_files(
        "exec",
        &[(
            "exec.ini",
            &format!("dns_exec_path = {}\n", plain.display()),
        )],
    );
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("exec.ini:1: dns_exec_path: ")
            && err.contains("is not executable: run chmod +x on it"),
        "{err}"
    );
    let (_d, p) = with_files(
        "exec",
        &[("exec.ini", &exec_ini(&failing, "dns_exec_timeout = soon\n"))],
    );
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("exec.ini:3: dns_exec_timeout must be a whole number of seconds above 0"),
        "{err}"
    );
}
