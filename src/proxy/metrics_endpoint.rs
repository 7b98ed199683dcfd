//! The metrics endpoint: `GET /metrics` (Prometheus text format) and
//! `GET /health` (what `moat health` asks), and `/bans` (what `moat bans`
//! asks: `bans::control`), on their own listener, which
//! moat binds to 127.0.0.1 by default (`METRICS_ADDR`), never on the public
//! ports.
//!
//! Why not a Pingora service: the endpoint answers two fixed paths a few
//! times a minute; a small HTTP/1.1 responder on the supervisor's runtime
//! keeps it off the proxy's worker threads and free of the route table.
//! Each connection gets one answer and is closed; a request head must
//! arrive within [`HEAD_TIMEOUT`] and fit in [`MAX_HEAD`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::bans::BanHandle;

/// Longest a client may take to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head read.
pub const MAX_HEAD: usize = 8 * 1024;

/// Builds the `/metrics` body on each scrape.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Builds the status page (`/`, HTML) or its data (`/api/status`, JSON)
/// on each request, given the request's `Authorization` header (checked
/// against STATUS_PAGE_AUTH); see [`crate::status`].
pub type StatusRender = Arc<dyn Fn(StatusView, Option<&str>) -> StatusAnswer + Send + Sync>;

/// What the status page answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAnswer {
    /// Status line text (`200 OK`).
    pub status: &'static str,
    /// Content-Type.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
    /// Ask for Basic credentials (`WWW-Authenticate`), on a 401.
    pub challenge: bool,
}

/// Which form of the status a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusView {
    /// The page, `/`.
    Html,
    /// The data, `/api/status`.
    Json,
}

/// Which configuration is in service, for `/health` and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ConfigHealth {
    /// The live confs loaded (or nothing has been loaded yet).
    #[default]
    Current,
    /// The live confs are broken; the last copy that loaded is serving.
    LastGood {
        /// When that copy was saved (RFC 3339).
        saved_at: String,
        /// The first error in the live confs (`file:line:column: message`).
        problem: String,
    },
    /// Nothing loads: every request answers 503.
    Broken {
        /// The first error in the live confs.
        problem: String,
    },
}

/// Whether the proxy is serving, for `/health`. Set by the proxy service
/// once its listeners are bound; cleared when it stops. Also carries which
/// configuration is in service (set by the route reloader).
#[derive(Debug, Clone, Default)]
pub struct Health {
    serving: Arc<AtomicBool>,
    config: Arc<std::sync::Mutex<ConfigHealth>>,
    /// Protections that are off although configured (a jail file moat
    /// cannot read): the proxy serves, so health is degraded, not down.
    lapses: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Health {
    /// Not serving yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records whether the proxy's listeners are up.
    pub fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::Release);
    }

    /// Whether the proxy's listeners are up.
    pub fn serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    /// Records which configuration is in service.
    pub fn set_config(&self, state: ConfigHealth) {
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }

    /// Which configuration is in service.
    pub fn config(&self) -> ConfigHealth {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records a protection that is configured but not running, in words
    /// (shown by `/health` as `degraded` until moat restarts).
    pub fn add_lapse(&self, what: String) {
        self.lapses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(what);
    }

    /// The protections configured but not running.
    pub fn lapses(&self) -> Vec<String> {
        self.lapses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// `/health`'s answer while the proxy serves.
fn health_answer(health: &Health) -> (&'static str, String) {
    let lapses: String = health
        .lapses()
        .iter()
        .map(|l| format!("degraded: {l}\n"))
        .collect();
    match health.config() {
        ConfigHealth::Current if lapses.is_empty() => ("200 OK", "ok: proxy serving\n".to_owned()),
        ConfigHealth::Current => ("200 OK", lapses),
        ConfigHealth::LastGood { saved_at, problem } => (
            "200 OK",
            format!(
                "degraded: serving the last good configuration from {saved_at}; the current one is broken: {problem}\n{lapses}"
            ),
        ),
        ConfigHealth::Broken { problem } => (
            "503 Service Unavailable",
            format!("unhealthy: no configuration loads: {problem}\n{lapses}"),
        ),
    }
}

/// Serves `listener` until `stop` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    render: MetricsRender,
    status: StatusRender,
    health: Health,
    bans: Option<BanHandle>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (render, status, health) = (render.clone(), status.clone(), health.clone());
                    let bans = bans.clone();
                    let from_loopback = peer.ip().to_canonical().is_loopback();
                    tokio::spawn(async move {
                        let ask = Ask { render: &render, status: &status, health: &health, bans: bans.as_ref(), from_loopback };
                        if let Err(e) = answer(stream, ask).await {
                            tracing::debug!(error = %e, "metrics endpoint: connection failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// What one connection may be answered from.
struct Ask<'a> {
    render: &'a MetricsRender,
    status: &'a StatusRender,
    health: &'a Health,
    bans: Option<&'a BanHandle>,
    from_loopback: bool,
}

async fn answer(mut stream: TcpStream, ask: Ask<'_>) -> std::io::Result<()> {
    let Ask {
        render,
        status: status_page,
        health,
        bans,
        from_loopback,
    } = ask;
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split_ascii_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let authorization = head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("authorization")
            .then(|| value.trim())
    });
    let mut challenge = false;
    let mut page = |view| {
        let answer = status_page(view, authorization);
        challenge = answer.challenge;
        (answer.status, answer.content_type, answer.body)
    };
    let (status, content_type, body) = if let Some((status, body)) =
        crate::bans::control::answer(bans, method, path, query, from_loopback)
    {
        (status, "application/json", body)
    } else {
        match (method, path) {
            ("GET" | "HEAD", "/metrics") => (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                render(),
            ),
            ("GET" | "HEAD", "/health") if health.serving() => {
                let (status, body) = health_answer(health);
                (status, "text/plain", body)
            }
            ("GET" | "HEAD", "/health") => (
                "503 Service Unavailable",
                "text/plain",
                "proxy not serving\n".to_owned(),
            ),
            ("GET" | "HEAD", "/") => page(StatusView::Html),
            ("GET" | "HEAD", "/api/status") => page(StatusView::Json),
            ("GET" | "HEAD", _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
            _ => (
                "405 Method Not Allowed",
                "text/plain",
                "GET only\n".to_owned(),
            ),
        }
    };
    let challenge = if challenge {
        "WWW-Authenticate: Basic realm=\"moat status\", charset=\"UTF-8\"\r\n"
    } else {
        ""
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{challenge}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&response).await?;
    stream.shutdown().await
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        if buf.len() >= MAX_HEAD {
            break;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
