//! The immutable, fully-typed result of loading a config tree.
//!
//! PLACEHOLDER: the conf issue replaces this with the real loader and evaluator.

use std::path::{Path, PathBuf};

use super::decision::{Action, Decision, Listen, RequestInfo, ServerRef};

/// A problem found while loading confs; names the file, line and column.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfError {
    /// The text is not valid nginx syntax, or a directive's arguments are wrong.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        /// File.
        file: PathBuf,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// What was expected.
        message: String,
    },
}

/// Warnings from a successful load (ignored directives, shadowed names).
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// One line per warning, `file:line: message`.
    pub warnings: Vec<String>,
}

/// Every server, location and rule from one load, ready to answer requests.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    listens: Vec<Listen>,
}

impl RouteTable {
    /// A table with no servers: every request gets 404.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The sockets the confs ask for.
    pub fn listens(&self) -> &[Listen] {
        &self.listens
    }

    /// The decision nginx would take for this request.
    pub fn decide(&self, _req: &RequestInfo) -> Decision {
        Decision {
            server: ServerRef {
                file: PathBuf::new(),
                line: 0,
                names: vec![],
            },
            location: None,
            action: Action::NotFound,
            response_headers: vec![],
            max_body_size: None,
        }
    }
}

/// Load `<config_dir>/nginx/nginx.conf` and everything it includes.
pub fn load(_config_dir: &Path) -> Result<(RouteTable, LoadReport), Vec<ConfError>> {
    Ok((RouteTable::empty(), LoadReport::default()))
}
