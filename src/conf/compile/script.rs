//! The rewrite module's statements (`set`, `if`, `rewrite`, `return`,
//! `break`), compiled in file order into a small program that the
//! evaluator runs in the server- and location-rewrite phases.

use std::collections::HashSet;
use std::sync::Arc;

use regex::Regex;

use super::level::Level;
use crate::conf::ast::{Arg, ArgKind, Directive, Span};
use crate::conf::error::ConfError;
use crate::conf::variables::{Builtin, Template, Var};

/// What a `rewrite` does after replacing the URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RewriteFlag {
    /// No flag: go on with the next statement, then search locations again.
    None,
    /// `last`: stop, search locations again with the new URI.
    Last,
    /// `break`: stop, stay in this location.
    Break,
    /// `redirect`: answer 302.
    Redirect,
    /// `permanent`: answer 301.
    Permanent,
}

/// A `file test` in an `if`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTest {
    /// `-f`: a regular file.
    File,
    /// `-d`: a directory.
    Dir,
    /// `-e`: anything.
    Exists,
    /// `-x`: an executable file.
    Executable,
}

/// An `if` condition.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    /// `($var)`: true unless empty or `0`.
    Truthy(Template),
    /// `($var = value)`, or `!=` when `neg`.
    Eq {
        lhs: Template,
        rhs: Template,
        neg: bool,
    },
    /// `($var ~ re)`, `~*`, `!~`, `!~*`.
    Match { lhs: Template, re: Regex, neg: bool },
    /// `(-f path)`, `(!-d path)`, ...
    File {
        path: Template,
        test: FileTest,
        neg: bool,
    },
}

/// One statement.
#[derive(Debug, Clone)]
pub(crate) enum Stmt {
    /// `set $name value` (also `set_escape_uri`, which escapes the value).
    Set {
        name: String,
        value: Template,
        escape: bool,
    },
    /// `rewrite regex replacement [flag]`.
    Rewrite {
        re: Regex,
        replacement: Template,
        /// The replacement split at its first literal `?`: new URI and new
        /// arguments (`None`: no arguments written).
        split: Option<(Template, Template)>,
        flag: RewriteFlag,
        /// The replacement starts with `http://`, `https://` or `$scheme`.
        absolute: bool,
        /// A trailing `?`: the original arguments are dropped.
        drop_args: bool,
    },
    /// `return code [text|URL]` or `return URL`.
    Return { status: u16, text: Option<Template> },
    /// `if (cond) { ... }`; `level` is the implicit location of a
    /// location-level `if`.
    If {
        cond: Cond,
        body: Vec<Stmt>,
        level: Option<Arc<Level>>,
    },
    /// `break`.
    Break,
}

/// Compiles an nginx regex for the `regex` crate; a pattern it rejects is a
/// load error at `span`.
pub(crate) fn regex(pattern: &str, caseless: bool, span: &Span) -> Result<Regex, ConfError> {
    let src = if caseless {
        format!("(?i){pattern}")
    } else {
        pattern.to_string()
    };
    Regex::new(&src).map_err(|e| {
        ConfError::at(
            span,
            format!(
                "regex \"{pattern}\" does not compile: {}",
                first_line(&e.to_string())
            ),
        )
    })
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// Compiles `rewrite`.
pub(crate) fn rewrite(d: &Directive, declared: &HashSet<String>) -> Result<Stmt, ConfError> {
    if d.args.len() < 2 || d.args.len() > 3 {
        return Err(ConfError::at(
            &d.span,
            "\"rewrite\" expects: rewrite REGEX REPLACEMENT [last|break|redirect|permanent]",
        ));
    }
    let re = regex(&d.args[0].value, false, &d.args[0].span)?;
    let mut text = d.args[1].value.clone();
    let drop_args = text.ends_with('?');
    if drop_args {
        text.pop();
    }
    let replacement = Template::parse(&text, &d.args[1].span, declared)?;
    let absolute = replacement.starts_with_literal("http://")
        || replacement.starts_with_literal("https://")
        || replacement.starts_with_var(&Var::Builtin(Builtin::Scheme));
    let flag = match d.args.get(2).map(|a| a.value.as_str()) {
        None => RewriteFlag::None,
        Some("last") => RewriteFlag::Last,
        Some("break") => RewriteFlag::Break,
        Some("redirect") => RewriteFlag::Redirect,
        Some("permanent") => RewriteFlag::Permanent,
        Some(o) => {
            return Err(ConfError::at(
                &d.args[2].span,
                format!(
                    "invalid rewrite flag \"{o}\", expected last, break, redirect or permanent"
                ),
            ))
        }
    };
    let split = replacement.split_literal('?');
    Ok(Stmt::Rewrite {
        re,
        replacement,
        split,
        flag,
        absolute,
        drop_args,
    })
}

/// Compiles `return`.
pub(crate) fn ret(d: &Directive, declared: &HashSet<String>) -> Result<Stmt, ConfError> {
    let bad = || {
        ConfError::at(
            &d.span,
            "\"return\" expects: return CODE [TEXT|URL] or return URL",
        )
    };
    match d.args.as_slice() {
        [one] => {
            if let Ok(status) = one.value.parse::<u16>() {
                check_status(status, one)?;
                return Ok(Stmt::Return { status, text: None });
            }
            let t = Template::parse(&one.value, &one.span, declared)?;
            let url = t.starts_with_literal("http://")
                || t.starts_with_literal("https://")
                || t.starts_with_var(&Var::Builtin(Builtin::Scheme));
            if !url {
                return Err(ConfError::at(
                    &one.span,
                    format!("invalid return code \"{}\"", one.value),
                ));
            }
            Ok(Stmt::Return {
                status: 302,
                text: Some(t),
            })
        }
        [code, text] => {
            let status: u16 = code.value.parse().map_err(|_| {
                ConfError::at(
                    &code.span,
                    format!("invalid return code \"{}\"", code.value),
                )
            })?;
            check_status(status, code)?;
            Ok(Stmt::Return {
                status,
                text: Some(Template::parse(&text.value, &text.span, declared)?),
            })
        }
        _ => Err(bad()),
    }
}

fn check_status(status: u16, arg: &Arg) -> Result<(), ConfError> {
    if (100..=999).contains(&status) {
        Ok(())
    } else {
        Err(ConfError::at(
            &arg.span,
            format!("invalid return code \"{status}\""),
        ))
    }
}

/// Compiles `set $name value` / `set_escape_uri $name value`.
pub(crate) fn set(d: &Directive, declared: &HashSet<String>) -> Result<Stmt, ConfError> {
    let [name, value] = d.args.as_slice() else {
        return Err(ConfError::at(
            &d.span,
            format!(
                "\"{}\" expects exactly 2 arguments: {} $variable value",
                d.name, d.name
            ),
        ));
    };
    let Some(var) = name.value.strip_prefix('$') else {
        return Err(ConfError::at(
            &name.span,
            format!("invalid variable name \"{}\", expected $name", name.value),
        ));
    };
    Ok(Stmt::Set {
        name: var.to_string(),
        value: Template::parse(&value.value, &value.span, declared)?,
        escape: d.name == "set_escape_uri",
    })
}

/// Compiles the condition of `if (...)`.
pub(crate) fn condition(d: &Directive, declared: &HashSet<String>) -> Result<Cond, ConfError> {
    let mut args: Vec<Arg> = d.args.clone();
    let bad = |why: &str| ConfError::at(&d.span, format!("invalid condition in \"if\": {why}"));
    match args.first_mut() {
        Some(a) if a.value.starts_with('(') && a.kind == ArgKind::Bare => {
            a.value.remove(0);
            if a.value.is_empty() {
                args.remove(0);
            }
        }
        _ => return Err(bad("expected \"(\"")),
    }
    match args.last_mut() {
        Some(a) if a.value.ends_with(')') => {
            a.value.pop();
            if a.value.is_empty() && a.kind == ArgKind::Bare {
                args.pop();
            }
        }
        _ => return Err(bad("expected \")\"")),
    }
    let t = |a: &Arg| Template::parse(&a.value, &a.span, declared);
    match args.as_slice() {
        [v] if v.value.starts_with('$') => Ok(Cond::Truthy(t(v)?)),
        [op, path] => {
            let (neg, test) = match op.value.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, op.value.as_str()),
            };
            let test = match test {
                "-f" => FileTest::File,
                "-d" => FileTest::Dir,
                "-e" => FileTest::Exists,
                "-x" => FileTest::Executable,
                o => return Err(bad(&format!("unknown test \"{o}\""))),
            };
            Ok(Cond::File {
                path: t(path)?,
                test,
                neg,
            })
        }
        [lhs, op, rhs] => {
            if !lhs.value.starts_with('$') {
                return Err(bad(&format!(
                    "expected a variable, found \"{}\"",
                    lhs.value
                )));
            }
            let lhs_t = t(lhs)?;
            match op.value.as_str() {
                "=" | "!=" => Ok(Cond::Eq {
                    lhs: lhs_t,
                    rhs: t(rhs)?,
                    neg: op.value == "!=",
                }),
                "~" | "~*" | "!~" | "!~*" => Ok(Cond::Match {
                    lhs: lhs_t,
                    re: regex(&rhs.value, op.value.ends_with('*'), &rhs.span)?,
                    neg: op.value.starts_with('!'),
                }),
                o => Err(bad(&format!("unknown operator \"{o}\""))),
            }
        }
        _ => Err(bad("expected ($var), ($var OP value) or (-f path)")),
    }
}
