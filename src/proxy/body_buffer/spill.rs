//! The part of a held request body beyond what memory holds: an unnamed
//! file in `$TMPDIR` (`/tmp` in moat's image), unlinked as soon as it is
//! made, so nothing is left behind by a crash or a client that goes away.

use std::sync::atomic::{AtomicU64, Ordering};

use pingora::{Error, ErrorType, OrErr, Result};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// One request's body in a temp file, being written.
pub struct Spill {
    file: tokio::fs::File,
    len: u64,
}

/// A spilled body, written and rewound, read back in order (again from
/// its start after [`SpilledBody::restart`]).
pub struct SpilledBody {
    file: tokio::fs::File,
    len: u64,
    left: u64,
}

/// The largest piece read back at once (and written upstream in one go).
const PIECE: usize = 64 * 1024;

impl Spill {
    /// Makes the file and writes what memory held so far.
    pub async fn create(start: &[u8]) -> Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "moat-body-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .or_err_with(ErrorType::InternalError, || {
                format!("making a temp file for a request body: {}", path.display())
            })?;
        // The open handle keeps the file; the name is not needed.
        let _ = tokio::fs::remove_file(&path).await;
        let mut spill = Spill { file, len: 0 };
        spill.append(start).await?;
        Ok(spill)
    }

    /// Appends a piece of the body.
    pub async fn append(&mut self, piece: &[u8]) -> Result<()> {
        self.file.write_all(piece).await.or_err(
            ErrorType::InternalError,
            "writing a request body's temp file",
        )?;
        self.len += piece.len() as u64;
        Ok(())
    }

    /// Ends writing; the body is then read from its start.
    pub async fn rewind(mut self) -> Result<SpilledBody> {
        self.file.flush().await.or_err(
            ErrorType::InternalError,
            "writing a request body's temp file",
        )?;
        self.file.rewind().await.or_err(
            ErrorType::InternalError,
            "rewinding a request body's temp file",
        )?;
        Ok(SpilledBody {
            file: self.file,
            len: self.len,
            left: self.len,
        })
    }
}

impl SpilledBody {
    /// The body's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Reads from the start again, for a request sent once more.
    pub async fn restart(&mut self) -> Result<()> {
        self.file.rewind().await.or_err(
            ErrorType::InternalError,
            "rewinding a request body's temp file",
        )?;
        self.left = self.len;
        Ok(())
    }

    /// The next piece, `None` at the end.
    pub async fn next_piece(&mut self) -> Result<Option<bytes::Bytes>> {
        if self.left == 0 {
            return Ok(None);
        }
        let want = PIECE.min(usize::try_from(self.left).unwrap_or(PIECE));
        let mut piece = vec![0u8; want];
        let mut filled = 0;
        while filled < want {
            let n = self.file.read(&mut piece[filled..]).await.or_err(
                ErrorType::InternalError,
                "reading a request body's temp file",
            )?;
            if n == 0 {
                return Err(Error::explain(
                    ErrorType::InternalError,
                    "a request body's temp file ended early",
                ));
            }
            filled += n;
        }
        self.left -= want as u64;
        Ok(Some(piece.into()))
    }
}
