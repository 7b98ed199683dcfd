//! The tokenizer, following nginx's `ngx_conf_read_token`: words end at
//! whitespace, `;` or `{`; quotes may hold `;`, braces and spaces; a closing
//! quote must be followed by whitespace, `;`, `{` or `)`; `#` opens a comment
//! only where a word would start; backslash escapes are kept literally except
//! `\"`, `\'`, `\\`, `\t`, `\r` and `\n`.

use std::path::PathBuf;
use std::sync::Arc;

use super::ast::{Arg, ArgKind, Span};
use super::error::ConfError;

/// What ends one statement read by [`Lexer::next_statement`].
#[derive(Debug)]
pub(crate) enum Statement {
    /// `words... ;`
    Simple(Vec<Arg>),
    /// `words... {`
    BlockStart(Vec<Arg>),
    /// `}` at the start of a statement.
    BlockEnd(Span),
    /// End of input, with the position after the last character.
    Eof(Span),
}

/// Reads statements from one file's text.
pub(crate) struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    file: Arc<PathBuf>,
    line: u32,
    column: u32,
}

impl<'a> Lexer<'a> {
    /// A lexer over `src`; positions name `file`.
    pub(crate) fn new(src: &'a str, file: Arc<PathBuf>) -> Self {
        Lexer {
            chars: src.chars().peekable(),
            file,
            line: 1,
            column: 1,
        }
    }

    fn span(&self) -> Span {
        Span {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    /// Reads up to the next `;`, `{` or `}` (or the end of input).
    pub(crate) fn next_statement(&mut self) -> Result<Statement, ConfError> {
        let mut args: Vec<Arg> = Vec::new();
        // `true` right after a closing quote: only a separator may follow.
        let mut need_space = false;
        loop {
            let span = self.span();
            let Some(&c) = self.chars.peek() else {
                if args.is_empty() {
                    return Ok(Statement::Eof(span));
                }
                return Err(ConfError::at(
                    &span,
                    "unexpected end of file, expected \";\" or \"{\"",
                ));
            };
            if need_space {
                match c {
                    ' ' | '\t' | '\r' | '\n' | ';' | '{' | ')' => need_space = false,
                    _ => {
                        return Err(ConfError::at(
                            &span,
                            format!("unexpected \"{c}\" after a quoted string, expected a space, \";\" or \"{{\""),
                        ))
                    }
                }
            }
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    self.bump();
                }
                ';' | '{' => {
                    self.bump();
                    if args.is_empty() {
                        return Err(ConfError::at(
                            &span,
                            format!("unexpected \"{c}\", expected a directive name"),
                        ));
                    }
                    return Ok(if c == ';' {
                        Statement::Simple(args)
                    } else {
                        Statement::BlockStart(args)
                    });
                }
                '}' => {
                    self.bump();
                    if !args.is_empty() {
                        return Err(ConfError::at(
                            &span,
                            "unexpected \"}\", expected \";\" or \"{\"",
                        ));
                    }
                    return Ok(Statement::BlockEnd(span));
                }
                '#' => self.skip_comment(),
                '"' | '\'' => {
                    self.bump();
                    args.push(self.quoted(c, span)?);
                    need_space = true;
                }
                _ => args.push(self.bare(span)),
            }
        }
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    /// The body of a quoted string; the opening quote is consumed.
    fn quoted(&mut self, quote: char, span: Span) -> Result<Arg, ConfError> {
        let mut value = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(ConfError::at(
                    &span,
                    format!("unexpected end of file, expected a closing {quote}"),
                ));
            };
            if c == quote {
                let kind = if quote == '"' {
                    ArgKind::DoubleQuoted
                } else {
                    ArgKind::SingleQuoted
                };
                return Ok(Arg { value, kind, span });
            }
            if c == '\\' {
                self.escape(&mut value);
            } else {
                value.push(c);
            }
        }
    }

    /// A bare word: up to whitespace, `;` or `{` (`${name}` braces stay in).
    fn bare(&mut self, span: Span) -> Arg {
        let mut value = String::new();
        let mut after_dollar = false;
        while let Some(&c) = self.chars.peek() {
            if c == '{' && after_dollar {
                self.bump();
                value.push(c);
                after_dollar = false;
                continue;
            }
            if matches!(c, ' ' | '\t' | '\r' | '\n' | ';' | '{') {
                break;
            }
            self.bump();
            after_dollar = c == '$';
            if c == '\\' {
                self.escape(&mut value);
            } else {
                value.push(c);
            }
        }
        Arg {
            value,
            kind: ArgKind::Bare,
            span,
        }
    }

    /// After a backslash: nginx unescapes only quotes, backslash, t, r, n.
    fn escape(&mut self, out: &mut String) {
        match self.chars.peek().copied() {
            Some(c @ ('"' | '\'' | '\\')) => {
                self.bump();
                out.push(c);
            }
            Some('t') => {
                self.bump();
                out.push('\t');
            }
            Some('r') => {
                self.bump();
                out.push('\r');
            }
            Some('n') => {
                self.bump();
                out.push('\n');
            }
            Some(c) => {
                // Any other escaped character is kept with its backslash,
                // and it cannot end a word or a string.
                self.bump();
                out.push('\\');
                out.push(c);
            }
            None => out.push('\\'),
        }
    }
}
