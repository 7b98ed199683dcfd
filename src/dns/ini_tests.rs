//! Table tests: every error names the file, the line and the key.

use super::*;

const FILE: &str = "/config/dns-conf/aliyun.ini";

fn parsed(text: &str) -> Result<IniFile, DnsError> {
    parse("aliyun", text, Path::new(FILE))
}

#[test]
fn keys_values_comments_and_quotes() {
    let ini = parsed(
        "# comment\n; also\n\ndns_aliyun_access_key = abc\ndns_aliyun_access_key_secret=\"s e\"\n",
    )
    .unwrap();
    assert_eq!(ini.optional("dns_aliyun_access_key"), Some(("abc", 4)));
    assert_eq!(
        ini.optional("dns_aliyun_access_key_secret"),
        Some(("s e", 5))
    );
}

#[test]
fn legacy_prefixes_are_accepted() {
    let ini = parsed(
        "certbot_dns_aliyun:dns_aliyun_access_key = a\ncertbot-dns-aliyun:dns_aliyun_access_key_secret = b\n",
    )
    .unwrap();
    assert_eq!(ini.optional("dns_aliyun_access_key"), Some(("a", 1)));
    assert_eq!(ini.optional("dns_aliyun_access_key_secret"), Some(("b", 2)));
}

#[test]
fn errors_name_file_line_and_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "dns_aliyun_access_key = a\n",
            "dns_aliyun_access_key_secret",
            "aliyun: /config/dns-conf/aliyun.ini: missing key dns_aliyun_access_key_secret: add `dns_aliyun_access_key_secret = <the AccessKey secret>`",
        ),
        (
            "dns_aliyun_access_key = a\ndns_aliyun_access_key_secret =\n",
            "dns_aliyun_access_key_secret",
            "aliyun: /config/dns-conf/aliyun.ini:2: dns_aliyun_access_key_secret is empty: set it to the AccessKey secret",
        ),
        (
            "dns_aliyun_access_key_secret = 1234567890abcdef1234567890abcdef\n",
            "dns_aliyun_access_key_secret",
            "aliyun: /config/dns-conf/aliyun.ini:1: dns_aliyun_access_key_secret still holds the template's placeholder value: replace it with the AccessKey secret",
        ),
    ];
    for (text, key, want) in cases {
        let ini = parsed(text).unwrap();
        let err = ini
            .required_secret(
                key,
                "the AccessKey secret",
                "1234567890abcdef1234567890abcdef",
            )
            .unwrap_err();
        assert_eq!(err.to_string(), *want, "for {text:?}");
    }
}

#[test]
fn syntax_errors_name_the_line() {
    let cases: &[(&str, &str)] = &[
        (
            "# ok\njust words\n",
            "aliyun: /config/dns-conf/aliyun.ini:2: expected `key = value` (a line without `=`)",
        ),
        (
            "dns_aliyun_access_key = a\ndns_aliyun_access_key = b\n",
            "aliyun: /config/dns-conf/aliyun.ini:2: dns_aliyun_access_key is set twice (first on line 1)",
        ),
        ("= x\n", "aliyun: /config/dns-conf/aliyun.ini:1: a line with `=` but no key"),
    ];
    for (text, want) in cases {
        assert_eq!(parsed(text).unwrap_err().to_string(), *want, "for {text:?}");
    }
}

#[test]
fn missing_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = load("aliyun", dir.path()).unwrap_err().to_string();
    assert!(
        err.contains(&format!("{}/dns-conf/aliyun.ini", dir.path().display())),
        "{err}"
    );
    assert!(err.contains("file not found"), "{err}");
}

#[test]
fn group_readable_file_is_flagged() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dns-conf")).unwrap();
    let path = ini_path(dir.path(), "aliyun");
    std::fs::write(&path, "dns_aliyun_access_key = a\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(
        load("aliyun", dir.path()).unwrap().loose_mode(),
        Some(0o640)
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(load("aliyun", dir.path()).unwrap().loose_mode(), None);
}

#[test]
fn secrets_never_print() {
    let ini = parsed("dns_aliyun_access_key_secret = hunter2-very-secret\n").unwrap();
    let (secret, _) = ini
        .required_secret("dns_aliyun_access_key_secret", "x", "placeholder")
        .unwrap();
    assert_eq!(format!("{secret} {secret:?}"), "*** ***");
    assert_eq!(secret.expose(), "hunter2-very-secret");
}

#[test]
fn sections_scope_keys_and_their_duplicates() {
    let ini = parsed(
        "top = 0\n[default]\naws_access_key_id = A\n[profile other]\naws_access_key_id = B\n",
    )
    .unwrap();
    assert_eq!(
        ini.optional_in("default", "aws_access_key_id"),
        Some(("A", 3))
    );
    assert_eq!(
        ini.optional_in("profile other", "aws_access_key_id"),
        Some(("B", 5))
    );
    assert_eq!(ini.optional_in("", "top"), Some(("0", 1)));
    assert_eq!(ini.optional_in("default", "top"), None);
    let err = parsed("[default]\na = 1\na = 2\n")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(":3: a is set twice (first on line 2)"),
        "{err}"
    );
}

#[test]
fn placeholder_look_alikes_are_refused_too() {
    for v in [
        "<your key>",
        "TOKEN",
        "your_api_token",
        "YOUR_TOKEN",
        "your-key-here",
    ] {
        let ini = parsed(&format!("dns_aliyun_access_key = {v}\n")).unwrap();
        let err = ini
            .required_secret(
                "dns_aliyun_access_key",
                "your AccessKey ID",
                "LTAI-placeholder",
            )
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(":1: dns_aliyun_access_key still holds the template's placeholder value"),
            "{v}: {err}"
        );
    }
    let ini = parsed("dns_aliyun_access_key = LTAI5tRealKey\n").unwrap();
    assert!(ini
        .required_secret("dns_aliyun_access_key", "x", "LTAI-placeholder")
        .is_ok());
}
