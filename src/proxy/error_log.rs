//! SWAG's `log/nginx/error.log`, in nginx's error-log format, for the
//! events nginx writes there about requests: `auth_basic` failures, access
//! refused by `deny`, upstream errors. fail2ban's stock `nginx-http-auth`
//! filter and SWAG's `nginx-deny` filter read exactly these lines, so a
//! user who keeps running fail2ban (or CrowdSec) against the volume keeps
//! their bans. moat's own diagnostics stay on standard output.
//!
//! A line: `2026/12/03 19:47:19 [error] 7#7: *3 access forbidden by rule,
//! client: 192.0.2.1, server: app.*, request: "GET / HTTP/1.1", host:
//! "app.example.com"`. The `*N` is a per-process request serial (nginx's
//! connection serial). Written by one thread, as the access log is; the
//! file follows logrotate.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

use time::OffsetDateTime;

use super::log_file::LogFile;
use crate::clock::LocalZone;

/// Lines queued before new ones are dropped.
const QUEUE: usize = 4 * 1024;

/// Where the error log goes.
#[derive(Debug, Clone)]
pub struct ErrorLogConfig {
    /// SWAG: `/config/log/nginx/error.log`.
    pub file: PathBuf,
    /// Owner (uid, gid) given to a file the writer creates.
    pub owner: Option<(u32, u32)>,
    /// `TZ`: nginx writes local time.
    pub zone: LocalZone,
}

/// One event about one request.
#[derive(Debug, Clone)]
pub struct ErrorRecord {
    /// When it happened.
    pub time: OffsetDateTime,
    /// nginx's level word (`error`, `warn`).
    pub level: &'static str,
    /// The message (`user "bob": password mismatch`).
    pub message: String,
    /// `$remote_addr` (after realip).
    pub client: Option<IpAddr>,
    /// The server's first `server_name`.
    pub server: String,
    /// The request line.
    pub request: String,
    /// The upstream URL, for upstream errors.
    pub upstream: Option<String>,
    /// The `Host` header.
    pub host: Option<String>,
}

impl ErrorRecord {
    /// The line without its end, nginx's layout.
    fn line(&self, serial: u64) -> String {
        let t = self.time;
        format!(
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02}{}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            self.undated(serial)
        )
    }

    /// The line after its date (` [error] ...`), as fail2ban's filters
    /// see it.
    pub fn undated(&self, serial: u64) -> String {
        let pid = std::process::id();
        let mut line = format!(
            " [{}] {pid}#{pid}: *{serial} {}, client: {}, server: {}, request: \"{}\"",
            self.level,
            clean_controls(&self.message),
            self.client
                .map_or_else(|| "-".to_string(), |a| a.to_string()),
            clean(&self.server),
            clean(&self.request),
        );
        if let Some(upstream) = &self.upstream {
            line.push_str(&format!(", upstream: \"{}\"", clean(upstream)));
        }
        if let Some(host) = &self.host {
            line.push_str(&format!(", host: \"{}\"", clean(host)));
        }
        line
    }
}

/// Control characters and quotes become `\xNN`, so no request can forge
/// a line (or a quoted field) that fail2ban would read as another client's.
fn clean(s: &str) -> String {
    escape_if(s, |c| c.is_control() || c == '"')
}

/// Control characters become `\xNN` (the message quotes names on purpose;
/// the conf layer has already escaped what a client chose).
fn clean_controls(s: &str) -> String {
    escape_if(s, char::is_control)
}

fn escape_if(s: &str, escape: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if escape(c) {
            for b in c.to_string().bytes() {
                out.push_str(&format!("\\x{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The request side of the error log: cheap to clone, never blocks.
#[derive(Debug, Clone, Default)]
pub struct ErrorLog {
    tx: Option<SyncSender<ErrorRecord>>,
    serial: Arc<AtomicU64>,
}

impl ErrorLog {
    /// No error log (tests, `moat` without a /config).
    pub fn disabled() -> Self {
        ErrorLog::default()
    }

    /// Starts the writer thread; it ends when every clone is dropped.
    pub fn start(config: ErrorLogConfig) -> Self {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("moat-error-log".into())
            .spawn(move || write_lines(config, rx));
        match spawned {
            Ok(_) => ErrorLog {
                tx: Some(tx),
                serial: Arc::default(),
            },
            Err(e) => {
                tracing::error!(error = %e, "error log: cannot start its writer thread; no error.log");
                ErrorLog::default()
            }
        }
    }

    /// Queues one line (dropped when the writer is behind).
    pub fn log(&self, record: ErrorRecord) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(record);
        }
    }

    /// Whether lines are written anywhere.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// The next request serial (`*N`).
    pub fn serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed) + 1
    }
}

fn write_lines(config: ErrorLogConfig, rx: Receiver<ErrorRecord>) {
    let mut file = LogFile::open(config.file.clone(), config.owner, "error log");
    let mut serial = 0u64;
    let mut batch = Vec::new();
    while let Ok(first) = rx.recv() {
        batch.clear();
        let mut next = Some(first);
        while let Some(record) = next {
            serial += 1;
            let offset = config.zone.offset_at(record.time.unix_timestamp());
            let record = match time::UtcOffset::from_whole_seconds(offset) {
                Ok(off) => ErrorRecord {
                    time: record.time.to_offset(off),
                    ..record
                },
                Err(_) => record,
            };
            let _ = writeln!(batch, "{}", record.line(serial));
            next = rx.try_recv().ok();
        }
        file.write(&batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_nginx_s_and_cannot_be_forged() {
        let record = ErrorRecord {
            time: time::macros::datetime!(2026-12-03 19:47:19 UTC),
            level: "error",
            message: "user \"bob\": password mismatch\n".into(),
            client: Some("192.0.2.7".parse().unwrap()),
            server: "app.*".into(),
            request: "GET /x\n2026/12/03 [error] client: 10.0.0.1 HTTP/1.1".into(),
            upstream: None,
            host: Some("app.example.com".into()),
        };
        let line = record.line(3);
        let pid = std::process::id();
        assert!(line.starts_with(&format!(
            "2026/12/03 19:47:19 [error] {pid}#{pid}: *3 user \"bob\": password mismatch\\x0A, client: 192.0.2.7, server: app.*, request: \"GET /x\\x0A2026"
        )), "{line}");
        assert!(!line.contains('\n'));
        assert!(line.ends_with(", host: \"app.example.com\""), "{line}");
    }
}
