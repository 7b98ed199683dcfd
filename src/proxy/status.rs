//! The one place where a failure becomes a status code on the wire.
//!
//! Request-path failures are Pingora [`Error`]s that carry their source
//! (upstream, downstream, internal); decisions that refuse a request are
//! raised as `HTTPStatus(code)` errors by the phase that found them. Nothing
//! else in `proxy` picks an error status.

use pingora::{Error, ErrorSource, ErrorType};

/// nginx's `return 444`: close the connection and send nothing.
pub const CLOSE_WITHOUT_RESPONSE: u16 = 444;

/// The status nginx would send for this failure; `0` means the client is
/// gone and nothing should be written.
pub fn for_error(e: &Error) -> u16 {
    use ErrorType::*;
    match e.etype() {
        HTTPStatus(code) => *code,
        CustomCode(_, code) => *code,
        _ => match e.esource() {
            ErrorSource::Upstream => match e.etype() {
                ConnectTimedout | ReadTimedout | WriteTimedout | TLSHandshakeTimedout => 504,
                _ => 502,
            },
            ErrorSource::Downstream => match e.etype() {
                WriteError | ReadError | ConnectionClosed => 0,
                ReadTimedout => 408,
                _ => 400,
            },
            ErrorSource::Internal | ErrorSource::Unset => match e.etype() {
                ConnectTimedout => 504,
                ConnectRefused | ConnectNoRoute | ConnectError | TLSHandshakeFailure
                | InvalidCert | HandshakeError => 502,
                _ => 500,
            },
        },
    }
}

/// A refusal with this status, for a phase to return as its error.
pub fn refuse(code: u16, why: impl Into<String>) -> Box<Error> {
    Error::explain(ErrorType::HTTPStatus(code), why.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_timeouts_are_504_and_other_upstream_failures_502() {
        let e = Error::new_up(ErrorType::ConnectTimedout);
        assert_eq!(for_error(&e), 504);
        let e = Error::new_up(ErrorType::ConnectRefused);
        assert_eq!(for_error(&e), 502);
        let e = Error::new_up(ErrorType::ReadTimedout);
        assert_eq!(for_error(&e), 504);
    }

    #[test]
    fn refusals_keep_their_status_and_dead_clients_get_nothing() {
        assert_eq!(for_error(&refuse(413, "body too large")), 413);
        let e = Error::new_down(ErrorType::ConnectionClosed);
        assert_eq!(for_error(&e), 0);
        let e = Error::new_down(ErrorType::InvalidHTTPHeader);
        assert_eq!(for_error(&e), 400);
    }
}
