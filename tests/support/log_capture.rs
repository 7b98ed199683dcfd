//! A writer for moat's tracing subscriber that keeps every byte in memory,
//! so a test can read what moat logged.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Appends what is written to the shared buffer.
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
