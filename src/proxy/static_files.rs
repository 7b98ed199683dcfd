//! Files from the default server's document root (`/config/www`).
//!
//! Only `Action::Static` reaches here, with a root and a URI path from the
//! route table. The path is joined component by component: `..`, NUL and
//! backslashes are refused, and the result is canonicalised and must stay
//! under the canonical root, so neither `../` nor a symlink leaves the root.

use std::path::{Component, Path, PathBuf};

/// What to send for a static request.
#[derive(Debug)]
pub enum StaticFile {
    /// The file's bytes and its `Content-Type`.
    Found {
        /// File contents.
        body: Vec<u8>,
        /// Media type from the extension.
        content_type: &'static str,
    },
    /// The path names a directory without a trailing slash: redirect to it.
    AddSlash(String),
    /// Nothing to serve (missing, outside the root, or unreadable): 404.
    Missing,
}

/// Look up `uri_path` under `root`, trying `index` names for directories.
pub async fn lookup(root: &Path, uri_path: &str, index: &[String]) -> StaticFile {
    let Some(candidate) = safe_join(root, uri_path) else {
        return StaticFile::Missing;
    };
    let Ok(canonical_root) = tokio::fs::canonicalize(root).await else {
        return StaticFile::Missing;
    };
    let Ok(meta) = tokio::fs::metadata(&candidate).await else {
        return StaticFile::Missing;
    };
    let file = if meta.is_dir() {
        if !uri_path.ends_with('/') {
            return StaticFile::AddSlash(format!("{uri_path}/"));
        }
        let mut found = None;
        for name in index {
            let path = candidate.join(name);
            if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
                found = Some(path);
                break;
            }
        }
        match found {
            Some(path) => path,
            None => return StaticFile::Missing,
        }
    } else {
        candidate
    };
    let Ok(real) = tokio::fs::canonicalize(&file).await else {
        return StaticFile::Missing;
    };
    if !real.starts_with(&canonical_root) {
        return StaticFile::Missing;
    }
    match tokio::fs::read(&real).await {
        Ok(body) => StaticFile::Found {
            body,
            content_type: content_type(&real),
        },
        Err(_) => StaticFile::Missing,
    }
}

/// `root` + the URI path's normal components; `None` for anything that
/// could climb out (`..`, NUL, backslash).
pub fn safe_join(root: &Path, uri_path: &str) -> Option<PathBuf> {
    if uri_path.contains('\0') || uri_path.contains('\\') {
        return None;
    }
    let mut out = root.to_path_buf();
    for part in uri_path.split('/') {
        match part {
            "" | "." => continue,
            ".." => return None,
            _ => {}
        }
        let mut comps = Path::new(part).components();
        match (comps.next(), comps.next()) {
            (Some(Component::Normal(c)), None) => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "application/javascript",
        "json" => "application/json",
        "txt" => "text/plain",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "xml" => "text/xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_join_refuses_parent_components() {
        let root = Path::new("/config/www");
        assert_eq!(safe_join(root, "/../etc/passwd"), None);
        assert_eq!(safe_join(root, "/a/../../b"), None);
        assert_eq!(safe_join(root, "/a\\..\\b"), None);
        assert_eq!(
            safe_join(root, "/a/./b//c"),
            Some(PathBuf::from("/config/www/a/b/c"))
        );
        assert_eq!(safe_join(root, "/"), Some(PathBuf::from("/config/www")));
    }

    #[tokio::test]
    async fn directory_serves_index_and_symlink_out_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("www");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/index.html"), "hi").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("leak.txt")).unwrap();
        let index = vec!["index.html".to_owned()];
        match lookup(&root, "/sub/", &index).await {
            StaticFile::Found { body, content_type } => {
                assert_eq!(body, b"hi");
                assert_eq!(content_type, "text/html");
            }
            other => panic!("expected the index, got {other:?}"),
        }
        assert!(
            matches!(lookup(&root, "/sub", &index).await, StaticFile::AddSlash(p) if p == "/sub/")
        );
        assert!(matches!(
            lookup(&root, "/leak.txt", &index).await,
            StaticFile::Missing
        ));
        assert!(matches!(
            lookup(&root, "/nope", &index).await,
            StaticFile::Missing
        ));
    }
}
