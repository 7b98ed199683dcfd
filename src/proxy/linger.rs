//! nginx's lingering close (`lingering_close`, `lingering_time 30s`,
//! `lingering_timeout 5s`): after refusing a request whose body is still
//! arriving (413), moat reads and discards the rest for a bounded time
//! before closing. Closing with unread bytes makes the kernel answer the
//! client's next segment with a reset, and a client still sending (curl,
//! a browser's upload) then reports "connection reset" instead of the 413
//! already on its way.

use std::time::{Duration, Instant};

use pingora::protocols::http::ServerSession;

/// The longest time spent reading a refused body (nginx's `lingering_time`).
const LINGERING_TIME: Duration = Duration::from_secs(30);

/// The longest wait for the next piece of it (nginx's `lingering_timeout`).
const LINGERING_TIMEOUT: Duration = Duration::from_secs(5);

/// Closes moat's side of an HTTP/1.1 connection whose answer is written (the
/// client reads it to the end: TLS close_notify and FIN), then reads and
/// drops what is left of the request body, until it ends, the client pauses
/// longer than [`LINGERING_TIMEOUT`], an error, or [`LINGERING_TIME`].
/// HTTP/2 needs none: the stream is reset on its own.
pub async fn drain_refused_body(downstream: &mut ServerSession) {
    if downstream.is_http2() || downstream.is_body_done() {
        return;
    }
    downstream.shutdown().await;
    let deadline = Instant::now() + LINGERING_TIME;
    while !downstream.is_body_done() {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(LINGERING_TIMEOUT);
        if wait.is_zero() {
            break;
        }
        match tokio::time::timeout(wait, downstream.read_request_body()).await {
            Ok(Ok(Some(_))) => {}
            _ => break,
        }
    }
}
