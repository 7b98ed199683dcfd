//! The syntax tree of an nginx-style configuration, with a source position on
//! every node so that every later error can name `file:line:column`.

use std::path::PathBuf;
use std::sync::Arc;

/// Where a token or directive starts in its source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The file the text came from (after include expansion, the included file).
    pub file: Arc<PathBuf>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
}

/// How an argument was written; nginx treats quoted and bare words alike
/// except where a directive cares (e.g. `server_name "~regex"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A bare word.
    Bare,
    /// A `"double-quoted"` string.
    DoubleQuoted,
    /// A `'single-quoted'` string.
    SingleQuoted,
}

/// One directive argument after unescaping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// The text with quotes removed and escapes applied.
    pub value: String,
    /// How it was written.
    pub kind: ArgKind,
    /// Where it starts.
    pub span: Span,
}

/// One directive: `name arg...;` or `name arg... { children }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The directive name (`proxy_pass`, `location`, ...).
    pub name: String,
    /// Its arguments.
    pub args: Vec<Arg>,
    /// `Some` for block directives, with the directives inside the braces.
    pub block: Option<Vec<Directive>>,
    /// Where the name starts.
    pub span: Span,
}
