//! `proxy_request_buffering on` for streamed bodies (chunked HTTP/1.1,
//! HTTP/2 without `content-length`) of locations with a
//! `client_max_body_size`: no byte of a body over the limit reaches the
//! upstream, not even the request head.
//!
//! A declared `Content-Length` is checked against the limit before routing
//! goes on (and the framing holds the body to it), so only streamed bodies
//! are read whole here, before the upstream is chosen, as nginx does: in
//! memory up to [`MEMORY_MAX`], then in an unnamed temp file ([`spill`]).
//! A body over the limit is answered 413 with no connection to the
//! upstream at all. One within it is forwarded from what was read:
//! - up to 64 KiB Pingora's own retry buffer replays it, unchanged;
//! - a larger one is replayed by a downstream session that wraps the
//!   client's ([`replay`]): Pingora reads the body from moat's copy and
//!   writes the response through the client's session. That connection is
//!   closed after the response (`Connection: close`), where nginx would
//!   keep it alive: Pingora cannot hand the wrapped session back.

mod replay;
mod spill;

use bytes::BytesMut;
use pingora::proxy::Session;
use pingora::Result;

use super::status;
use replay::Held;
use spill::Spill;

/// The most body bytes held in memory before the rest goes to a temp file
/// (nginx's `client_body_buffer_size`, generously: moat holds one request's
/// body per connection at most).
pub const MEMORY_MAX: usize = 1024 * 1024;

/// Whether the request has a body without a declared length.
pub fn streamed(session: &mut Session) -> bool {
    let declared = session
        .req_header()
        .headers
        .contains_key(http::header::CONTENT_LENGTH);
    !declared && !session.as_downstream_mut().is_body_empty()
}

/// Reads the whole body before the upstream is chosen, answering 413 as
/// soon as it is over `max`, and arranges for Pingora to forward what was
/// read.
pub async fn read_whole(session: &mut Session, max: u64) -> Result<()> {
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
    let mut memory = BytesMut::new();
    let mut spilled: Option<Spill> = None;
    let mut total = 0u64;
    while let Some(chunk) = downstream.read_request_body().await? {
        total += chunk.len() as u64;
        if total > max {
            return Err(status::refuse(
                413,
                format!("request body exceeds client_max_body_size {max}"),
            ));
        }
        match spilled.as_mut() {
            Some(file) => file.append(&chunk).await?,
            None => {
                memory.extend_from_slice(&chunk);
                if memory.len() > MEMORY_MAX {
                    spilled = Some(Spill::create(&memory).await?);
                    memory = BytesMut::new();
                }
            }
        }
    }
    if !downstream.retry_buffer_truncated() {
        // Pingora's retry buffer holds the whole body and replays it.
        return Ok(());
    }
    let held = match spilled {
        None => Held::Memory(memory.freeze()),
        Some(file) => Held::File(file.rewind().await?),
    };
    replay::install(session, held);
    Ok(())
}
