//! fail2ban's configuration syntax, as its `configparserinc` reads it:
//! `[section]` headers, `key = value` (or `key: value`), values continued
//! on indented lines, whole-line comments with `#` or `;`, inline comments
//! with ` ;`, and `%(name)s` interpolation from the same section, then
//! `[DEFAULT]`. Files read later override earlier ones key by key (so
//! `jail.d/*.local` refine `jail.local`).

use std::collections::BTreeMap;
use std::path::Path;

use super::error::BansError;

/// Sections in file order of first appearance; keys lower-cased as
/// Python's configparser does.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    sections: Vec<(String, BTreeMap<String, String>)>,
}

impl ConfigFile {
    /// Parse `text` (named `origin` in errors) on top of what is already read.
    pub fn merge(&mut self, origin: &Path, text: &str) -> Result<(), BansError> {
        let mut current: Option<usize> = None;
        let mut last_key: Option<String> = None;
        for (n, raw) in text.lines().enumerate() {
            let line_no = n + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                // A blank line ends a continued value only in strict
                // parsers; configparser keeps going, as here.
                continue;
            }
            let continued = raw.starts_with([' ', '\t']);
            if continued {
                if let (Some(s), Some(key)) = (current, &last_key) {
                    let value = self.sections[s].1.entry(key.clone()).or_default();
                    let extra = strip_inline_comment(trimmed);
                    if !extra.is_empty() {
                        if !value.is_empty() {
                            value.push('\n');
                        }
                        value.push_str(extra);
                    }
                    continue;
                }
            }
            if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                current = Some(self.section_index(name.trim()));
                last_key = None;
                continue;
            }
            let Some(s) = current else {
                return Err(BansError::Syntax {
                    file: origin.to_path_buf(),
                    line: line_no,
                    message: "a setting before any [section]".into(),
                });
            };
            let split = trimmed.find(['=', ':']).ok_or_else(|| BansError::Syntax {
                file: origin.to_path_buf(),
                line: line_no,
                message: format!("expected `key = value`, found {trimmed:?}"),
            })?;
            let key = trimmed[..split].trim().to_ascii_lowercase();
            let value = strip_inline_comment(trimmed[split + 1..].trim()).to_owned();
            self.sections[s].1.insert(key.clone(), value);
            last_key = Some(key);
        }
        Ok(())
    }

    fn section_index(&mut self, name: &str) -> usize {
        match self.sections.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.sections.push((name.to_owned(), BTreeMap::new()));
                self.sections.len() - 1
            }
        }
    }

    /// Section names other than `DEFAULT` and `INCLUDES`, in order.
    pub fn sections(&self) -> impl Iterator<Item = &str> {
        self.sections
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| *n != "DEFAULT" && *n != "INCLUDES")
    }

    /// The raw value of `key` in `section`, falling back to `[DEFAULT]`.
    pub fn raw(&self, section: &str, key: &str) -> Option<&str> {
        self.own(section, key).or_else(|| self.own("DEFAULT", key))
    }

    fn own(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .iter()
            .find(|(n, _)| n == section)
            .and_then(|(_, m)| m.get(key))
            .map(String::as_str)
    }

    /// Every key of `section` (with `[DEFAULT]`'s underneath).
    pub fn keys(&self, section: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for name in ["DEFAULT", section] {
            if let Some((_, m)) = self.sections.iter().find(|(n, _)| n == name) {
                out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        out
    }

    /// `key` in `section` with `%(name)s` references expanded (and
    /// `%(__name__)s` as the section's name).
    pub fn get(&self, section: &str, key: &str) -> Option<String> {
        let raw = self.raw(section, key)?;
        Some(interpolate(raw, &|name| {
            if name == "__name__" {
                Some(section.to_owned())
            } else {
                self.raw(section, name).map(str::to_owned)
            }
        }))
    }
}

/// configparser's inline comment: `;` after whitespace.
fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] == b';' && bytes[i - 1].is_ascii_whitespace() {
            return value[..i].trim_end();
        }
    }
    value
}

/// Expands `%(name)s` with `lookup`, recursively (bounded, as
/// configparser's MAX_INTERPOLATION_DEPTH), `%%` as `%`. An unknown name
/// is left as written.
pub fn interpolate(value: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut text = value.to_owned();
    for _ in 0..10 {
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        let mut changed = false;
        while let Some(at) = rest.find('%') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(r) = after.strip_prefix('%') {
                out.push_str("%%");
                rest = r;
                continue;
            }
            let reference = after
                .strip_prefix('(')
                .and_then(|a| a.split_once(")s"))
                .and_then(|(name, r)| lookup(name).map(|v| (v, r)));
            match reference {
                Some((v, r)) => {
                    out.push_str(&v);
                    rest = r;
                    changed = true;
                }
                None => {
                    out.push('%');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        text = out;
        if !changed {
            break;
        }
    }
    text.replace("%%", "%")
}

/// Reads and merges `path` into `into`; a missing file is `Ok(false)`.
pub fn merge_file(into: &mut ConfigFile, path: &Path) -> Result<bool, BansError> {
    match std::fs::read_to_string(path) {
        Ok(text) => into.merge(path, &text).map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(BansError::Read {
            file: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ConfigFile {
        let mut c = ConfigFile::default();
        c.merge(Path::new("jail.local"), text).unwrap();
        c
    }

    #[test]
    fn continued_values_defaults_and_inline_comments() {
        let c = parse(
            "[DEFAULT]\nignoreip = 10.0.0.0/8\n           192.168.0.0/16\nbantime  = 600 ; ten minutes\n\n[ssh]\nenabled = false\n[nginx-deny]\nenabled: true\nbantime = 1h\n",
        );
        assert_eq!(
            c.raw("nginx-deny", "ignoreip"),
            Some("10.0.0.0/8\n192.168.0.0/16")
        );
        assert_eq!(c.raw("ssh", "bantime"), Some("600"));
        assert_eq!(c.raw("nginx-deny", "bantime"), Some("1h"));
        assert_eq!(c.raw("nginx-deny", "enabled"), Some("true"));
        assert_eq!(c.sections().collect::<Vec<_>>(), ["ssh", "nginx-deny"]);
    }

    #[test]
    fn regexes_keep_their_hashes_and_semicolons() {
        let c = parse("[Definition]\nfailregex = ^ \\[error\\] \\d+#\\d+: x\n            (compatible; NEWT)\n");
        assert_eq!(
            c.raw("Definition", "failregex"),
            Some("^ \\[error\\] \\d+#\\d+: x\n(compatible; NEWT)")
        );
    }

    #[test]
    fn interpolation_is_recursive_and_names_the_section() {
        let c = parse("[DEFAULT]\nport = 80\n[Definition]\nbad = a|%(more)s\nmore = b|c\nfailregex = ^x(?:%(bad)s) %(__name__)s 100%%\n");
        assert_eq!(
            c.get("Definition", "failregex").unwrap(),
            "^x(?:a|b|c) Definition 100%"
        );
    }

    #[test]
    fn a_setting_outside_a_section_names_file_and_line() {
        let mut c = ConfigFile::default();
        let err = c
            .merge(
                Path::new("/config/fail2ban/jail.local"),
                "# x\nbantime = 5\n",
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/config/fail2ban/jail.local:2: a setting before any [section]"
        );
    }
}
