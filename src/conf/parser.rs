//! Builds the directive tree from the lexer's statements: the pure core of
//! loading, text in and [`Directive`]s out, with no file access.

use std::path::Path;
use std::sync::Arc;

use super::ast::Directive;
use super::error::ConfError;
use super::lexer::{Lexer, Statement};

/// Parses one file's text into its top-level directives. `origin` names the
/// file in positions and errors; nothing is read from disk, and `include`
/// directives are returned as written.
pub fn parse(src: &str, origin: &Path) -> Result<Vec<Directive>, ConfError> {
    let mut lexer = Lexer::new(src, Arc::new(origin.to_path_buf()));
    let mut stack: Vec<(Directive, Vec<Directive>)> = Vec::new();
    let mut current: Vec<Directive> = Vec::new();
    loop {
        match lexer.next_statement()? {
            Statement::Simple(mut args) => {
                let name = args.remove(0);
                current.push(Directive {
                    name: name.value,
                    args,
                    block: None,
                    span: name.span,
                });
            }
            Statement::BlockStart(mut args) => {
                let name = args.remove(0);
                let head = Directive {
                    name: name.value,
                    args,
                    block: None,
                    span: name.span,
                };
                stack.push((head, std::mem::take(&mut current)));
            }
            Statement::BlockEnd(span) => {
                let Some((mut head, outer)) = stack.pop() else {
                    return Err(ConfError::at(&span, "unexpected \"}\", no block is open"));
                };
                head.block = Some(std::mem::replace(&mut current, outer));
                current.push(head);
            }
            Statement::Eof(span) => {
                if let Some((head, _)) = stack.last() {
                    return Err(ConfError::at(
                        &span,
                        format!(
                            "unexpected end of file, expected \"}}\" to close \"{}\" opened at line {}",
                            head.name, head.span.line
                        ),
                    ));
                }
                return Ok(current);
            }
        }
    }
}
