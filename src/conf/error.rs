//! Errors from loading a config tree. Every variant names the file and,
//! where there is one, the line and column, so `moat check` can print
//! `file:line:column: message` and the user knows what to edit.

use std::path::{Path, PathBuf};

use super::ast::Span;

/// A problem found while loading confs; names the file, line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfError {
    /// The text is not valid nginx syntax, or a directive's arguments are
    /// wrong, or a directive is in a context nginx rejects. Fix the text at
    /// that position.
    #[error("{}:{line}:{column}: {message}", file.display())]
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
    /// A file could not be read (missing `nginx.conf`, unreadable include or
    /// htpasswd file). Create the file or fix its permissions.
    #[error("{}: {message}", file.display())]
    Io {
        /// The file that could not be read.
        file: PathBuf,
        /// The operating-system error.
        message: String,
    },
}

impl ConfError {
    /// An error at a source position.
    pub(crate) fn at(span: &Span, message: impl Into<String>) -> Self {
        ConfError::Invalid {
            file: span.file.as_ref().clone(),
            line: span.line,
            column: span.column,
            message: message.into(),
        }
    }

    /// A file that could not be read.
    pub(crate) fn io(file: &Path, err: &std::io::Error) -> Self {
        ConfError::Io {
            file: file.to_path_buf(),
            message: err.to_string(),
        }
    }

    /// The file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            ConfError::Invalid { file, .. } | ConfError::Io { file, .. } => file,
        }
    }

    /// The 1-based line, when the error has a position.
    pub fn line(&self) -> Option<u32> {
        match self {
            ConfError::Invalid { line, .. } => Some(*line),
            ConfError::Io { .. } => None,
        }
    }
}
