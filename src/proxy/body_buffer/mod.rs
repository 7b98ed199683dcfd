//! `proxy_request_buffering on` (nginx's default) for streamed bodies
//! (chunked HTTP/1.1, HTTP/2 without `content-length`): the upstream gets
//! the body whole with its `Content-Length`, as nginx sends it, and no
//! byte of a body over `client_max_body_size` reaches it, not even the
//! request head.
//!
//! A declared `Content-Length` is checked against the limit before routing
//! goes on (and the framing holds the body to it), so only streamed bodies
//! are read whole here, before the upstream is chosen, as nginx does: in
//! memory up to [`MEMORY_MAX`], then in an unnamed temp file ([`spill`]).
//! A body over the limit is answered 413 with no connection to the
//! upstream at all. One within it is forwarded from what was read
//! (`engine/body.rs`), with its `Content-Length`, and the client's
//! connection stays open for its next request.

mod spill;

use bytes::{Bytes, BytesMut};
use pingora::protocols::http::ServerSession;
use pingora::Result;

use super::status;
use spill::Spill;
pub use spill::SpilledBody;

/// A body read whole, to be forwarded.
pub enum Held {
    /// In memory.
    Memory(Bytes),
    /// In a temp file, read back in pieces (and again from its start
    /// when the request is sent once more).
    File(SpilledBody),
}

impl Held {
    /// The body's length, which the upstream is told (`Content-Length`,
    /// as nginx sends a body it has read whole).
    pub fn len(&self) -> u64 {
        match self {
            Held::Memory(bytes) => bytes.len() as u64,
            Held::File(file) => file.len(),
        }
    }
}

/// The most body bytes held in memory before the rest goes to a temp file
/// (nginx's `client_body_buffer_size`, generously: moat holds one request's
/// body per connection at most).
pub const MEMORY_MAX: usize = 1024 * 1024;

/// Whether the request has a body without a declared length.
pub fn streamed(down: &mut ServerSession) -> bool {
    let declared = down
        .req_header()
        .headers
        .contains_key(http::header::CONTENT_LENGTH);
    !declared && !down.is_body_empty()
}

/// Tells an HTTP/1.1 client waiting for `100 Continue` to send its body,
/// as nginx does when it starts reading one. The upstream is not asked
/// for another (the conf's header plan sends it no `Expect`). HTTP/2
/// clients send their body without waiting for it.
pub async fn continue_if_expected(down: &mut ServerSession) -> Result<()> {
    let expects = down
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects && !down.is_http2() {
        down.req_header_mut().remove_header(&http::header::EXPECT);
        down.write_continue_response().await?;
    }
    Ok(())
}

/// A body's bytes counted against `client_max_body_size` as they arrive:
/// the one 413 of a body read whole, streamed, or relayed to gRPC.
pub struct BodyLimit {
    max: Option<u64>,
    read: u64,
}

impl BodyLimit {
    /// Counting against `max` (`None`: no limit).
    pub fn new(max: Option<u64>) -> Self {
        Self { max, read: 0 }
    }

    /// Counts `len` more bytes; a 413 once the body is over the limit.
    pub fn count(&mut self, len: usize) -> Result<()> {
        self.read += len as u64;
        match self.max {
            Some(max) if self.read > max => Err(status::refuse(
                413,
                format!("request body exceeds client_max_body_size {max}"),
            )),
            _ => Ok(()),
        }
    }
}

/// Reads the whole body before the upstream is chosen, answering 413 as
/// soon as it is over `max` (`None`: no limit).
pub async fn read_whole(down: &mut ServerSession, max: Option<u64>) -> Result<Held> {
    continue_if_expected(down).await?;
    let mut memory = BytesMut::new();
    let mut spilled: Option<Spill> = None;
    let mut limit = BodyLimit::new(max);
    while let Some(chunk) = down.read_request_body().await? {
        limit.count(chunk.len())?;
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
    Ok(match spilled {
        None => Held::Memory(memory.freeze()),
        Some(file) => Held::File(file.rewind().await?),
    })
}
