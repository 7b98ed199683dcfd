//! gRPC (`grpc_pass`) on moat's own loop (`src/proxy/engine/grpc.rs`),
//! over real sockets: a streaming call is relayed both ways at once,
//! calls one after another share one HTTP/2 upstream connection, a call
//! over `client_max_body_size` is refused before any of its body reaches
//! the upstream, and a call behind `auth_request` goes up only when the
//! auth server allows it. The backend is an HTTP/2 server that echoes each
//! message as it comes and records what reached it.

#[path = "support/proxy.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use moat::conf::Action;
use support::*;
use tokio::net::TcpListener;

/// What reached the backend.
#[derive(Default)]
struct Seen {
    /// Connections accepted.
    connections: AtomicUsize,
    /// Calls whose head arrived.
    calls: AtomicUsize,
    /// Body bytes received, over all calls.
    bytes: AtomicUsize,
    /// Calls whose body arrived to its end.
    completed: AtomicUsize,
}

/// An h2c backend that echoes each DATA frame as soon as it arrives and
/// ends with `grpc-status: 0` trailers once the request ends.
async fn echo_backend() -> (u16, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Seen::default());
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            record.connections.fetch_add(1, Ordering::SeqCst);
            let record = record.clone();
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(tcp).await else {
                    return;
                };
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    record.calls.fetch_add(1, Ordering::SeqCst);
                    let record = record.clone();
                    tokio::spawn(async move {
                        let resp = http::Response::builder()
                            .header("content-type", "application/grpc")
                            .body(())
                            .unwrap();
                        let Ok(mut send) = respond.send_response(resp, false) else {
                            return;
                        };
                        let mut body = req.into_body();
                        while let Some(Ok(data)) = body.data().await {
                            let _ = body.flow_control().release_capacity(data.len());
                            record.bytes.fetch_add(data.len(), Ordering::SeqCst);
                            if send.send_data(data, false).is_err() {
                                return;
                            }
                        }
                        if !body.is_end_stream() {
                            return;
                        }
                        record.completed.fetch_add(1, Ordering::SeqCst);
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", "0".parse().unwrap());
                        let _ = send.send_trailers(trailers);
                    });
                }
            });
        }
    });
    (port, seen)
}

/// moat with every request a `grpc_pass` to the backend; `max_body` is
/// the location's `client_max_body_size`.
fn moat_for(port: u16, max_body: Option<u64>) -> Moat {
    start_moat(
        FnRoutes::new(move |req| {
            let target = swag_target("grpc", "127.0.0.1", port, req, None);
            let mut d = decision(Action::Grpc(target));
            d.max_body_size = max_body;
            d
        }),
        None,
    )
}

/// An HTTP/2 client connection to moat over TLS, as a gRPC client makes.
async fn h2_client(moat: &Moat) -> h2::client::SendRequest<Bytes> {
    init();
    let mut config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(moat.https).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls_pki_types::ServerName::try_from("grpc.example.test").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let (h2, conn) = h2::client::handshake(tls).await.unwrap();
    tokio::spawn(conn);
    h2
}

fn call() -> http::Request<()> {
    http::Request::builder()
        .method("POST")
        .uri("https://grpc.example.test/echo.Echo/Chat")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

/// The next DATA frame of `body`, within 10 s.
async fn next_message(body: &mut h2::RecvStream) -> Bytes {
    let data = tokio::time::timeout(Duration::from_secs(10), body.data())
        .await
        .expect("the echo within 10 s (is the call relayed both ways at once?)")
        .expect("a message")
        .unwrap();
    let _ = body.flow_control().release_capacity(data.len());
    data
}

/// A streaming call: each message is echoed back before the client sends
/// the next, which works only when moat relays the client's messages while
/// the answer is under way; the trailers end it.
#[tokio::test]
async fn a_streaming_call_is_relayed_both_ways_at_once() {
    let (port, seen) = echo_backend().await;
    let moat = moat_for(port, None);
    let mut h2 = h2_client(&moat).await;
    let (resp, mut send) = h2.send_request(call(), false).unwrap();
    send.send_data(Bytes::from_static(b"\0\0\0\0\x03one"), false)
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(10), resp)
        .await
        .expect("the answer's head while the call is open")
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/grpc");
    let mut body = resp.into_body();
    assert_eq!(&next_message(&mut body).await[..], b"\0\0\0\0\x03one");
    send.send_data(Bytes::from_static(b"\0\0\0\0\x03two"), false)
        .unwrap();
    assert_eq!(&next_message(&mut body).await[..], b"\0\0\0\0\x03two");
    send.send_data(Bytes::new(), true).unwrap();
    let trailers = tokio::time::timeout(Duration::from_secs(10), body.trailers())
        .await
        .expect("trailers within 10 s")
        .unwrap()
        .expect("trailers relayed");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(seen.completed.load(Ordering::SeqCst), 1);
    assert_eq!(seen.bytes.load(Ordering::SeqCst), 16);
}

/// Calls one after another go over one pooled HTTP/2 upstream connection.
#[tokio::test]
async fn calls_one_after_another_share_one_upstream_connection() {
    let (port, seen) = echo_backend().await;
    let moat = moat_for(port, None);
    let mut h2 = h2_client(&moat).await;
    for i in 0..3u8 {
        let (resp, mut send) = h2.send_request(call(), false).unwrap();
        send.send_data(Bytes::from(vec![0, 0, 0, 0, 1, i]), true)
            .unwrap();
        let mut body = resp.await.unwrap().into_body();
        assert_eq!(&next_message(&mut body).await[..], &[0, 0, 0, 0, 1, i]);
        let trailers = body.trailers().await.unwrap().expect("trailers");
        assert_eq!(trailers["grpc-status"], "0");
    }
    assert_eq!(seen.calls.load(Ordering::SeqCst), 3);
    assert_eq!(seen.completed.load(Ordering::SeqCst), 3);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
}

/// A message over `client_max_body_size` is refused with 413 before any
/// of it is written upstream; a call within the limit then goes through.
#[tokio::test]
async fn a_call_over_client_max_body_size_is_refused_before_its_body_goes_up() {
    let (port, seen) = echo_backend().await;
    let moat = moat_for(port, Some(16));
    let mut h2 = h2_client(&moat).await;
    let (resp, mut send) = h2.send_request(call(), false).unwrap();
    send.send_data(Bytes::from(vec![7u8; 40]), true).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(10), resp)
        .await
        .expect("an answer within 10 s")
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(seen.bytes.load(Ordering::SeqCst), 0, "no byte went up");
    assert_eq!(seen.completed.load(Ordering::SeqCst), 0);

    let (resp, mut send) = h2.send_request(call(), false).unwrap();
    send.send_data(Bytes::from_static(b"\0\0\0\0\x03abc"), true)
        .unwrap();
    let mut body = resp.await.unwrap().into_body();
    assert_eq!(&next_message(&mut body).await[..], b"\0\0\0\0\x03abc");
    assert!(body.trailers().await.unwrap().is_some());
    assert_eq!(seen.completed.load(Ordering::SeqCst), 1);
}

/// A location whose `auth_request` must allow a call before its
/// `grpc_pass`, as a conf with both decides it: an auth server answering
/// 200 for `Chat` and 401 for anything else.
struct AuthThenGrpc {
    grpc: u16,
    auth: u16,
}

impl moat::proxy::RouteSource for AuthThenGrpc {
    fn decide(&self, req: &moat::conf::RequestInfo) -> moat::conf::Decision {
        let target = swag_target("http", "127.0.0.1", self.auth, req, None);
        decision(Action::Authenticate(Box::new(moat::conf::AuthRequest {
            uri: "/auth".into(),
            target,
        })))
    }
    fn decide_after_auth(
        &self,
        req: &moat::conf::RequestInfo,
        auth: &moat::conf::AuthOutcome,
    ) -> moat::conf::Decision {
        match auth.status {
            200..=299 => decision(Action::Grpc(swag_target(
                "grpc",
                "127.0.0.1",
                self.grpc,
                req,
                None,
            ))),
            status => decision(Action::Deny { status }),
        }
    }
    fn listens(&self) -> Vec<moat::conf::Listen> {
        Vec::new()
    }
}

/// An HTTP/1 auth server: 200 when the subrequest's path names `Chat`,
/// else 401. Counts the subrequests it answered.
async fn auth_server() -> (u16, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let asked = Arc::new(AtomicUsize::new(0));
    let count = asked.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        count.fetch_add(1, Ordering::SeqCst);
                        let allowed = head.lines().next().is_some_and(|l| l.contains("Chat"));
                        let answer: &[u8] = if allowed {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                        } else {
                            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
                        };
                        if tcp.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (port, asked)
}

/// A call behind `auth_request` goes to the gRPC upstream only once the
/// auth server allowed it: the allowed call is relayed with its trailers,
/// the refused one gets the auth server's 401 and never reaches the
/// backend.
#[tokio::test]
async fn a_call_behind_auth_request_is_forwarded_only_when_allowed() {
    let (grpc, seen) = echo_backend().await;
    let (auth, asked) = auth_server().await;
    let moat = start_moat(Arc::new(AuthThenGrpc { grpc, auth }), None);
    let mut h2 = h2_client(&moat).await;

    let (resp, mut send) = h2.send_request(call(), false).unwrap();
    send.send_data(Bytes::from_static(b"\0\0\0\0\x02hi"), true)
        .unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    assert_eq!(&next_message(&mut body).await[..], b"\0\0\0\0\x02hi");
    let trailers = body.trailers().await.unwrap().expect("trailers relayed");
    assert_eq!(trailers["grpc-status"], "0");

    let denied = http::Request::builder()
        .method("POST")
        .uri("https://grpc.example.test/echo.Echo/Denied")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (resp, mut send) = h2.send_request(denied, false).unwrap();
    send.send_data(Bytes::from_static(b"\0\0\0\0\x02no"), true)
        .unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        asked.load(Ordering::SeqCst),
        2,
        "both calls were asked about"
    );
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        1,
        "only the allowed call went up"
    );
    assert_eq!(seen.completed.load(Ordering::SeqCst), 1);
}
