//! The nginx-syntax front end: lexer, parser, include expansion, and the
//! evaluator that turns a request into a [`Decision`].
//!
//! `conf` is pure: it reads files only in [`load`] (the I/O shell) and never
//! opens a socket, reads the clock or the environment. Its one output is an
//! immutable [`RouteTable`]; the proxy imports that and the decision types,
//! never an AST node or a directive name.
//!
//! Invariant for callers: a failed load returns errors and no table, so the
//! caller keeps serving the previous snapshot.

mod ast;
mod decision;
mod route_table;

pub use ast::{Arg, ArgKind, Directive, Span};
pub use decision::{
    Action, Decision, HeaderRule, Listen, LocationRef, ProxyTarget, RequestInfo, ServerRef,
    UpstreamOptions,
};
pub use route_table::{load, ConfError, LoadReport, RouteTable};
