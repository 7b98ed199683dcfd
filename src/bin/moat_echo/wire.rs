//! A byte stream with a read buffer: enough to parse HTTP/1.1 and WebSocket
//! framing by hand without losing bytes between the two.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest request head accepted (request line plus headers).
pub const MAX_HEAD: usize = 64 * 1024;

/// A stream plus the bytes read from it but not consumed yet.
pub struct Wire<S> {
    io: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    /// Wraps a connected stream.
    pub fn new(io: S) -> Self {
        Self {
            io,
            buf: Vec::with_capacity(8192),
        }
    }

    /// The unconsumed bytes.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Reads more bytes; `Ok(false)` on a clean end of stream.
    pub async fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 16384];
        let n = self.io.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// Drops the first `n` buffered bytes.
    pub fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
    }

    /// Takes exactly `n` bytes, reading as needed.
    pub async fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(eof());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads exactly `n` bytes of a request body, feeding them to `digest`
    /// (the echo reports their SHA-256, not the bytes).
    pub async fn skip(&mut self, mut n: u64, digest: &mut sha2::Sha256) -> io::Result<()> {
        use sha2::Digest;
        loop {
            let here = (self.buf.len() as u64).min(n) as usize;
            digest.update(&self.buf[..here]);
            self.consume(here);
            n -= here as u64;
            if n == 0 {
                return Ok(());
            }
            if !self.fill().await? {
                return Err(eof());
            }
        }
    }

    /// Takes one CRLF- (or LF-) terminated line, without the terminator.
    pub async fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            if !self.fill().await? {
                return Err(eof());
            }
        }
    }

    /// Writes all of `bytes` and flushes.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Closes the write side.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.io.shutdown().await
    }
}

/// The error for a peer that went away mid-message.
pub fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed mid-message",
    )
}
