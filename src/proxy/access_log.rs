//! The access log: one line per request, in nginx's `combined` format or as
//! one JSON object (`LOG_FORMAT=json`), written to stdout and appended to
//! SWAG's `log/nginx/access.log` (fail2ban and log shippers read it there).
//!
//! Why a writer thread: the request path fills an [`AccessRecord`] that
//! borrows from the request, formats it into the worker thread's own
//! reused buffer (the time text is made once a second) and appends the
//! bytes to a shared, bounded batch under a short lock, never blocking on
//! I/O; one thread takes the whole batch and writes it. Nothing is
//! allocated per request once the buffers have grown (issue 14). When the
//! writer falls behind, lines are dropped and counted
//! (`moat_access_log_dropped_total`) rather than slowing requests.
//!
//! The file is reopened when its inode changes (logrotate's rename), so
//! rotation needs no signal. Errors writing the file are logged once per
//! reopen attempt, never per line.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use serde::Serialize;
use time::OffsetDateTime;

use super::log_file::LogFile;
use super::metrics::ProxyMetrics;
use crate::clock::LocalZone;

/// Lines queued before new ones are dropped.
pub const QUEUE: usize = 16 * 1024;

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// nginx's `combined`.
    Combined,
    /// One JSON object per line.
    Json,
}

/// Where the access log goes.
#[derive(Debug, Clone)]
pub struct AccessLogConfig {
    /// Line format.
    pub format: AccessLogFormat,
    /// Write each line to standard output (what `docker logs` shows).
    pub stdout: bool,
    /// Append each line to this file (SWAG: `/config/log/nginx/access.log`).
    pub file: Option<PathBuf>,
    /// Owner (uid, gid) given to a file the writer creates.
    pub owner: Option<(u32, u32)>,
    /// `TZ`: the zone of `$time_local` (and of JSON's `time`).
    pub zone: LocalZone,
}

/// One finished request, as the log line needs it, borrowing what it can
/// from the request.
#[derive(Debug, Clone, Serialize)]
pub struct AccessRecord<'a> {
    /// When the request finished (nginx's `$time_local`), RFC 3339 in JSON.
    #[serde(serialize_with = "rfc3339")]
    pub time: OffsetDateTime,
    /// `$remote_addr`.
    pub remote_addr: Option<IpAddr>,
    /// `$request_method`.
    pub method: Cow<'a, str>,
    /// `$request_uri` as received.
    pub uri: Cow<'a, str>,
    /// `$server_protocol` (`HTTP/1.1`, `HTTP/2.0`).
    pub protocol: Cow<'a, str>,
    /// `$status`; 0 when no response was written (the client went away).
    pub status: u16,
    /// `$body_bytes_sent`.
    pub body_bytes_sent: u64,
    /// `$http_referer`.
    pub referer: Option<Cow<'a, str>>,
    /// `$http_user_agent`.
    pub user_agent: Option<Cow<'a, str>>,
    /// `$host`.
    pub host: Option<Cow<'a, str>>,
    /// The server block that answered (see [`super::metrics::server_label`]).
    pub server: Cow<'a, str>,
    /// The upstream URL, when the request was forwarded.
    pub upstream: Option<Cow<'a, str>>,
    /// `$request_time` in seconds.
    pub request_time: f64,
    /// `$upstream_response_time` in seconds, when forwarded.
    pub upstream_response_time: Option<f64>,
    /// `$remote_user`: the user name of a `Basic` `Authorization` header.
    pub remote_user: Option<Cow<'a, str>>,
}

impl AccessRecord<'_> {
    /// The line in nginx's `combined` format:
    /// `$remote_addr - $remote_user [$time_local] "$request" $status
    /// $body_bytes_sent "$http_referer" "$http_user_agent"`.
    pub fn combined(&self) -> String {
        self.combined_at(&time_local(self.time))
    }

    /// The `combined` line with `[]` where the time goes, the line as
    /// fail2ban's filters see it once the date is cut out, and where in it
    /// the time goes (after the `[`): what [`AccessLog::log_undated`] puts
    /// it into.
    pub fn combined_undated_at(&self) -> (String, usize) {
        let mut out = self.line_buffer();
        let at = self.write_combined(&mut out, "");
        (out, at)
    }

    fn combined_at(&self, time: &str) -> String {
        let mut out = self.line_buffer();
        self.write_combined(&mut out, time);
        out
    }

    /// A buffer the line fits in.
    fn line_buffer(&self) -> String {
        String::with_capacity(
            128 + self.uri.len()
                + self.user_agent.as_ref().map_or(0, |v| v.len())
                + self.referer.as_ref().map_or(0, |v| v.len()),
        )
    }

    /// Appends the line to `out`, each field escaped into it (no string
    /// per field: this runs for every request, for the log and for the
    /// jails); where in `out` the time went.
    fn write_combined(&self, out: &mut String, time: &str) -> usize {
        match self.remote_addr {
            Some(a) => crate::cidr::push_ip(out, a),
            None => out.push('-'),
        }
        out.push_str(" - ");
        escape_into(out, self.remote_user.as_deref().unwrap_or("-"));
        out.push_str(" [");
        let time_at = out.len();
        out.push_str(time);
        out.push_str("] \"");
        escape_into(out, &self.method);
        out.push(' ');
        escape_into(out, &self.uri);
        out.push(' ');
        escape_into(out, &self.protocol);
        out.push_str("\" ");
        crate::cidr::push_u64(out, u64::from(self.status));
        out.push(' ');
        crate::cidr::push_u64(out, self.body_bytes_sent);
        out.push_str(" \"");
        escape_into(out, self.referer.as_deref().unwrap_or("-"));
        out.push_str("\" \"");
        escape_into(out, self.user_agent.as_deref().unwrap_or("-"));
        out.push('"');
        time_at
    }

    /// The line as one JSON object.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn rfc3339<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    use time::format_description::well_known::Rfc3339;
    // Formatted on the stack: an RFC 3339 time is at most 35 bytes.
    let mut buf = [0u8; 64];
    let mut out = &mut buf[..];
    let n = t
        .format_into(&mut out, &Rfc3339)
        .map_err(serde::ser::Error::custom)?;
    let text = std::str::from_utf8(&buf[..n]).map_err(serde::ser::Error::custom)?;
    s.serialize_str(text)
}

/// `serde_json`'s output appended to a `String`: the JSON line goes into
/// the worker's reused line buffer instead of a string of its own.
/// serde_json writes whole characters (it splits a string only at the
/// ASCII bytes it escapes), so each piece is UTF-8 on its own.
struct StrSink<'a>(&'a mut String);

impl std::io::Write for StrSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = std::str::from_utf8(buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        self.0.push_str(text);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// nginx's `$time_local`: `29/Nov/2026:17:44:17 +0000`.
fn time_local(t: OffsetDateTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let offset = t.offset();
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} {sign}{:02}{:02}",
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second(),
        h.unsigned_abs(),
        m.unsigned_abs(),
    )
}

/// nginx's escaping of logged strings: `"`, `\` and bytes outside printable
/// ASCII become `\xHH`, so a request cannot forge a log line.
fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut clean = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            // Bytes before `i` since the last escape are printable ASCII,
            // so both ends are character boundaries when the run is not
            // empty (`clean` may sit inside a character only when `i` is
            // the next byte of it).
            if clean < i {
                out.push_str(&s[clean..i]);
            }
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push_str("\\x");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
            clean = i + 1;
        }
    }
    out.push_str(&s[clean..]);
}

/// The request side of the access log: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct AccessLog {
    queue: Option<Arc<Producer>>,
    metrics: ProxyMetrics,
}

/// What the request side and the writer share: the lines formatted and
/// not yet written.
#[derive(Debug)]
struct Queue {
    format: AccessLogFormat,
    zone: LocalZone,
    batch: Mutex<Batch>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct Batch {
    bytes: Vec<u8>,
    lines: usize,
    /// No request side is left: the writer ends once the batch is written.
    closed: bool,
}

/// The request sides' share of the queue; when the last clone of the
/// [`AccessLog`] goes, the writer is told to finish.
#[derive(Debug)]
struct Producer(Arc<Queue>);

impl Drop for Producer {
    fn drop(&mut self) {
        self.0.batch.lock().closed = true;
        self.0.ready.notify_one();
    }
}

thread_local! {
    /// The line being formatted on this worker thread, reused.
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(512));
    /// `$time_local` of the last second logged on this thread, with the
    /// second and UTC offset it was made for.
    static TIME_LOCAL: RefCell<(i64, i32, String)> = const { RefCell::new((i64::MIN, 0, String::new())) };
}

impl AccessLog {
    /// No access log (tests and `ACCESS_LOG=off`).
    pub fn disabled() -> Self {
        AccessLog {
            queue: None,
            metrics: ProxyMetrics::default(),
        }
    }

    /// Starts the writer thread; it ends when every clone is dropped.
    pub fn start(config: AccessLogConfig, metrics: ProxyMetrics) -> Self {
        if !config.stdout && config.file.is_none() {
            return AccessLog {
                queue: None,
                metrics,
            };
        }
        let queue = Arc::new(Queue {
            format: config.format,
            zone: config.zone.clone(),
            batch: Mutex::new(Batch::default()),
            ready: Condvar::new(),
        });
        let shared = queue.clone();
        let spawned = std::thread::Builder::new()
            .name("moat-access-log".into())
            .spawn(move || Writer::new(config).run(&shared));
        match spawned {
            Ok(_) => AccessLog {
                queue: Some(Arc::new(Producer(queue))),
                metrics,
            },
            Err(e) => {
                tracing::error!(error = %e, "access log: cannot start its writer thread; no access log");
                AccessLog {
                    queue: None,
                    metrics,
                }
            }
        }
    }

    /// Queues one line; drops (and counts) it when the writer is behind.
    pub fn log(&self, record: &AccessRecord<'_>) {
        self.log_with(record, None)
    }

    /// [`AccessLog::log`] for a record whose undated line was already made
    /// for the jails ([`AccessRecord::combined_undated_at`], `time_at`
    /// where the time goes): a `combined` line is that line with the time
    /// put in, not formatted a second time.
    pub fn log_undated(&self, record: &AccessRecord<'_>, undated: &str, time_at: usize) {
        self.log_with(record, Some((undated, time_at)))
    }

    fn log_with(&self, record: &AccessRecord<'_>, undated: Option<(&str, usize)>) {
        let Some(producer) = &self.queue else { return };
        let queue = &producer.0;
        LINE.with_borrow_mut(|line| {
            line.clear();
            queue.format_into(line, record, undated);
            line.push('\n');
            let mut batch = queue.batch.lock();
            if batch.lines >= QUEUE {
                drop(batch);
                self.metrics.access_log_dropped();
                return;
            }
            let was_empty = batch.bytes.is_empty();
            batch.bytes.extend_from_slice(line.as_bytes());
            batch.lines += 1;
            drop(batch);
            if was_empty {
                queue.ready.notify_one();
            }
        });
    }

    /// Whether lines are written anywhere.
    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }
}

impl Queue {
    /// The record's line in the configured format, its time in `TZ`.
    fn format_into(
        &self,
        out: &mut String,
        record: &AccessRecord<'_>,
        undated: Option<(&str, usize)>,
    ) {
        let unix = record.time.unix_timestamp();
        let offset = self.zone.offset_at(unix);
        let local = time::UtcOffset::from_whole_seconds(offset)
            .map_or(record.time, |off| record.time.to_offset(off));
        match self.format {
            AccessLogFormat::Combined => TIME_LOCAL.with_borrow_mut(|(second, at, text)| {
                if (*second, *at) != (unix, offset) {
                    *text = time_local(local);
                    (*second, *at) = (unix, offset);
                }
                match undated.and_then(|(u, at)| u.split_at_checked(at)) {
                    Some((head, tail)) => {
                        out.push_str(head);
                        out.push_str(text);
                        out.push_str(tail);
                    }
                    None => {
                        record.write_combined(out, text);
                    }
                }
            }),
            AccessLogFormat::Json => {
                let record = AccessRecord {
                    time: local,
                    ..record.clone()
                };
                let start = out.len();
                if serde_json::to_writer(StrSink(out), &record).is_err() {
                    out.truncate(start);
                    out.push_str(&record.json());
                }
            }
        }
    }
}

/// The writer thread's state.
struct Writer {
    config: AccessLogConfig,
    file: Option<LogFile>,
}

impl Writer {
    fn new(config: AccessLogConfig) -> Self {
        let file = config
            .file
            .clone()
            .map(|path| LogFile::open(path, config.owner, "access log"));
        Writer { config, file }
    }

    /// Takes the whole batch (leaving its own emptied buffer in its place,
    /// so neither side allocates once both have grown) and writes it.
    fn run(mut self, queue: &Queue) {
        let mut out = Vec::with_capacity(64 * 1024);
        loop {
            {
                let mut batch = queue.batch.lock();
                while batch.bytes.is_empty() && !batch.closed {
                    queue.ready.wait(&mut batch);
                }
                if batch.bytes.is_empty() {
                    return;
                }
                std::mem::swap(&mut batch.bytes, &mut out);
                batch.lines = 0;
            }
            if self.config.stdout {
                let _ = std::io::stdout().lock().write_all(&out);
            }
            if let Some(file) = &mut self.file {
                file.write(&out);
            }
            out.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn record() -> AccessRecord<'static> {
        AccessRecord {
            time: time::macros::datetime!(2026-11-29 17:44:07 UTC),
            remote_addr: Some("192.0.2.7".parse().unwrap()),
            method: "GET".into(),
            uri: "/a?b=\"c\"".into(),
            protocol: "HTTP/1.1".into(),
            status: 200,
            body_bytes_sent: 612,
            referer: None,
            user_agent: Some("curl/8.0".into()),
            host: Some("app.example.test".into()),
            server: "app.*".into(),
            upstream: Some("http://app:80/a?b=\"c\"".into()),
            request_time: 0.012,
            upstream_response_time: Some(0.01),
            remote_user: None,
        }
    }

    #[test]
    fn combined_format_matches_nginx() {
        assert_eq!(
            record().combined(),
            "192.0.2.7 - - [29/Nov/2026:17:44:07 +0000] \"GET /a?b=\\x22c\\x22 HTTP/1.1\" 200 612 \"-\" \"curl/8.0\""
        );
    }

    #[test]
    fn json_format_is_one_object_with_every_field() {
        let v: serde_json::Value = serde_json::from_str(&record().json()).unwrap();
        assert_eq!(v["time"], "2026-11-29T17:44:07Z");
        assert_eq!(v["status"], 200);
        assert_eq!(v["uri"], "/a?b=\"c\"");
        assert_eq!(v["server"], "app.*");
        assert_eq!(v["referer"], serde_json::Value::Null);
        assert!(!record().json().contains('\n'));
    }

    #[test]
    fn control_bytes_cannot_forge_a_line() {
        let mut r = record();
        r.user_agent = Some("x\n1.2.3.4 - - [fake]".into());
        assert!(!r.combined().contains('\n'));
        assert!(r.combined().contains("x\\x0A1.2.3.4"));
    }

    #[test]
    fn escaping_keeps_clean_runs_and_escapes_every_byte_of_a_character() {
        let mut out = String::new();
        escape_into(&mut out, "a\"b\\c");
        escape_into(&mut out, "|\u{e5}|\u{1F600}");
        escape_into(&mut out, "\u{e5}");
        assert_eq!(
            out,
            "a\\x22b\\x5Cc|\\xC3\\xA5|\\xF0\\x9F\\x98\\x80\\xC3\\xA5"
        );
    }

    /// The combined format into `path`, in UTC.
    fn file_log(path: &std::path::Path) -> AccessLog {
        AccessLog::start(
            AccessLogConfig {
                format: AccessLogFormat::Combined,
                stdout: false,
                file: Some(path.to_owned()),
                owner: None,
                zone: LocalZone::utc(),
            },
            ProxyMetrics::new(),
        )
    }

    #[test]
    fn lines_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log/nginx/access.log");
        let log = file_log(&path);
        log.log(&record());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .count()
            < 1
        {
            assert!(Instant::now() < deadline, "line never written");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("192.0.2.7 - - [29/Nov/2026:17:44:07 +0000]"));
    }

    /// A JSON line written into the reused buffer is the record's JSON,
    /// characters outside ASCII and escapes included.
    #[test]
    fn json_lines_are_the_records_json() {
        let queue = Queue {
            format: AccessLogFormat::Json,
            zone: LocalZone::utc(),
            batch: Mutex::new(Batch::default()),
            ready: Condvar::new(),
        };
        let mut r = record();
        r.user_agent = Some("\u{e5}\"x\\\u{1F600}\n".into());
        let mut out = String::from("kept ");
        queue.format_into(&mut out, &r, None);
        assert_eq!(out, format!("kept {}", r.json()));
        let v: serde_json::Value = serde_json::from_str(&out[5..]).unwrap();
        assert_eq!(v["user_agent"], "\u{e5}\"x\\\u{1F600}\n");
        assert_eq!(v["time"], "2026-11-29T17:44:07Z");
    }

    /// The jails' undated line with the time put in is the line the log
    /// would format itself, for a user name that holds `[] ` and bytes
    /// that are escaped (the log writes both forms to the same file).
    #[test]
    fn the_undated_line_with_its_time_is_the_combined_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = file_log(&path);
        let mut r = record();
        r.remote_user = Some("a[] \"b".into());
        r.remote_addr = Some("2001:db8::1".parse().unwrap());
        let (undated, at) = r.combined_undated_at();
        assert_eq!(&undated[at - 1..at + 1], "[]");
        log.log(&r);
        log.log_undated(&r, &undated, at);
        let deadline = Instant::now() + Duration::from_secs(10);
        let text = loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().count() >= 2 {
                break text;
            }
            assert!(Instant::now() < deadline, "lines never written");
            std::thread::sleep(Duration::from_millis(10));
        };
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], r.combined());
        assert_eq!(lines[1], lines[0]);
        assert!(
            lines[0].starts_with("2001:db8::1 - a[] \\x22b [29/Nov/2026:17:44:07 +0000] \"GET ")
        );
    }

    /// Workers format into their own buffers and append to one batch:
    /// every line arrives whole, once.
    #[test]
    fn lines_from_many_threads_arrive_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = file_log(&path);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let mut r = record();
                        r.uri = format!("/t{t}/r{i}").into();
                        log.log(&r);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let text = loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().count() >= 800 {
                break text;
            }
            assert!(
                Instant::now() < deadline,
                "only {} lines",
                text.lines().count()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut uris: Vec<&str> = text
            .lines()
            .map(|l| {
                assert!(
                    l.starts_with("192.0.2.7 - - [29/Nov/2026:17:44:07 +0000] \"GET /t"),
                    "{l}"
                );
                assert!(l.ends_with("\"curl/8.0\""), "{l}");
                l.split(' ').nth(6).unwrap()
            })
            .collect();
        uris.sort_unstable();
        uris.dedup();
        assert_eq!(uris.len(), 800);
    }
}
