//! [`BanHandle`]: what the proxy holds. It answers "is this address
//! banned" from [`Bans`]'s lock-free snapshot, and queues each finished
//! request's log lines to one thread that runs the filters, so no regular
//! expression of a jail runs on a proxy worker (fail2ban, too, reads the
//! lines after they are written). When the queue is full, lines are
//! dropped and counted rather than slowing requests down.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;

use super::runtime::Bans;

/// Requests whose lines may wait for the filter thread.
const QUEUE: usize = 4096;

/// One finished request's lines, without their dates.
struct Lines {
    access: Option<String>,
    errors: Vec<String>,
}

/// The jails as the proxy and the control endpoint see them: cheap to
/// clone, never blocks.
#[derive(Clone)]
pub struct BanHandle {
    bans: Arc<Bans>,
    tx: SyncSender<Lines>,
    dropped: Arc<AtomicU64>,
}

impl BanHandle {
    /// Starts the filter thread for `bans`; it ends when the last handle
    /// is dropped.
    pub fn start(bans: Bans) -> std::io::Result<BanHandle> {
        let bans = Arc::new(bans);
        let (tx, rx) = mpsc::sync_channel::<Lines>(QUEUE);
        let worker = bans.clone();
        std::thread::Builder::new()
            .name("moat-bans".into())
            .spawn(move || {
                while let Ok(lines) = rx.recv() {
                    worker.observe(lines.access.as_deref(), &lines.errors);
                }
            })?;
        Ok(BanHandle {
            bans,
            tx,
            dropped: Arc::default(),
        })
    }

    /// Whether `addr` is banned now; a `true` is counted as a refusal.
    pub fn refuses(&self, addr: IpAddr) -> bool {
        let banned = self.bans.banned(addr);
        if banned {
            self.bans.count_refusal();
        }
        banned
    }

    /// Queues one request's access line and error lines (dates removed,
    /// as fail2ban's filters see them).
    pub fn observe(&self, access: Option<String>, errors: Vec<String>) {
        if self.tx.try_send(Lines { access, errors }).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Requests whose lines were not looked at because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The jails themselves (operator bans, the list, counts).
    pub fn bans(&self) -> &Bans {
        &self.bans
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn queued_lines_ban_on_the_filter_thread() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("jail.local"),
            "[DEFAULT]\nignoreself = false\n[nginx-unauthorized]\nenabled = true\nmaxretry = 2\nlogpath = /config/log/nginx/access.log\n",
        )
        .unwrap();
        let handle = BanHandle::start(Bans::start(dir.path()).unwrap()).unwrap();
        let addr: IpAddr = "127.0.0.8".parse().unwrap();
        let line = "127.0.0.8 - - [] \"GET / HTTP/1.1\" 401 9 \"-\" \"curl\"";
        handle.observe(Some(line.to_owned()), Vec::new());
        handle.observe(Some(line.to_owned()), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !handle.bans().banned(addr) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(handle.refuses(addr));
        assert!(!handle.refuses("127.0.0.9".parse().unwrap()));
        assert_eq!(handle.bans().refused(), 1);
        assert_eq!(
            handle.bans().issued(),
            [("nginx-unauthorized".to_owned(), 1)]
        );
        assert_eq!(handle.dropped(), 0);
    }
}
