//! Directives a load accepted without acting on them, and the one summary
//! line a load reports about them (instead of one warning per directive,
//! which used to be half of moat's startup log).

use std::path::{Path, PathBuf};

/// One directive that was accepted but has no effect in moat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoEffect {
    /// The directive name.
    pub name: String,
    /// The file it is in.
    pub file: PathBuf,
    /// Its 1-based line.
    pub line: u32,
    /// `true` when it is access-affecting: the level that holds it answers
    /// 503 rather than serving without it.
    pub access: bool,
}

/// How many places are shown per directive name before "+N more".
const SHOWN_PER_NAME: usize = 2;

/// The summary line for `items`, or `None` when there are none:
/// `3 directives have no effect in moat: ssl_ciphers (nginx/ssl.conf:10), ...;
/// see README#unsupported`. Paths are shown relative to `config_dir`;
/// access-affecting ones are marked `[503]`.
pub fn summary(items: &[NoEffect], config_dir: &Path) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    let mut names: Vec<(&str, Vec<&NoEffect>)> = Vec::new();
    for it in items {
        match names.iter_mut().find(|(n, _)| *n == it.name) {
            Some((_, v)) => v.push(it),
            None => names.push((&it.name, vec![it])),
        }
    }
    let parts: Vec<String> = names
        .iter()
        .map(|(name, places)| {
            let mut shown: Vec<String> = places
                .iter()
                .take(SHOWN_PER_NAME)
                .map(|p| {
                    let f = p.file.strip_prefix(config_dir).unwrap_or(&p.file);
                    format!("{}:{}", f.display(), p.line)
                })
                .collect();
            if places.len() > SHOWN_PER_NAME {
                shown.push(format!("+{} more", places.len() - SHOWN_PER_NAME));
            }
            let mark = if places.iter().any(|p| p.access) {
                " [503]"
            } else {
                ""
            };
            format!("{name}{mark} ({})", shown.join(", "))
        })
        .collect();
    let n = names.len();
    Some(format!(
        "{n} directive{} {} no effect in moat: {}; see README#unsupported",
        if n == 1 { "" } else { "s" },
        if n == 1 { "has" } else { "have" },
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(name: &str, file: &str, line: u32) -> NoEffect {
        NoEffect {
            name: name.into(),
            file: PathBuf::from("/c").join(file),
            line,
            access: name == "alias",
        }
    }

    #[test]
    fn one_line_groups_places_by_name_relative_to_the_config_dir() {
        let items = [
            at("ssl_ciphers", "nginx/ssl.conf", 10),
            at("proxy_buffering", "nginx/proxy.conf", 3),
            at("proxy_buffering", "nginx/a.conf", 4),
            at("proxy_buffering", "nginx/b.conf", 5),
            at("alias", "nginx/c.conf", 6),
        ];
        assert_eq!(
            summary(&items, Path::new("/c")).as_deref(),
            Some(
                "3 directives have no effect in moat: ssl_ciphers (nginx/ssl.conf:10), \
                 proxy_buffering (nginx/proxy.conf:3, nginx/a.conf:4, +1 more), \
                 alias [503] (nginx/c.conf:6); see README#unsupported"
            )
        );
        assert_eq!(summary(&[], Path::new("/c")), None);
    }
}
