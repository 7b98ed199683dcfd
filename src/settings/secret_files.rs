//! linuxserver's `FILE__` convention: `FILE__URL=/run/secrets/url` sets `URL`
//! to that file's content, for every variable (Docker and compose secrets
//! are files, and a SWAG user's compose file may already use them).
//!
//! linuxserver images read the file with `$(cat file)`, which drops trailing
//! newlines; moat does the same. Where linuxserver logs a missing file and
//! goes on without the variable, moat refuses to start: a secret that is not
//! there is a deployment mistake, and starting without it (no URL: a
//! self-signed certificate; no token: failed renewals later) hides it.

use std::path::Path;

use super::error::SettingsError;

/// The prefix that names a variable read from a file.
pub const PREFIX: &str = "FILE__";

/// The environment with every `FILE__NAME=path` replaced by `NAME=<content>`
/// (a file's value wins over a plain `NAME` in the environment, as in
/// linuxserver images). `read` is the file reader, so the rule is testable
/// without files; [`super::Settings::from_env`] passes `std::fs`.
pub fn resolve<I, R>(vars: I, read: R) -> Result<Vec<(String, String)>, Vec<SettingsError>>
where
    I: IntoIterator<Item = (String, String)>,
    R: Fn(&Path) -> std::io::Result<String>,
{
    let mut plain = Vec::new();
    let mut from_files = Vec::new();
    let mut errors = Vec::new();
    for (name, value) in vars {
        let Some(target) = name.strip_prefix(PREFIX) else {
            plain.push((name, value));
            continue;
        };
        if target.is_empty() {
            errors.push(SettingsError::SecretFile {
                var: name.clone(),
                path: value,
                problem: "names no variable (FILE__ must be followed by a variable's name)".into(),
            });
            continue;
        }
        match read(Path::new(&value)) {
            Ok(content) => from_files.push((
                target.to_string(),
                content.trim_end_matches(['\n', '\r']).to_string(),
            )),
            Err(e) => errors.push(SettingsError::SecretFile {
                var: name.clone(),
                path: value,
                problem: format!("cannot be read: {e}"),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    plain.retain(|(name, _)| !from_files.iter().any(|(f, _)| f == name));
    plain.extend(from_files);
    Ok(plain)
}

/// One variable as [`resolve`] sets it, looking only at `NAME` and
/// `FILE__NAME` (so an unrelated broken secret does not stop, say,
/// `moat check` from finding CONFIG_DIR). `None` when neither is set.
pub fn lookup<I, R>(vars: I, read: R, name: &str) -> Result<Option<String>, Vec<SettingsError>>
where
    I: IntoIterator<Item = (String, String)>,
    R: Fn(&Path) -> std::io::Result<String>,
{
    let from_file = format!("{PREFIX}{name}");
    let wanted = vars
        .into_iter()
        .filter(|(k, _)| k == name || *k == from_file);
    Ok(resolve(wanted, read)?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn reader(p: &Path) -> io::Result<String> {
        match p.to_str() {
            Some("/run/secrets/url") => Ok("example.com\n\n".into()),
            Some("/run/secrets/token") => Ok("s3cret".into()),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "No such file or directory",
            )),
        }
    }

    #[test]
    fn file_content_replaces_the_variable_and_wins_over_a_plain_one() {
        let out = resolve(
            pairs(&[
                ("URL", "plain.example"),
                ("FILE__URL", "/run/secrets/url"),
                ("FILE__DUCKDNSTOKEN", "/run/secrets/token"),
                ("TZ", "UTC"),
            ]),
            reader,
        )
        .unwrap();
        assert_eq!(
            out,
            pairs(&[
                ("TZ", "UTC"),
                ("URL", "example.com"),
                ("DUCKDNSTOKEN", "s3cret")
            ])
        );
    }

    #[test]
    fn a_missing_file_or_bare_prefix_is_an_error_naming_variable_and_path() {
        let errs = resolve(
            pairs(&[("FILE__EMAIL", "/run/secrets/nope"), ("FILE__", "/x")]),
            reader,
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(
            text[0].starts_with("FILE__EMAIL=\"/run/secrets/nope\": cannot be read"),
            "{}",
            text[0]
        );
        assert!(text[1].contains("names no variable"), "{}", text[1]);
    }

    #[test]
    fn lookup_reads_one_variable_from_its_file_and_ignores_other_secrets() {
        let env = pairs(&[
            ("RENEW_BEFORE", "60"),
            ("FILE__URL", "/run/secrets/url"),
            ("FILE__EMAIL", "/run/secrets/nope"),
        ]);
        assert_eq!(
            lookup(env.clone(), reader, "URL").unwrap().as_deref(),
            Some("example.com")
        );
        assert_eq!(
            lookup(env.clone(), reader, "RENEW_BEFORE")
                .unwrap()
                .as_deref(),
            Some("60")
        );
        assert_eq!(lookup(env.clone(), reader, "CONFIG_DIR").unwrap(), None);
        let errs = lookup(env, reader, "EMAIL").unwrap_err();
        assert!(
            errs[0]
                .to_string()
                .starts_with("FILE__EMAIL=\"/run/secrets/nope\": cannot be read"),
            "{}",
            errs[0]
        );
    }
}
