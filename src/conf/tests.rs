//! Unit tests for the syntax layer (lexer, parser, include expansion),
//! typed values, load-time errors and htpasswd verification. Routing rules
//! are tested end to end in `tests/conf_routing.rs`.

use std::path::Path;
use std::time::Duration;

use super::compile::values::{duration, size};
use super::htpasswd::Htpasswd;
use super::*;

fn p(src: &str) -> Vec<Directive> {
    parse(src, Path::new("t.conf")).unwrap_or_else(|e| panic!("{e}"))
}

fn err(src: &str) -> String {
    parse(src, Path::new("t.conf"))
        .expect_err("must not parse")
        .to_string()
}

fn args(d: &Directive) -> Vec<&str> {
    d.args.iter().map(|a| a.value.as_str()).collect()
}

#[test]
fn semicolon_inside_quotes_is_text() {
    let t = p(r#"proxy_cookie_path / "/; HTTPOnly; Secure";"#);
    assert_eq!(args(&t[0]), ["/", "/; HTTPOnly; Secure"]);
}

#[test]
fn empty_quoted_strings_are_arguments() {
    let t = p("proxy_set_header Proxy \"\";\nproxy_set_header Referer '';");
    assert_eq!(args(&t[0]), ["Proxy", ""]);
    assert_eq!(args(&t[1]), ["Referer", ""]);
    assert_eq!(t[1].args[1].kind, ArgKind::SingleQuoted);
}

#[test]
fn single_quotes_hold_double_quotes() {
    let t = p(r#"sub_filter 'url("/css/' 'url("/themepark/css/';"#);
    assert_eq!(args(&t[0]), [r#"url("/css/"#, r#"url("/themepark/css/"#]);
}

#[test]
fn backslash_is_literal_except_quotes_backslash_t_r_n() {
    let t = p(r#"set $a "q\"s\'b\\t\tr\rn\nx\.y";"#);
    assert_eq!(t[0].args[1].value, "q\"s'b\\t\tr\rn\nx\\.y");
    let t = p(r"location ~ ^/a\.b\/c { }");
    assert_eq!(args(&t[0]), ["~", r"^/a\.b\/c"]);
}

#[test]
fn quoted_string_directly_followed_by_paren() {
    let t = p(r#"if ($http_content_type = "application/grpc") { }"#);
    assert_eq!(
        args(&t[0]),
        ["($http_content_type", "=", "application/grpc", ")"]
    );
    assert_eq!(t[0].block.as_ref().map(Vec::len), Some(0));
}

#[test]
fn quoted_regex_may_hold_braces() {
    let t = p(r#"server_name "~^(?<upstream_port>[0-9]{1,10})\.code\..*$";"#);
    assert_eq!(
        t[0].args[0].value,
        r"~^(?<upstream_port>[0-9]{1,10})\.code\..*$"
    );
}

#[test]
fn comments_start_only_where_a_word_would() {
    let t = p("a b#c; # comment with { \" ; }\nd \"#not\";");
    assert_eq!(args(&t[0]), ["b#c"]);
    assert_eq!(args(&t[1]), ["#not"]);
    assert_eq!(t.len(), 2);
}

#[test]
fn variable_braces_stay_inside_a_word() {
    let t = p("return 200 ${host}x;");
    assert_eq!(args(&t[0]), ["200", "${host}x"]);
}

#[test]
fn utf8_text_and_positions_count_characters() {
    let t = p("# “curly” quotes\n  set $x \"ü\"; set $y é;");
    assert_eq!(t[0].args[1].value, "ü");
    assert_eq!((t[1].span.line, t[1].span.column), (2, 15));
    assert_eq!((t[1].args[1].span.line, t[1].args[1].span.column), (2, 22));
}

#[test]
fn every_node_has_file_line_column() {
    let t = p("http {\n  server {\n    listen 80;\n  }\n}\n");
    let server = &t[0].block.as_ref().expect("block")[0];
    let listen = &server.block.as_ref().expect("block")[0];
    assert_eq!(*listen.span.file, Path::new("t.conf"));
    assert_eq!((server.span.line, server.span.column), (2, 3));
    assert_eq!(
        (listen.args[0].span.line, listen.args[0].span.column),
        (3, 12)
    );
}

#[test]
fn syntax_errors_name_file_line_column_and_what_was_expected() {
    let cases = [
        (
            "listen 80",
            "t.conf:1:10: unexpected end of file, expected \";\" or \"{\"",
        ),
        (
            "http {\n listen 80;\n",
            "t.conf:3:1: unexpected end of file, expected \"}\" to close \"http\" opened at line 1",
        ),
        ("}\n", "t.conf:1:1: unexpected \"}\", no block is open"),
        (
            "a;\n;",
            "t.conf:2:1: unexpected \";\", expected a directive name",
        ),
        (
            "a \"b\"c;",
            "t.conf:1:6: unexpected \"c\" after a quoted string, expected a space, \";\" or \"{\"",
        ),
        (
            "a \"b;\n",
            "t.conf:1:3: unexpected end of file, expected a closing \"",
        ),
        (
            "a b }",
            "t.conf:1:5: unexpected \"}\", expected \";\" or \"{\"",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), want, "for {src:?}");
    }
}

#[test]
fn nginx_time_and_size_syntax() {
    assert_eq!(duration("240"), Ok(Duration::from_secs(240)));
    assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(duration("1d"), Ok(Duration::from_secs(86400)));
    assert!(duration("5x").is_err());
    assert!(duration("").is_err());
    assert_eq!(size("0"), Ok(0));
    assert_eq!(size("10m"), Ok(10 * 1024 * 1024));
    assert_eq!(size("8K"), Ok(8192));
    assert!(size("1t").is_err());
}

/// A config dir with `nginx/nginx.conf` = `main` and extra files.
fn tree(main: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let nginx = dir.path().join("nginx");
    std::fs::create_dir_all(&nginx).expect("mkdir");
    std::fs::write(nginx.join("nginx.conf"), main).expect("write");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

fn load_errors(dir: &tempfile::TempDir) -> Vec<String> {
    match load(dir.path()) {
        Ok(_) => vec![],
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

const HTTP_WITH_CONFS: &str = "http {\n include /config/nginx/confs/*.conf;\n}\n";

#[test]
fn include_glob_expands_in_byte_order_and_never_loads_samples() {
    let server = |n: &str| format!("server {{ listen 8{n}; server_name {n}.example; }}\n");
    let dir = tree(
        HTTP_WITH_CONFS,
        &[
            ("nginx/confs/b.conf", &server("2")),
            ("nginx/confs/B.conf", &server("1")),
            ("nginx/confs/a.conf", &server("3")),
            ("nginx/confs/c.conf.sample", "this is not nginx syntax"),
            ("nginx/confs/.hidden.conf", "neither is this"),
        ],
    );
    let (t, report) = load(dir.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let names: Vec<String> = t.describe().iter().map(|s| s.names[0].clone()).collect();
    assert_eq!(names, ["1.example", "3.example", "2.example"]);
    assert_eq!(report.files.len(), 4);
}

#[test]
fn glob_matching_nothing_is_fine() {
    let dir = tree(HTTP_WITH_CONFS, &[]);
    assert!(load(dir.path()).is_ok());
}

#[test]
fn missing_literal_include_names_the_including_file_and_line() {
    let dir = tree("http {\n\n  include /config/nginx/nope.conf;\n}\n", &[]);
    let errs = load_errors(&dir);
    assert_eq!(errs.len(), 1);
    let want = format!(
        "{}:3:3: include /config/nginx/nope.conf: cannot read {}",
        dir.path().join("nginx/nginx.conf").display(),
        dir.path().join("nginx/nope.conf").display()
    );
    assert!(errs[0].starts_with(&want), "{errs:?}");
}

#[test]
fn include_cycle_names_both_files() {
    let dir = tree(
        "include a.conf;\n",
        &[
            ("nginx/a.conf", "include b.conf;\n"),
            ("nginx/b.conf", "include a.conf;\n"),
        ],
    );
    let errs = load_errors(&dir);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("include cycle"), "{errs:?}");
    assert!(
        errs[0].contains("b.conf:1:1") && errs[0].contains("nginx/a.conf"),
        "{errs:?}"
    );
}

#[test]
fn nginx_system_includes_are_skipped_with_a_warning() {
    let dir = tree(
        "include /etc/nginx/modules/*.conf;\nhttp { include /etc/nginx/mime.types; }\n",
        &[],
    );
    let (_, report) = load(dir.path()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
    assert!(report.warnings[1].contains(":2: include /etc/nginx/mime.types: nginx system file"));
}

#[test]
fn errors_in_several_files_are_all_reported() {
    let dir = tree(
        HTTP_WITH_CONFS,
        &[
            ("nginx/confs/a.conf", "server {"),
            ("nginx/confs/b.conf", "server { listen x; }"),
        ],
    );
    let errs = load_errors(&dir);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].contains("a.conf:1:9: unexpected end of file"));
    assert!(errs[1].contains("b.conf:1:10: invalid listen address \"x\""));
}

/// Loads one server block and returns the load errors.
fn server_errors(body: &str) -> Vec<String> {
    let dir = tree(&format!("http {{\nserver {{\n{body}\n}}\n}}\n"), &[]);
    load_errors(&dir)
        .into_iter()
        .map(|e| {
            e.split_once("nginx.conf:")
                .map(|(_, r)| r.to_string())
                .unwrap_or(e)
        })
        .collect()
}

#[test]
fn bad_directive_values_fail_the_load_at_their_position() {
    let cases = [
        ("proxy_pass http://x;", "3:1: \"proxy_pass\" directive is not allowed here"),
        ("location / { listen 80; }", "3:14: \"listen\" directive is not allowed here"),
        ("location / { proxy_read_timeout 5x; }", "3:33: invalid time \"5x\", expected e.g. 60, 500ms, 30s, 5m, 1h, 1d"),
        ("client_max_body_size lots;", "3:22: invalid size \"lots\", expected e.g. 0, 512, 8k, 10m, 1g"),
        ("location ~ ^/(a { }", "3:12: regex \"^/(a\" does not compile: error: unclosed group"),
        ("location / { proxy_set_header \"Bad Name\" x; }", "3:31: invalid header name \"Bad Name\""),
        ("location / { return 301 $nosuch; }", "3:25: unknown \"nosuch\" variable"),
        ("set $upstream_proto <http or https>;", "3:1: invalid number of arguments in \"set\" directive"),
        ("location / { allow 10.0.0.0/33; }", "3:20: invalid address \"10.0.0.0/33\", expected an IP, a CIDR network or \"all\""),
        ("location / { proxy_pass ftp://x; }", "3:25: invalid URL prefix in \"ftp://x\", expected http:// or https://"),
        ("location ~ /x { proxy_pass http://a/b; }", "3:28: \"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement"),
        ("location /a { location /b { } }", "3:15: location \"/b\" is outside location \"/a\""),
        ("location / { } location / { }", "3:16: duplicate location \"/\"; the first is at"),
        ("if ($host) { proxy_pass http://x; }", "3:14: \"proxy_pass\" directive is not allowed here"),
        ("upstream x { }", "3:1: \"upstream\" directive is not allowed here"),
        ("location / { rewrite ^ /x bogus; }", "3:27: invalid rewrite flag \"bogus\", expected last, break, redirect or permanent"),
    ];
    for (body, want) in cases {
        let errs = server_errors(body);
        assert!(
            errs.iter().any(|e| e.starts_with(want)),
            "for {body:?}: want {want:?}, got {errs:?}"
        );
    }
}

#[test]
fn unknown_directives_fail_and_no_effect_ones_are_listed_once_each() {
    let dir = tree(
        "http {\nserver {\nfrobnicate 1;\nproxy_buffering off;\nlocation / { frobnicate 2; proxy_buffering off; }\n}\n}\n",
        &[],
    );
    let errs: Vec<String> = load_errors(&dir)
        .into_iter()
        .map(|e| {
            e.rsplit_once("nginx.conf:")
                .map(|(_, r)| r.to_string())
                .unwrap_or(e)
        })
        .collect();
    assert_eq!(
        errs,
        [
            "3:1: unknown directive \"frobnicate\"",
            "5:14: unknown directive \"frobnicate\""
        ]
    );
    let dir = tree(
        "http {\nupstream x { }\nserver {\nproxy_buffering off;\nlocation / { proxy_buffering off; }\n}\n}\n",
        &[],
    );
    assert!(load_errors(&dir)
        .iter()
        .any(|e| e.ends_with("nginx.conf:2:1: \"upstream\" blocks are not supported by moat")));
    let dir = tree(
        "http {\nserver {\nproxy_buffering off;\nlocation / { proxy_buffering off; }\n}\n}\n",
        &[],
    );
    let (_, report) = load(dir.path()).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let places: Vec<(String, u32)> = report
        .no_effect
        .iter()
        .map(|n| (n.name.clone(), n.line))
        .collect();
    assert_eq!(
        places,
        [
            ("proxy_buffering".to_string(), 3),
            ("proxy_buffering".to_string(), 4)
        ]
    );
}

const APR1: &str = "$apr1$8sFt66rZ$6hb.eBN4cniSb4vtMuo3g1";
const SHA: &str = "{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=";
const BCRYPT: &str = "$2y$05$75L4JbArmnM8DYFpSUG3eObCE1CWrpDpsqBUCJh9L/Oh9oVBWCKvK";

#[test]
fn htpasswd_verifies_bcrypt_sha1_and_apr1_entries() {
    // Hashes of "hunter2" made by openssl and libxcrypt, not by moat.
    let text = format!("# users\nb:{BCRYPT}\ns:{SHA}\na:{APR1}\nd:abJnggxhB/yWI\n");
    let (h, problems) = Htpasswd::parse(&text);
    assert_eq!(
        problems,
        ["line 5: user \"d\": unsupported password hash (use bcrypt, {SHA} or $apr1$)"]
    );
    for user in ["b", "s", "a"] {
        assert!(
            h.verify(user, "hunter2"),
            "{user} accepts the right password"
        );
        assert!(
            !h.verify(user, "hunter3"),
            "{user} rejects a wrong password"
        );
    }
    assert!(
        !h.verify("d", "hunter2"),
        "an unverifiable entry never matches"
    );
    assert!(!h.verify("nobody", "hunter2"));
    assert!(h.verify_header("Basic YTpodW50ZXIy"), "a:hunter2");
    assert!(!h.verify_header("Basic YTpodW50ZXIz"), "a:hunter3");
    assert!(!h.verify_header("Bearer YTpodW50ZXIy"));
}

/// What Debian's nginx 1.22 answered for `return 200 "[$remote_user]"`
/// with each `Authorization` value (probed by hand; the wire test
/// `error_log_nginx.rs` compares the common ones live).
#[test]
fn basic_credentials_are_found_as_nginx_finds_them() {
    use super::htpasswd::basic_credentials;
    let user = |v: &str| basic_credentials(v).map(|(u, _)| u);
    #[rustfmt::skip]
    let cases: &[(&str, Option<&str>)] = &[
        ("Basic YWxpY2U6cHc=", Some("alice")),
        ("basic YWxpY2U6cHc=", Some("alice")),
        ("BASIC YWxpY2U6cHc=", Some("alice")),
        ("Basic   YWxpY2U6cHc=", Some("alice")),
        ("Basic\tYWxpY2U6cHc=", None),
        ("Basic", None),
        ("Basic ", None),
        ("Basic: YWxpY2U6cHc=", None),
        ("Bearer YWxpY2U6cHc=", None),
        ("Basic YWxpY2Vwdw==", None),          // no colon
        ("Basic OnB3", None),                   // ":pw": empty user
        ("Basic YWw6", Some("al")),             // "al:": empty password
        ("Basic YWxpY2U6cHc", Some("alice")),   // unpadded
        ("Basic YWxpY2U6cHd", Some("alice")),   // stray low bits
        ("Basic YWxpY2U6cH", Some("alice")),
        ("Basic YWxpY2U6c", None),              // a lone trailing sextet
        ("Basic Y", None),
        ("Basic YWxpY2U6cHc=garbage", Some("alice")),
        ("Basic YWxpY2U6cHc=YWxp", Some("alice")),
        ("Basic YWxpY2U6cHc==", Some("alice")),
        ("Basic YWxpY2U6cHc= x", Some("alice")),
        ("Basic YWxpY2U6cHc ", Some("alice")),  // trailing spaces are not the value's
        ("Basic YWxpY2U6cHc\t", None),
        ("Basic YWxpY2U6cHc!", None),
        ("Basic YW xpY2U6cHc=", None),
        ("Basic -_", None),                     // not the URL-safe alphabet
        ("Basic =YWxp", None),
        ("Basic YWwgaWNlOnA6dw==", Some("al ice")),
        ("Basic w6VsaWNlOnB3", Some("\u{e5}lice")),
        ("Basic YSJiOng=", Some("a\"b")),
    ];
    for (value, want) in cases {
        assert_eq!(user(value).as_deref(), *want, "{value:?}");
    }
    assert_eq!(
        basic_credentials("Basic YWw6cDp3"),
        Some(("al".to_string(), "p:w".to_string()))
    );
}

mod fuzz {
    use proptest::prelude::*;

    use super::super::parse;

    /// Text built from the characters that drive the tokenizer.
    fn nginxish() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("{".to_string()),
                Just("}".to_string()),
                Just(";".to_string()),
                Just("\"".to_string()),
                Just("'".to_string()),
                Just("\\".to_string()),
                Just("#".to_string()),
                Just("$".to_string()),
                Just("(".to_string()),
                Just(")".to_string()),
                Just(" ".to_string()),
                Just("\n".to_string()),
                Just("ü".to_string()),
                "[a-z_]{1,6}",
            ],
            0..40,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn parser_never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
            let _ = parse(&s, std::path::Path::new("fuzz.conf"));
        }

        #[test]
        fn parser_never_panics_on_nginx_like_text(s in nginxish()) {
            if let Err(e) = parse(&s, std::path::Path::new("fuzz.conf")) {
                // Every error names the file and a position inside the text.
                let line = e.line().expect("syntax errors have a line");
                prop_assert!(line as usize <= s.lines().count() + 1);
                prop_assert!(e.to_string().starts_with("fuzz.conf:"));
            }
        }

        #[test]
        fn load_never_panics_on_nginx_like_text(s in nginxish()) {
            let dir = std::path::Path::new("/nonexistent/moat-fuzz");
            let text = format!("http {{ server {{ location / {{ {s} }} }} }}");
            let _ = super::super::load_str(dir, &dir.join("nginx.conf"), &text);
        }
    }
}
