//! `proxy_request_buffering on` for streamed bodies (chunked HTTP/1.1,
//! HTTP/2 without `content-length`) of locations with a
//! `client_max_body_size`: no byte of a body over the limit reaches the
//! upstream.
//!
//! A declared `Content-Length` is checked against the limit before routing
//! goes on (and the framing holds the body to it), so only streamed bodies
//! are held. Two steps:
//! - before the upstream is chosen, moat reads ahead what Pingora's retry
//!   buffer (64 KiB) can replay: a small body is read whole there, so one
//!   over the limit is answered 413 before any connection to the upstream,
//!   and one within it is replayed by Pingora unchanged;
//! - the rest of a larger body is held in `request_body_filter` and handed
//!   on in one piece when it is complete: the upstream then has the request
//!   head, but no byte of a body that turns out too large (413, and the
//!   upstream connection is dropped).
//!
//! Limits above [`HELD_MAX`] are not held in memory: those bodies stream,
//! and the limit cuts the stream as before.

use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;
use pingora::Result;

use super::status;

/// The largest `client_max_body_size` whose bodies are held in memory.
pub const HELD_MAX: u64 = 16 * 1024 * 1024;

/// Pingora's retry buffer: what it replays after moat read ahead.
const RETRY_BUFFER: usize = 64 * 1024;

/// Whether the request has a body without a declared length.
pub fn streamed(session: &mut Session) -> bool {
    let declared = session
        .req_header()
        .headers
        .contains_key(http::header::CONTENT_LENGTH);
    !declared && !session.as_downstream_mut().is_body_empty()
}

/// Reads ahead as much of the body as the retry buffer replays for sure
/// (one read can return up to a whole read buffer: 64 KiB on HTTP/1.1, a
/// DATA frame on HTTP/2), answering 413 when it is already over `max`.
pub async fn read_ahead(session: &mut Session, max: u64) -> Result<()> {
    let largest_read = if session.as_downstream().is_http2() {
        16 * 1024
    } else {
        RETRY_BUFFER
    };
    // A client waiting for `100 Continue` gets it from moat, which reads
    // the body now (as nginx does); the upstream is not asked for another.
    let expects = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects {
        session
            .req_header_mut()
            .remove_header(&http::header::EXPECT);
        session
            .as_downstream_mut()
            .write_continue_response()
            .await?;
    }
    let downstream = session.as_downstream_mut();
    downstream.enable_retry_buffering();
    let mut total = 0usize;
    while total + largest_read <= RETRY_BUFFER && !downstream.is_body_done() {
        match downstream.read_request_body().await? {
            None => break,
            Some(chunk) => total += chunk.len(),
        }
        if total as u64 > max {
            return Err(status::refuse(
                413,
                format!("request body exceeds client_max_body_size {max}"),
            ));
        }
    }
    if downstream.retry_buffer_truncated() {
        // Impossible by the bound above; never forward a body with a hole.
        return Err(status::refuse(500, "request body could not be replayed"));
    }
    Ok(())
}

/// Holds each piece of the body until the last, which carries it all.
pub fn hold(held: &mut BytesMut, body: &mut Option<Bytes>, end_of_stream: bool) {
    if let Some(chunk) = body.take() {
        held.extend_from_slice(&chunk);
    }
    *body = Some(if end_of_stream {
        held.split().freeze()
    } else {
        // Pingora writes nothing for an empty piece before the end.
        Bytes::new()
    });
}
