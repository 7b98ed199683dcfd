//! The local control socket (`etc/letsencrypt/.moat-renew.sock`) through
//! which `moat renew` asks the running instance to renew now.
//!
//! Protocol: one line, `renew` or `renew force`; one line back, `ok ...` or
//! `error ...`.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// A renewal request received on the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewRequest {
    /// Renew even when the certificate is not due.
    pub force: bool,
}

/// Ask the instance listening at `socket` to renew. `Ok(None)` when no
/// instance listens (the caller then runs standalone).
pub async fn request_renewal(socket: &Path, force: bool) -> std::io::Result<Option<String>> {
    let stream = match UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let (r, mut w) = stream.into_split();
    w.write_all(if force { b"renew force\n" } else { b"renew\n" })
        .await?;
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).await?;
    Ok(Some(line.trim().to_owned()))
}

/// Bind the control socket, replacing a stale one left by a killed process.
pub fn bind(socket: &Path) -> std::io::Result<UnixListener> {
    if socket.exists() {
        // A live instance would have answered; `moat renew` checks that first.
        let _ = std::fs::remove_file(socket);
    }
    UnixListener::bind(socket)
}

/// Read one request from an accepted connection and acknowledge it.
pub async fn read_request(stream: UnixStream) -> Option<RenewRequest> {
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).await.ok()?;
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.first() != Some(&"renew") {
        let _ = w.write_all(b"error unknown request\n").await;
        return None;
    }
    let force = words.get(1) == Some(&"force");
    let _ = w.write_all(b"ok renewal scheduled\n").await;
    Some(RenewRequest { force })
}
