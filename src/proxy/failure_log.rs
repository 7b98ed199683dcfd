//! One log line per failed request, written for the person reading it.
//!
//! Pingora logs every refusal (a client's 404 included) at ERROR as a debug
//! dump; moat suppresses that and writes this instead: client-side outcomes
//! (4xx, a client gone) at debug, since the access log already has them, and
//! moat's or an upstream's failure (5xx) as one WARN line naming the conf
//! `file:line` that routed the request, the upstream URL and the cause in
//! words.

use pingora::{Error, ErrorType};

use super::metrics::Failure;
use crate::conf::{Action, Decision};

/// Logs the outcome `code` (as sent; `0` = nothing sent) of failure `e`;
/// a failure of moat or the upstream (5xx) is also
/// returned for the status page.
pub fn record(code: u16, e: &Error, decision: Option<&Decision>) -> Option<Failure> {
    if code < 500 {
        tracing::debug!(status = code, reason = %reason(e), "request refused");
        return None;
    }
    let conf = decision.map(where_routed).unwrap_or_else(|| "-".into());
    let upstream = decision
        .and_then(|d| match &d.action {
            Action::Proxy(t) | Action::Grpc(t) => Some(t.url.as_str()),
            _ => None,
        })
        .unwrap_or("-");
    let cause = reason(e);
    tracing::warn!(status = code, conf = %conf, upstream = %upstream, cause = %cause, "request failed");
    Some(Failure {
        at: crate::acme::now_unix(),
        status: code,
        conf,
        upstream: upstream.to_owned(),
        cause,
    })
}

/// `file:line` of the location (else the server block) that decided.
fn where_routed(d: &Decision) -> String {
    match &d.location {
        Some(l) => format!("{}:{}", l.file.display(), l.line),
        None => format!("{}:{}", d.server.file.display(), d.server.line),
    }
}

/// What went wrong, in words, with Pingora's context when it adds any.
pub fn reason(e: &Error) -> String {
    use ErrorType::*;
    let words = match &e.etype {
        HTTPStatus(_) | CustomCode(_, _) => {
            return e
                .context
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default()
        }
        ConnectRefused => "the upstream refused the connection",
        ConnectTimedout => "connecting to the upstream timed out",
        ConnectNoRoute => "no route to the upstream",
        ConnectError | SocketError | BindError => "cannot connect to the upstream",
        TLSHandshakeFailure | HandshakeError => "the TLS handshake with the upstream failed",
        TLSHandshakeTimedout => "the TLS handshake with the upstream timed out",
        InvalidCert => "the upstream's certificate was refused",
        ReadTimedout => "the upstream did not answer in time",
        WriteTimedout => "sending to the upstream timed out",
        ReadError | WriteError => "the connection to the upstream failed",
        ConnectionClosed => "the upstream closed the connection",
        InvalidHTTPHeader => "the upstream sent an invalid response",
        H2Error | H2Downgrade => "HTTP/2 error with the upstream",
        other => other.as_str(),
    };
    match &e.context {
        Some(c) => format!("{words} ({c})"),
        None => words.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_words_with_their_context() {
        let e = Error::explain(ErrorType::ConnectRefused, "127.0.0.1:9");
        assert_eq!(
            reason(&e),
            "the upstream refused the connection (127.0.0.1:9)"
        );
        let e = super::super::status::refuse(502, "cannot resolve app: no such name");
        assert_eq!(reason(&e), "cannot resolve app: no such name");
        let e = Error::new(ErrorType::ReadTimedout);
        assert_eq!(reason(&e), "the upstream did not answer in time");
    }
}
