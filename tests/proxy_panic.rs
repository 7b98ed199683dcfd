//! A panic while serving one request ends that request alone: its
//! connection closes, the panic is logged, and every other connection (one
//! already open, one opened afterwards) is still served. This holds because
//! moat unwinds on panic in every profile, the shipped image's included
//! (Cargo.toml; `image_profile_is_the_tested_profile` in
//! tests/docker_lifecycle.rs), and Pingora runs each connection in its own
//! tokio task, which contains the unwind.
//!
//! The panic comes from a route source that really panics on one path: the
//! same call the engine makes for every request (`RouteSource::decide`).

#[path = "support/proxy.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moat::conf::Action;
use support::*;

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_request_closes_its_connection_and_nothing_else() {
    let log = Captured::default();
    let sink = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();
    moat::supervisor::log_panics();

    let routes = FnRoutes::new(|req| {
        if req.uri == "/boom" {
            panic!("route source exploded on {}", req.uri);
        }
        decision(Action::Return {
            status: 200,
            location: None,
            body: Some(format!("ok {}", req.uri)),
        })
    });
    let moat = start_moat(routes, None);
    let base = format!("https://example.test:{}", moat.https.port());
    // One client keeps its connection open across the panic.
    let kept = client(&["example.test"], moat.https);
    let get = |c: &reqwest::Client, path: &str| {
        let req = c.get(format!("{base}{path}")).send();
        async move {
            match req.await {
                Ok(r) => Ok((r.status().as_u16(), r.text().await.unwrap_or_default())),
                Err(e) => Err(e),
            }
        }
    };
    assert_eq!(
        get(&kept, "/before").await.unwrap(),
        (200, "ok /before".into())
    );

    // The panicking request gets its connection closed (or a 500), never a
    // normal answer.
    let victim = client(&["example.test"], moat.https);
    match get(&victim, "/boom").await {
        Err(e) => eprintln!("panicking request: connection ended: {e}"),
        Ok((status, body)) => assert_eq!(status, 500, "panicking request answered {status} {body}"),
    }

    // The panic is in the log with its message and where it happened.
    assert!(
        wait_for(Duration::from_secs(5), || log
            .text()
            .contains("route source exploded on /boom"))
        .await,
        "panic not logged; log:\n{}",
        log.text()
    );
    let text = log.text();
    let line = text
        .lines()
        .find(|l| l.contains("route source exploded on /boom"))
        .unwrap();
    assert!(
        line.contains("ERROR") && line.contains("tests/proxy_panic.rs"),
        "{line}"
    );

    // The connection opened before the panic and a new one are both served.
    assert_eq!(
        get(&kept, "/after").await.unwrap(),
        (200, "ok /after".into())
    );
    let fresh = client(&["example.test"], moat.https);
    assert_eq!(
        get(&fresh, "/fresh").await.unwrap(),
        (200, "ok /fresh".into())
    );
    // Plain HTTP on another listener as well.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/plain", moat.http))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status().as_u16(), 200);
    moat.handle.shutdown().await;
}
