use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::bootstrap::ConfigLayout;
use crate::settings::Settings;

/// A service whose behaviour per run is scripted.
struct Scripted {
    runs: Arc<AtomicUsize>,
    /// What run number `n` (0-based) does.
    script: fn(usize) -> Step,
}

#[derive(Clone, Copy)]
enum Step {
    Fail,
    Fatal,
    Panic,
    ServeUntilShutdown,
    IgnoreShutdown,
}

#[async_trait::async_trait]
impl Service for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn run(&self, ctx: ServiceContext) -> Result<(), ServiceError> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        match (self.script)(n) {
            Step::Fail => Err(ServiceError::failed("scripted failure")),
            Step::Fatal => Err(ServiceError::fatal("scripted fatal error")),
            Step::Panic => panic!("scripted panic"),
            Step::ServeUntilShutdown => {
                ctx.shutdown.requested().await;
                Ok(())
            }
            Step::IgnoreShutdown => {
                std::future::pending::<()>().await;
                Ok(())
            }
        }
    }
}

fn supervisor(grace: &str) -> (Supervisor, EventSender, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::from_vars([
        ("CONFIG_DIR".to_string(), dir.path().display().to_string()),
        ("SHUTDOWN_GRACE".to_string(), grace.to_string()),
    ])
    .unwrap();
    let (tx, rx) = event_channel();
    let sup = Supervisor::new(
        Arc::new(settings),
        ConfigLayout::new(dir.path()),
        RouteReloader::new(dir.path().to_path_buf()),
        (tx.clone(), rx),
    );
    (sup, tx, dir)
}

async fn wait_for(deadline: Duration, cond: impl Fn() -> bool) {
    let end = Instant::now() + deadline;
    while !cond() {
        assert!(
            Instant::now() < end,
            "condition not met within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_failed_service_is_restarted_with_growing_backoff() {
    let (mut sup, tx, _dir) = supervisor("1");
    let runs = Arc::new(AtomicUsize::new(0));
    sup.add(Scripted {
        runs: runs.clone(),
        script: |n| match n {
            0 => Step::Fail,
            1 => Step::Panic,
            _ => Step::ServeUntilShutdown,
        },
    });
    let started = Instant::now();
    let task = tokio::spawn(sup.run());
    wait_for(Duration::from_secs(10), || runs.load(Ordering::SeqCst) == 3).await;
    // Backoff: 1 s after the failure, 2 s after the panic.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    tx.send(Event::Stop("test")).unwrap();
    assert_eq!(task.await.unwrap(), 0);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_fatal_service_error_stops_everything_with_exit_1() {
    let (mut sup, _tx, _dir) = supervisor("1");
    let other_runs = Arc::new(AtomicUsize::new(0));
    sup.add(Scripted {
        runs: other_runs.clone(),
        script: |_| Step::ServeUntilShutdown,
    });
    sup.add(Scripted {
        runs: Arc::new(AtomicUsize::new(0)),
        script: |_| Step::Fatal,
    });
    let code = tokio::time::timeout(Duration::from_secs(5), sup.run())
        .await
        .expect("supervisor stops");
    assert_eq!(code, EXIT_FATAL);
    assert_eq!(other_runs.load(Ordering::SeqCst), 1, "not restarted");
}

#[tokio::test]
async fn shutdown_does_not_wait_past_the_grace_period() {
    let (mut sup, tx, _dir) = supervisor("300ms");
    sup.add(Scripted {
        runs: Arc::new(AtomicUsize::new(0)),
        script: |_| Step::IgnoreShutdown,
    });
    let task = tokio::spawn(sup.run());
    tx.send(Event::Stop("test")).unwrap();
    let started = Instant::now();
    let code = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops within the grace period")
        .unwrap();
    assert_eq!(code, 0);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_fingerprint_ignores_samples_and_sees_edits() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("a.conf");
    std::fs::write(&conf, "x;").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let before = Fingerprint::of(dir.path());
    std::fs::write(dir.path().join("b.conf.sample"), "sample").unwrap();
    assert_eq!(
        Fingerprint::of(dir.path()),
        before,
        "a sample is not a change"
    );
    std::fs::write(dir.path().join("sub/c.conf"), "y;").unwrap();
    let with_c = Fingerprint::of(dir.path());
    assert_ne!(with_c, before, "a new file in a subdirectory is a change");
    std::fs::write(&conf, "x; y;").unwrap();
    assert_ne!(
        Fingerprint::of(dir.path()),
        with_c,
        "a size change is a change"
    );
}

#[tokio::test]
async fn inotify_wakes_the_conf_watcher_on_a_write_in_a_subfolder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("proxy-confs")).unwrap();
    let (_watcher, mut wakeups) = super::watcher::inotify_wakeups(dir.path())
        .expect("inotify can watch a temp dir on this machine");
    std::fs::write(
        dir.path().join("proxy-confs/app.subdomain.conf"),
        "server {}\n",
    )
    .unwrap();
    let woke = tokio::time::timeout(std::time::Duration::from_secs(10), wakeups.recv()).await;
    assert!(matches!(woke, Ok(Some(_))), "no inotify event: {woke:?}");
}

/// Reading the tree (moat's own walk and conf loads, an editor opening a
/// file) is no change: before, each walk's opens woke the watcher for the
/// next walk, twenty walks a second while idle.
#[tokio::test]
async fn reading_the_tree_does_not_wake_the_conf_watcher() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("proxy-confs")).unwrap();
    let conf = dir.path().join("proxy-confs/app.subdomain.conf");
    std::fs::write(&conf, "server {}\n").unwrap();
    let (_watcher, mut wakeups) = super::watcher::inotify_wakeups(dir.path())
        .expect("inotify can watch a temp dir on this machine");
    for _ in 0..3 {
        let _ = Fingerprint::of(dir.path());
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), "server {}\n");
    }
    // inotify keeps its events in order: every wake-up before the marker's
    // own came from the reads above.
    let marker = dir.path().join("marker.conf");
    std::fs::write(&marker, "x;").unwrap();
    loop {
        let woke = tokio::time::timeout(std::time::Duration::from_secs(10), wakeups.recv())
            .await
            .expect("the marker's write wakes the watcher")
            .expect("the watcher is alive");
        assert!(
            woke.iter().all(|p| p == &marker),
            "woken by reads of {woke:?}"
        );
        if woke.contains(&marker) {
            break;
        }
    }
}
