//! What can go wrong reading the jails and filters, named by file and line.

use std::path::PathBuf;

/// A jail or filter that cannot be used as written.
#[derive(Debug, thiserror::Error)]
pub enum BansError {
    /// A file exists but cannot be read.
    #[error("{}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line fail2ban's parser would reject.
    #[error("{}:{line}: {message}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A jail setting with a value fail2ban would reject.
    #[error("{}: [{jail}] {key} = {value:?}: {message}", file.display())]
    Setting {
        /// jail.local (or the jail.d file that set it last).
        file: PathBuf,
        /// The jail's section.
        jail: String,
        /// The key.
        key: String,
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// A filter moat cannot run as written.
    #[error("{}: {message}", file.display())]
    Filter {
        /// The filter file (or `built-in NAME`).
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
}
