//! `error_page`: what nginx does when a phase answers with an error it
//! generated itself (a refusal, `return 404;`, an auth failure, 500).
//! The page is a named location (`@name`), a URI (an internal redirect:
//! the server rewrite phase and a location search again, method `GET`),
//! or a URL (a 302, or the `=` code when that is a redirect). `=code`
//! sets the answer's status, `=` alone leaves it to the target, no `=`
//! keeps the error's. `recursive_error_pages` is off: one redirect at
//! most, an error in the target answers as it is.

use super::context::Eval;
use super::Entry;
use crate::conf::compile::level::ErrorStatus;
use crate::conf::decision::{Action, HeaderRule};
use crate::conf::variables::VarSource;

/// The status of an answer nginx generates itself (its special response
/// handler, where `error_page` is looked up); `None` for answers with a
/// body or a `Location` of their own and for anything forwarded.
pub(super) fn error_status(action: &Action) -> Option<u16> {
    match action {
        Action::Deny { status } => Some(*status),
        Action::Unauthorized { .. } => Some(401),
        Action::NotFound => Some(404),
        Action::Return {
            status,
            location: None,
            body: None,
        } if *status >= 300 && *status != 444 => Some(*status),
        _ => None,
    }
}

impl<'a> Eval<'a> {
    /// Follows the `error_page` for `code` in the current level: `None`
    /// when there is none (or one was already followed), `Some(Ok(entry))`
    /// to run the phases again from there, `Some(Err(answer))` when the page
    /// is a redirect or cannot be found.
    pub(super) fn error_page(
        &mut self,
        code: u16,
        action: &Action,
    ) -> Option<Result<Entry<'a>, Action>> {
        if self.in_error_page || self.in_subrequest {
            return None;
        }
        let page = self.level.error_page(code)?.clone();
        self.in_error_page = true;
        // auth_basic's challenge stays on whatever answers, as nginx keeps
        // the header it already set.
        if let Action::Unauthorized { realm } = action {
            let realm = realm.replace('\\', "\\\\").replace('"', "\\\"");
            self.auth_headers.push(HeaderRule {
                name: "WWW-Authenticate".to_string(),
                value: format!("Basic realm=\"{realm}\""),
                always: true,
            });
        }
        self.status_override = match page.status {
            ErrorStatus::Keep => Some(code),
            ErrorStatus::FromTarget => None,
            ErrorStatus::Set(n) => Some(n),
        };
        let target = page.target.render(self as &dyn VarSource);
        if let Some(name) = target.strip_prefix('@') {
            let server = self.server;
            return Some(match server.locations.named(name) {
                Some(loc) => Ok(Entry::Named(loc)),
                // nginx: "could not find named location", 500.
                None => Err(Action::Return {
                    status: 500,
                    location: None,
                    body: None,
                }),
            });
        }
        if target.starts_with('/') {
            let (path, args) = match target.split_once('?') {
                Some((p, a)) => (p.to_string(), a.to_string()),
                None => (target, String::new()),
            };
            self.uri = path;
            self.args = args;
            self.uri_changed = true;
            self.location_valid = true;
            self.method_get = true;
            return Some(Ok(Entry::Server));
        }
        // A URL: a redirect, 302 unless `=` named another redirect code.
        let status = self
            .status_override
            .take()
            .filter(|n| matches!(n, 301 | 302 | 303 | 307 | 308))
            .unwrap_or(302);
        Some(Err(Action::Return {
            status,
            location: Some(target),
            body: None,
        }))
    }

    /// `answer` with the status an `error_page` imposed, where the
    /// evaluator answers itself; forwarded answers carry it in the decision.
    pub(super) fn overridden(&self, answer: Action) -> Action {
        match (self.status_override, answer) {
            (Some(status), Action::Return { location, body, .. }) => Action::Return {
                status,
                location,
                body,
            },
            (_, answer) => answer,
        }
    }
}
