//! Responses moat writes itself: `return`, redirects, refusals, HTTP-01
//! answers, static files and error pages.

use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::ServerSession;
use pingora::Result;

use super::headers;
use crate::conf::HeaderRule;

/// A complete response written by moat rather than an upstream.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Extra headers (`Location`, `WWW-Authenticate`, ...).
    pub headers: Vec<(&'static str, String)>,
    /// `Content-Type` of the body.
    pub content_type: &'static str,
    /// The body (not sent for HEAD).
    pub body: Bytes,
}

impl Reply {
    /// A short text body, as nginx's built-in pages.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(body.into()),
        }
    }

    /// A status page with the standard reason phrase as its body.
    pub fn status(status: u16) -> Self {
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        Self::text(status, format!("{status} {reason}\n"))
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: String) -> Self {
        let mut reply = Self::status(status);
        reply.headers.push(("Location", location));
        reply
    }
}

/// The response head of `reply`, with the `add_header` rules that apply,
/// and its body unless there is none to send (HEAD, or empty).
fn head(
    req: &RequestHeader,
    reply: Reply,
    rules: &[HeaderRule],
) -> Result<(ResponseHeader, Option<Bytes>)> {
    let mut resp = ResponseHeader::build(reply.status, Some(4 + reply.headers.len()))?;
    for (name, value) in reply.headers {
        resp.insert_header(name, value)?;
    }
    resp.insert_header("Content-Type", reply.content_type)?;
    resp.insert_header("Content-Length", reply.body.len().to_string())?;
    headers::add_response_headers(&mut resp, rules);
    let empty = req.method == http::Method::HEAD || reply.body.is_empty();
    Ok((resp, (!empty).then_some(reply.body)))
}

/// Write `reply` to a client of moat's own request path (an HTTP/1
/// request or an HTTP/2 stream, `engine/request.rs`), with the
/// `add_header` rules that apply. An empty HTTP/2 answer ends its stream
/// when the path finishes the session.
pub async fn send_session(
    down: &mut ServerSession,
    reply: Reply,
    rules: &[HeaderRule],
) -> Result<()> {
    let (resp, body) = head(down.req_header(), reply, rules)?;
    down.write_response_header(Box::new(resp)).await?;
    if let Some(body) = body {
        down.write_response_body(body, true).await?;
    }
    Ok(())
}
