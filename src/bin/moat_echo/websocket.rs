//! RFC 6455 server side: the opening handshake and an echo loop that sends
//! text and binary frames back (fragmentation kept), answers pings, and
//! closes cleanly.

use std::io;

use base64::Engine as _;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::wire::Wire;

/// The GUID every `Sec-WebSocket-Accept` is derived with (RFC 6455 §1.3).
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The largest frame payload accepted.
const MAX_PAYLOAD: u64 = 16 * 1024 * 1024;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// One frame as received (payload already unmasked).
struct Frame {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

/// Completes the handshake and echoes frames until a close or EOF. The
/// 101 carries `X-Echo-Request`: `request` (the echo's JSON record of the
/// upgrade request) in base64, so a client behind a proxy can see what
/// reached the upstream.
pub async fn run<S>(
    mut wire: Wire<S>,
    key: &str,
    protocol: Option<&str>,
    request: &str,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nX-Echo-Request: {}\r\n",
        accept_key(key),
        base64::engine::general_purpose::STANDARD.encode(request)
    );
    if let Some(p) = protocol {
        resp.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    resp.push_str("\r\n");
    wire.send(resp.as_bytes()).await?;
    loop {
        if wire.buffered().is_empty() && !wire.fill().await? {
            return Ok(());
        }
        let frame = match read_frame(&mut wire).await? {
            Ok(f) => f,
            Err(code) => {
                // Protocol error: close with the status that says why.
                wire.send(&encode(true, OP_CLOSE, &code.to_be_bytes()))
                    .await?;
                return wire.shutdown().await;
            }
        };
        match frame.opcode {
            OP_TEXT | OP_BINARY | OP_CONTINUATION => {
                wire.send(&encode(frame.fin, frame.opcode, &frame.payload))
                    .await?;
            }
            OP_PING => wire.send(&encode(true, OP_PONG, &frame.payload)).await?,
            OP_PONG => {}
            OP_CLOSE => {
                let status = frame.payload.get(..2).unwrap_or(&[]);
                wire.send(&encode(true, OP_CLOSE, status)).await?;
                return wire.shutdown().await;
            }
            _ => {
                wire.send(&encode(true, OP_CLOSE, &1002u16.to_be_bytes()))
                    .await?;
                return wire.shutdown().await;
            }
        }
    }
}

/// Reads one client frame; `Err(code)` is a close status for a protocol error.
async fn read_frame<S>(wire: &mut Wire<S>) -> io::Result<Result<Frame, u16>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let hdr = wire.take(2).await?;
    let fin = hdr[0] & 0x80 != 0;
    let opcode = hdr[0] & 0x0F;
    let masked = hdr[1] & 0x80 != 0;
    let len = match hdr[1] & 0x7F {
        126 => {
            let b = wire.take(2).await?;
            u16::from_be_bytes([b[0], b[1]]) as u64
        }
        127 => {
            let b = wire.take(8).await?;
            u64::from_be_bytes(b.try_into().expect("take(8) returns 8 bytes"))
        }
        n => n as u64,
    };
    if !masked {
        // RFC 6455 §5.1: a server must close on an unmasked client frame.
        return Ok(Err(1002));
    }
    if len > MAX_PAYLOAD {
        return Ok(Err(1009));
    }
    let mask = wire.take(4).await?;
    let mut payload = wire.take(len as usize).await?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    Ok(Ok(Frame {
        fin,
        opcode,
        payload,
    }))
}

/// A server frame (servers never mask).
fn encode(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(if fin { 0x80 } else { 0 } | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= u16::MAX as usize => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc6455_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frame_length_forms() {
        assert_eq!(encode(true, OP_TEXT, b"hi"), vec![0x81, 2, b'h', b'i']);
        assert_eq!(
            &encode(true, OP_BINARY, &[0; 200])[..4],
            &[0x82, 126, 0, 200]
        );
        assert_eq!(&encode(false, OP_TEXT, &[0; 70000])[..2], &[0x01, 127]);
    }
}
