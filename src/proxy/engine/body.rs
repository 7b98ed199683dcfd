//! Request bodies on moat's own loop.
//!
//! A body goes to the upstream after the request head, in one of two ways:
//! - a streamed body (chunked, or HTTP/2 without `content-length`) under
//!   `proxy_request_buffering on` (nginx's default) is read whole first
//!   (`body_buffer`), before the upstream is chosen, then sent with a
//!   `Content-Length`, as nginx sends a body it has read;
//! - a body with a declared length, or any under `proxy_request_buffering
//!   off`, is read from the client as it is written upstream, in the
//!   client's framing (an HTTP/2 body without `content-length` goes
//!   chunked). nginx reads these whole first too; moat streams them (the
//!   length was checked against the limit already, and the upstream gets
//!   the same bytes and framing either way), so a large upload does not
//!   wait on a temp file.
//!
//! Either way the body counts against `client_max_body_size` (413 as soon
//! as it is over).
//!
//! A request on a reused upstream connection that the upstream had closed
//! is sent once more on a new one (`request.rs`); this file keeps what
//! that needs: a body read whole is sent again from its start, a streamed
//! one only while what was sent of it fits [`RETRY_MAX`] (Pingora's retry
//! buffer), else the failure stands.
//!
//! The whole body is sent before the response is read. An upstream that
//! answers before it has read the body, and then stops reading, fails the
//! request (502) where nginx would relay its early answer.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pingora::protocols::http::v1::client::HttpSession as UpstreamSession;
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::{Error, ErrorType, Result};
use tokio::io::AsyncWriteExt;

use crate::conf::Decision;
use crate::proxy::body_buffer::{self, BodyLimit, Held};

/// How much of a streamed body is kept for a second send.
const RETRY_MAX: usize = 64 * 1024;

/// Where the body's bytes come from.
enum Source {
    /// The client, as it sends them.
    Client,
    /// moat's copy, read whole before the upstream was chosen.
    Held(Held),
}

/// One request's body, on its way to the upstream.
pub(super) struct RequestBody {
    source: Source,
    /// `client_max_body_size`, for a body read as it is sent.
    limit: BodyLimit,
    /// The start of a streamed body as sent, for a second send.
    kept: BytesMut,
    /// More of a streamed body was sent than `kept` holds.
    truncated: bool,
    /// The upstream is told the body's end by chunked framing (else by
    /// its `Content-Length`).
    chunked: bool,
}

impl RequestBody {
    /// The body of the request on `down`, which has one. A streamed body
    /// the location buffers is read whole here (413 when it is over the
    /// limit, before any upstream is asked); the client's head then gets
    /// the framing the upstream is sent.
    pub(super) async fn prepare(down: &mut ServerSession, decision: &Decision) -> Result<Self> {
        let source = if decision.request_buffering && body_buffer::streamed(down) {
            let held = body_buffer::read_whole(down, decision.max_body_size).await?;
            let req = down.req_header_mut();
            req.remove_header(&http::header::TRANSFER_ENCODING);
            req.insert_header(http::header::CONTENT_LENGTH, held.len())?;
            Source::Held(held)
        } else {
            let req = down.req_header_mut();
            let framed = req.headers.contains_key(http::header::CONTENT_LENGTH)
                || req.headers.contains_key(http::header::TRANSFER_ENCODING);
            if !framed {
                // An HTTP/2 body that declares no length.
                req.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
            }
            Source::Client
        };
        let chunked = down
            .req_header()
            .headers
            .contains_key(http::header::TRANSFER_ENCODING);
        Ok(Self {
            source,
            limit: BodyLimit::new(decision.max_body_size),
            kept: BytesMut::new(),
            truncated: false,
            chunked,
        })
    }

    /// Whether the body can be sent once more from its start.
    pub(super) fn can_send_again(&self) -> bool {
        matches!(self.source, Source::Held(_)) || !self.truncated
    }

    /// Send the body to `out` after its head; `again` on a second send,
    /// which starts with what the first one sent.
    pub(super) async fn send(
        &mut self,
        down: &mut ServerSession,
        out: &mut Out<'_>,
        again: bool,
    ) -> Result<()> {
        match &mut self.source {
            Source::Held(Held::Memory(bytes)) => out.put(bytes).await?,
            Source::Held(Held::File(file)) => {
                if again {
                    file.restart().await?;
                }
                while let Some(piece) = file.next_piece().await? {
                    out.put(&piece).await?;
                }
            }
            Source::Client => {
                if again {
                    out.put(&self.kept).await?;
                } else {
                    body_buffer::continue_if_expected(down).await?;
                }
                while let Some(piece) = self.next_piece(down).await? {
                    out.put(&piece).await?;
                }
            }
        }
        out.end().await
    }

    /// The client's next piece, counted against the limit and kept for a
    /// second send while it fits.
    async fn next_piece(&mut self, down: &mut ServerSession) -> Result<Option<Bytes>> {
        let Some(piece) = down.read_request_body().await.map_err(|e| e.into_down())? else {
            return Ok(None);
        };
        self.limit.count(piece.len())?;
        if !self.truncated && self.kept.len() + piece.len() <= RETRY_MAX {
            self.kept.extend_from_slice(&piece);
        } else {
            self.truncated = true;
            self.kept = BytesMut::new();
        }
        Ok(Some(piece))
    }
}

/// Where a body is written: the upstream connection, after a head moat
/// wrote as bytes (framed here), or Pingora's client session, after a head
/// it wrote (framed by it).
pub(super) enum Out<'a> {
    /// Bytes on the connection.
    Wire {
        /// The upstream connection.
        stream: &'a mut Stream,
        /// Chunked framing (else the head's `Content-Length`).
        chunked: bool,
        /// `proxy_send_timeout`, per write.
        limit: Option<Duration>,
    },
    /// Pingora's session.
    Session(&'a mut UpstreamSession),
}

impl<'a> Out<'a> {
    /// Writing to `stream` after a head written as bytes, framed as
    /// `body` says.
    pub(super) fn wire(
        stream: &'a mut Stream,
        body: &RequestBody,
        limit: Option<Duration>,
    ) -> Self {
        Out::Wire {
            stream,
            chunked: body.chunked,
            limit,
        }
    }

    async fn put(&mut self, piece: &[u8]) -> Result<()> {
        // An empty piece (an HTTP/2 client's empty last DATA frame) would
        // be the chunked framing's end.
        if piece.is_empty() {
            return Ok(());
        }
        match self {
            Out::Session(up) => up
                .write_body(piece)
                .await
                .map(drop)
                .map_err(|e| e.into_up()),
            Out::Wire {
                stream,
                chunked: false,
                limit,
            } => write(stream, piece, *limit, BODY).await,
            Out::Wire {
                stream,
                chunked: true,
                limit,
            } => {
                let mut framed = Vec::with_capacity(piece.len() + 16);
                framed.extend_from_slice(format!("{:X}\r\n", piece.len()).as_bytes());
                framed.extend_from_slice(piece);
                framed.extend_from_slice(b"\r\n");
                write(stream, &framed, *limit, BODY).await
            }
        }
    }

    async fn end(&mut self) -> Result<()> {
        match self {
            Out::Session(up) => up.finish_body().await.map(drop).map_err(|e| e.into_up()),
            Out::Wire {
                stream,
                chunked,
                limit,
            } => {
                let last: &[u8] = if *chunked { b"0\r\n\r\n" } else { b"" };
                write(stream, last, *limit, BODY).await
            }
        }
    }
}

/// What [`write`] writes, for its errors.
const BODY: &str = "request body";

/// Write and flush `bytes` (the request's `what`) within `limit`
/// (`proxy_send_timeout`).
pub(super) async fn write(
    stream: &mut Stream,
    bytes: &[u8],
    limit: Option<Duration>,
    what: &str,
) -> Result<()> {
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    let written = match limit {
        Some(limit) => match tokio::time::timeout(limit, write).await {
            Ok(written) => written,
            Err(_) => {
                return Err(Error::explain(
                    ErrorType::WriteTimedout,
                    format!("while writing {what} (timeout)"),
                )
                .into_up())
            }
        },
        None => write.await,
    };
    written.map_err(|e| {
        Error::because(ErrorType::WriteError, format!("while writing {what}"), e).into_up()
    })
}
