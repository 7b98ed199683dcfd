//! `<config>/dns-conf/<plugin>.ini`: SWAG's credentials files.
//!
//! The format is certbot's: `key = value` lines, `#`/`;` comments, optional
//! quotes around the value. Older files prefix each key with
//! `certbot_dns_<plugin>:` or `certbot-dns-<plugin>:`; the prefix is accepted
//! and dropped. [`parse`] is pure (text in, entries out); [`load`] reads the
//! file and warns when its mode lets group or others read it.

use std::path::{Path, PathBuf};

use super::{DnsError, Secret};

/// One `key = value` line, the key without any legacy prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: String,
    value: String,
    line: u32,
    /// The `[section]` the line is under; empty before the first header.
    section: String,
}

/// A parsed credentials file; every lookup error names the file, the line and
/// the key, never the value.
#[derive(Debug, Clone)]
pub struct IniFile {
    provider: &'static str,
    path: PathBuf,
    entries: Vec<Entry>,
    loose_mode: Option<u32>,
}

/// Plugins whose credentials file is JSON, not ini: certbot-dns-google reads
/// a service account's key file, which SWAG keeps as `dns-conf/google.json`.
const JSON_PLUGINS: &[&str] = &["google"];

/// Where SWAG keeps the credentials of `plugin`: `<config>/dns-conf/<plugin>.ini`
/// (`google.json` for google).
pub fn ini_path(config_dir: &Path, plugin: &str) -> PathBuf {
    let ext = if JSON_PLUGINS.contains(&plugin) {
        "json"
    } else {
        "ini"
    };
    config_dir.join("dns-conf").join(format!("{plugin}.{ext}"))
}

/// Reads `<config>/dns-conf/<provider>.ini`; logs a warning when group or
/// others may read it (it holds API secrets).
pub fn load(provider: &'static str, config_dir: &Path) -> Result<IniFile, DnsError> {
    let path = ini_path(config_dir, provider);
    let text = std::fs::read_to_string(&path).map_err(|e| DnsError::Credentials {
        provider,
        file: path.clone(),
        line: None,
        message: if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "file not found: create it with the dns_{provider}_* keys (see the template in dns-conf/)"
            )
        } else {
            format!("cannot read: {e}")
        },
    })?;
    let mut ini = if JSON_PLUGINS.contains(&provider) {
        parse_json(provider, &text, &path)?
    } else {
        parse(provider, &text, &path)?
    };
    ini.loose_mode = loose_mode(&path);
    if let Some(mode) = ini.loose_mode {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{mode:o}"),
            "{provider}: credentials file is readable by group or others; run chmod 600 on it"
        );
    }
    Ok(ini)
}

#[cfg(unix)]
fn loose_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn loose_mode(_path: &Path) -> Option<u32> {
    None
}

/// Parses the text of a credentials file; `path` is only used in errors.
pub fn parse(provider: &'static str, text: &str, path: &Path) -> Result<IniFile, DnsError> {
    let mut ini = IniFile {
        provider,
        path: path.to_owned(),
        entries: Vec::new(),
        loose_mode: None,
    };
    let mut section = String::new();
    for (index, raw) in text.lines().enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            // certbot's files have no sections and ignore them; route53.ini
            // is an AWS config file whose keys live under `[default]`.
            section = trimmed[1..trimmed.len() - 1].trim().to_owned();
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(ini.error(
                Some(line),
                "expected `key = value` (a line without `=`)".to_owned(),
            ));
        };
        let key = strip_legacy_prefix(provider, key.trim()).to_owned();
        if key.is_empty() {
            return Err(ini.error(Some(line), "a line with `=` but no key".to_owned()));
        }
        if let Some(first) = ini
            .entries
            .iter()
            .find(|e| e.key == key && e.section == section)
        {
            return Err(ini.error(
                Some(line),
                format!("{key} is set twice (first on line {})", first.line),
            ));
        }
        ini.entries.push(Entry {
            key,
            value: unquote(value.trim()).to_owned(),
            line,
            section: section.clone(),
        });
    }
    Ok(ini)
}

/// Parses a JSON credentials file (a service account key): each top-level
/// field whose value is a string, number or boolean becomes a key, on the
/// line where its name first appears, so errors name file, line and key as
/// for an ini file.
pub fn parse_json(provider: &'static str, text: &str, path: &Path) -> Result<IniFile, DnsError> {
    let mut ini = IniFile {
        provider,
        path: path.to_owned(),
        entries: Vec::new(),
        loose_mode: None,
    };
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ini.error(
            u32::try_from(e.line()).ok(),
            format!("not valid JSON ({e}): expected the service account's key file"),
        )
    })?;
    let Some(object) = json.as_object() else {
        return Err(ini.error(
            None,
            "expected a JSON object (a service account's key file)".to_owned(),
        ));
    };
    for (key, value) in object {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        let quoted = format!("\"{key}\"");
        let line = text
            .find(&quoted)
            .map(|at| text[..at].matches('\n').count() + 1)
            .and_then(|l| u32::try_from(l).ok())
            .unwrap_or(1);
        ini.entries.push(Entry {
            key: key.clone(),
            value,
            line,
            section: String::new(),
        });
    }
    Ok(ini)
}

/// A value no credential has but templates do: `<...>`, `TOKEN`,
/// `your_...` / `YOUR_...` (SWAG's templates and their look-alikes).
fn looks_like_placeholder(value: &str) -> bool {
    let v = value.trim();
    (v.starts_with('<') && v.ends_with('>'))
        || v == "TOKEN"
        || v.to_ascii_lowercase().starts_with("your_")
        || v.to_ascii_lowercase().starts_with("your-")
}

/// Drops `certbot_dns_<provider>:` / `certbot-dns-<provider>:` from a key.
fn strip_legacy_prefix<'k>(provider: &str, key: &'k str) -> &'k str {
    for sep in ['_', '-'] {
        let prefix = format!("certbot{sep}dns{sep}{provider}:");
        if let Some(rest) = key.strip_prefix(&prefix) {
            return rest.trim();
        }
    }
    key
}

fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

impl IniFile {
    /// The file this came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The text of the file a key names (a relative path is taken from this
    /// file's folder, as the plugins' docs put key files next to the ini),
    /// or an error naming the key, its line, the path and `how` to fix it.
    pub fn read_file(
        &self,
        key: &str,
        value: &str,
        line: u32,
        how: &str,
    ) -> Result<(PathBuf, String), DnsError> {
        let path = Path::new(value);
        let path = if path.is_relative() {
            self.path.parent().unwrap_or(Path::new(".")).join(path)
        } else {
            path.to_owned()
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((path, text)),
            Err(e) => Err(self.error(
                Some(line),
                format!("{key}: cannot read {}: {e} ({how})", path.display()),
            )),
        }
    }

    /// The provider whose keys this file holds.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// The file mode when group or others may read it (a warning was logged).
    pub fn loose_mode(&self) -> Option<u32> {
        self.loose_mode
    }

    /// The value and line of `key`, when present and not empty.
    pub fn optional(&self, key: &str) -> Option<(&str, u32)> {
        self.entries
            .iter()
            .find(|e| e.key == key && !e.value.is_empty())
            .map(|e| (e.value.as_str(), e.line))
    }

    /// The value and line of `key` under `[section]` (`""`: before any
    /// header), when present and not empty.
    pub fn optional_in(&self, section: &str, key: &str) -> Option<(&str, u32)> {
        self.entries
            .iter()
            .find(|e| e.key == key && e.section == section && !e.value.is_empty())
            .map(|e| (e.value.as_str(), e.line))
    }

    /// Every `(key, value, line)` whose key starts with `prefix`, in file order.
    pub fn with_prefix(&self, prefix: &str) -> Vec<(&str, &str, u32)> {
        self.entries
            .iter()
            .filter(|e| e.key.starts_with(prefix))
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect()
    }

    /// The line of `key` even when its value is empty.
    pub fn line_of(&self, key: &str) -> Option<u32> {
        self.entries.iter().find(|e| e.key == key).map(|e| e.line)
    }

    /// The value of `key`; `what` tells the user what belongs there.
    pub fn required(&self, key: &str, what: &str) -> Result<(&str, u32), DnsError> {
        match self.optional(key) {
            Some(found) => Ok(found),
            None => match self.line_of(key) {
                Some(line) => {
                    Err(self.error(Some(line), format!("{key} is empty: set it to {what}")))
                }
                None => Err(self.error(None, format!("missing key {key}: add `{key} = <{what}>`"))),
            },
        }
    }

    /// Like [`IniFile::required`] for a credential: refuses SWAG's template
    /// placeholder and wraps the value so it never prints.
    pub fn required_secret(
        &self,
        key: &str,
        what: &str,
        placeholder: &str,
    ) -> Result<(Secret, u32), DnsError> {
        let (value, line) = self.required(key, what)?;
        self.refuse_placeholder(key, value, line, placeholder, what)?;
        Ok((Secret::new(value), line))
    }

    /// The API base URL in `key` (a moat extension every HTTP provider has,
    /// for tests and private endpoints), ending in `/`; `default` without it.
    pub fn endpoint(&self, key: &str, default: &str) -> Result<reqwest::Url, DnsError> {
        let Some((raw, line)) = self.optional(key) else {
            return Ok(
                reqwest::Url::parse(default).expect("a provider's default endpoint is a URL")
            );
        };
        let raw = if raw.ends_with('/') {
            raw.to_owned()
        } else {
            format!("{raw}/")
        };
        reqwest::Url::parse(&raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| self.error(Some(line), format!("{key} must be an http(s) URL")))
    }

    /// Errors when `value` (of `key` on `line`) is still the template's
    /// placeholder.
    pub fn refuse_placeholder(
        &self,
        key: &str,
        value: &str,
        line: u32,
        placeholder: &str,
        what: &str,
    ) -> Result<(), DnsError> {
        if value == placeholder || looks_like_placeholder(value) {
            return Err(self.error(
                Some(line),
                format!(
                    "{key} still holds the template's placeholder value: replace it with {what}"
                ),
            ));
        }
        Ok(())
    }

    /// A credentials error pointing into this file.
    pub fn error(&self, line: Option<u32>, message: String) -> DnsError {
        DnsError::Credentials {
            provider: self.provider,
            file: self.path.clone(),
            line,
            message,
        }
    }
}

#[cfg(test)]
#[path = "ini_tests.rs"]
mod tests;
