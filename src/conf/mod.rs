//! The nginx-syntax front end: lexer, parser, include expansion, and the
//! evaluator that turns a request into a [`Decision`].
//!
//! `conf` is pure: it reads files only in [`load`] (the I/O shell: confs,
//! includes and htpasswd files) and never opens a socket, reads the clock
//! or the environment. Its one output is an immutable [`RouteTable`]; the
//! proxy imports that and the decision types, never an AST node or a
//! directive name. File tests in `if` go through a [`FileProbe`].
//!
//! What it deliberately does not do: `auth_request` subrequests (such
//! locations answer 503, never unauthenticated), FastCGI, `upstream {}`
//! blocks.
//!
//! Invariant for callers: a failed load returns errors and no table, so the
//! caller keeps serving the previous snapshot.

mod ast;
mod client_cert;
mod compile;
mod decision;
mod describe;
mod error;
mod eval;
pub mod fx_hash;
mod htpasswd;
mod include;
mod lexer;
mod locations;
mod maps;
mod no_effect;
mod parser;
mod route_table;
mod server_names;
mod upstream_headers;
mod variables;

#[cfg(test)]
mod tests;

pub use ast::{Arg, ArgKind, Directive, Span};
pub use compile::script::FileTest;
pub use decision::{
    Action, AuthOutcome, AuthRequest, BodyFilter, ConnLimit, Decision, HeaderRule, HeaderRules,
    LimitZone, Listen, LocationRef, ProxyProtocolAddrs, ProxyTarget, ReqLimit, RequestInfo,
    RequestLimits, ServerRef, UpstreamOptions, ZoneKind,
};
pub use describe::{LocationSummary, ServerSummary, TlsCertificate};
pub use error::ConfError;
pub use eval::{DiskProbe, FileProbe};
pub use htpasswd::Htpasswd;
pub use include::Overlay;
pub use no_effect::{summary as no_effect_summary, NoEffect};
pub use parser::parse;
pub use route_table::{load, load_copy, load_over, load_str, LoadReport, RouteTable};
pub(crate) use upstream_headers::is_field_value;
pub use upstream_headers::{HeaderClass, HeaderPlan, PlanEntry, UpstreamHeaders};
