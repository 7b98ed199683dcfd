//! Files from a `root` (the default server's `/config/www`).
//!
//! Only `Action::Static` reaches here, with a root and the request's `$uri`
//! (already decoded and normalised as nginx does: `//` merged, `.` and `..`
//! resolved). The URI maps to the file system exactly as nginx maps it,
//! root + URI, with nothing dropped: a URI ending in `/` names a directory
//! and is answered from its index (a file there is 404, so `/x/` never
//! serves the file `/x` that `location = /x { deny all; }` protects); a
//! directory without an index is 403; a directory named without the slash
//! is a 301 to it. The route table already answered those errors itself
//! where it could see them through its file probe (so `error_page` applies,
//! and index files are reached by an internal redirect that matches
//! locations again, as in nginx); this is checked again here because the
//! tree may change in between. Stricter than nginx on purpose: `..`, NUL and
//! backslashes are refused, and the file found is canonicalised and must
//! stay under the canonical root, so neither `../` nor a symlink leaves
//! the root.

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
    /// The path names a directory without a trailing slash: redirect to it
    /// (the decision carries the `Location`).
    Directory,
    /// A directory without an index file (nginx: `directory index of ...
    /// is forbidden`): 403.
    NoIndex,
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
    let file = if uri_path.ends_with('/') {
        // nginx's index module: only a directory has an index; a file
        // named with a trailing slash is not found.
        if !meta.is_dir() {
            return StaticFile::Missing;
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
            None if within(&candidate, &canonical_root).await => return StaticFile::NoIndex,
            None => return StaticFile::Missing,
        }
    } else if meta.is_dir() {
        if !within(&candidate, &canonical_root).await {
            return StaticFile::Missing;
        }
        return StaticFile::Directory;
    } else {
        candidate
    };
    // Read through the resolved path that was checked, not the name.
    let Ok(real) = tokio::fs::canonicalize(&file).await else {
        return StaticFile::Missing;
    };
    if !real.starts_with(&canonical_root) {
        return StaticFile::Missing;
    }
    match tokio::fs::read(&real).await {
        Ok(body) => StaticFile::Found {
            body,
            content_type: content_type(&file),
        },
        Err(_) => StaticFile::Missing,
    }
}

/// `true` when `path`, symlinks resolved, lies under `canonical_root`.
async fn within(path: &Path, canonical_root: &Path) -> bool {
    tokio::fs::canonicalize(path)
        .await
        .is_ok_and(|real| real.starts_with(canonical_root))
}

/// `root` + the URI path, every segment kept as written (an empty or `.`
/// segment included, which the kernel resolves as nginx's `open()` would:
/// `file/.` is not a file), so a trailing `/` still names a directory;
/// `None` for anything that could climb out (`..`, NUL, backslash).
pub fn safe_join(root: &Path, uri_path: &str) -> Option<PathBuf> {
    if uri_path.contains('\0') || uri_path.contains('\\') {
        return None;
    }
    let mut out = root.as_os_str().to_owned();
    for part in uri_path.strip_prefix('/').unwrap_or(uri_path).split('/') {
        match part {
            ".." => return None,
            "" | "." => {}
            _ => {
                let mut comps = Path::new(part).components();
                if !matches!(
                    (comps.next(), comps.next()),
                    (Some(Component::Normal(_)), None)
                ) {
                    return None;
                }
            }
        }
        out.push("/");
        out.push(part);
    }
    Some(PathBuf::from(out))
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
            Some(PathBuf::from("/config/www/a/./b//c"))
        );
        assert_eq!(safe_join(root, "/"), Some(PathBuf::from("/config/www/")));
        assert_eq!(
            safe_join(root, "/file.txt/"),
            Some(PathBuf::from("/config/www/file.txt/"))
        );
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
        assert!(matches!(
            lookup(&root, "/sub", &index).await,
            StaticFile::Directory
        ));
        assert!(matches!(
            lookup(&root, "/leak.txt", &index).await,
            StaticFile::Missing
        ));
        assert!(matches!(
            lookup(&root, "/nope", &index).await,
            StaticFile::Missing
        ));
    }

    #[tokio::test]
    async fn a_trailing_slash_names_a_directory_never_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("www");
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("x"), "secret").unwrap();
        std::fs::write(root.join("index.html"), "root").unwrap();
        let index = vec!["index.html".to_owned()];
        for path in ["/x/", "/x//", "/x/.", "/x/./", "/index.html/"] {
            let got = lookup(&root, path, &index).await;
            assert!(matches!(got, StaticFile::Missing), "{path}: {got:?}");
        }
        assert!(matches!(
            lookup(&root, "/x", &index).await,
            StaticFile::Found { body, .. } if body == b"secret"
        ));
        assert!(matches!(
            lookup(&root, "/", &index).await,
            StaticFile::Found { body, .. } if body == b"root"
        ));
        assert!(matches!(
            lookup(&root, "/empty/", &index).await,
            StaticFile::NoIndex
        ));
        assert!(matches!(
            lookup(&root, "/nothing/", &index).await,
            StaticFile::Missing
        ));
    }

    #[tokio::test]
    async fn a_symlinked_directory_leaving_the_root_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("www");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("out")).unwrap();
        let index = vec!["index.html".to_owned()];
        for path in ["/out", "/out/"] {
            let got = lookup(&root, path, &index).await;
            assert!(matches!(got, StaticFile::Missing), "{path}: {got:?}");
        }
    }
}
