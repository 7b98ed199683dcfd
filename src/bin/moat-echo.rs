//! `moat-echo`: a small HTTP/1.1 + WebSocket backend for tests.
//!
//! Every request gets `200` and a JSON description of what arrived (method,
//! raw target, headers in order with duplicates, peer, body length), so a
//! test can assert exactly what a proxy forwarded. A `GET` with
//! `Upgrade: websocket` is accepted (RFC 6455) and echoes frames back.
//!
//! Out of scope: anything a real application does. This binary exists only
//! for moat's own tests (integration tests, the nginx oracle, Docker tests).
//!
//! Usage: `moat-echo --listen 127.0.0.1:0 [--listen ...] [--tls-listen ...]`;
//! `ECHO_LISTEN` (comma or space separated) adds plain listeners and
//! `ECHO_NAME` sets the `name` field (default: the hostname). Once every
//! socket is bound, one line per socket goes to stdout:
//! `listening on 127.0.0.1:41234` (plain) or `listening on 127.0.0.1:41235 tls`.

#[path = "moat_echo/http.rs"]
mod http;
#[path = "moat_echo/tls.rs"]
mod tls;
#[path = "moat_echo/websocket.rs"]
mod websocket;
#[path = "moat_echo/wire.rs"]
mod wire;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use tokio::net::TcpListener;

/// Command line of `moat-echo`.
#[derive(Debug, Parser)]
#[command(
    name = "moat-echo",
    about = "Test backend: answers every request with a JSON echo"
)]
struct Args {
    /// Plain HTTP listener (repeatable). `ECHO_LISTEN` adds more.
    #[arg(long = "listen", value_name = "ADDR:PORT")]
    listen: Vec<SocketAddr>,
    /// HTTPS listener with a self-signed certificate (repeatable).
    #[arg(long = "tls-listen", value_name = "ADDR:PORT")]
    tls_listen: Vec<SocketAddr>,
    /// The `name` field of every answer (default: `ECHO_NAME`, else the hostname).
    #[arg(long = "name", env = "ECHO_NAME")]
    name: Option<String>,
    /// Exit when stdin reaches end of file: a test that pipes stdin makes the
    /// echo die with it, even when the test is killed.
    #[arg(long = "stdin-lifeline")]
    stdin_lifeline: bool,
}

/// What every connection handler needs to know about the process.
#[derive(Debug)]
pub struct Shared {
    /// The `name` field of answers.
    pub name: String,
}

fn main() {
    let args = Args::parse();
    let mut plain = args.listen.clone();
    if let Ok(env) = std::env::var("ECHO_LISTEN") {
        for item in env.split([',', ' ']).filter(|s| !s.is_empty()) {
            match item.parse::<SocketAddr>() {
                Ok(a) => plain.push(a),
                Err(e) => {
                    eprintln!("moat-echo: ECHO_LISTEN: `{item}` is not ADDR:PORT: {e}");
                    std::process::exit(2);
                }
            }
        }
    }
    if plain.is_empty() && args.tls_listen.is_empty() {
        eprintln!("moat-echo: nothing to listen on: give --listen ADDR:PORT or ECHO_LISTEN");
        std::process::exit(2);
    }
    let name = args.name.clone().unwrap_or_else(hostname);
    if args.stdin_lifeline {
        std::thread::spawn(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            std::process::exit(0);
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime can be built at startup");
    let code = runtime.block_on(serve(plain, args.tls_listen, Shared { name }));
    std::process::exit(code);
}

async fn serve(plain: Vec<SocketAddr>, tls: Vec<SocketAddr>, shared: Shared) -> i32 {
    let shared = Arc::new(shared);
    let acceptor = if tls.is_empty() {
        None
    } else {
        match tls::self_signed_acceptor() {
            Ok(a) => Some(a),
            Err(e) => {
                eprintln!("moat-echo: cannot build the TLS certificate: {e}");
                return 1;
            }
        }
    };
    let mut bound = Vec::new();
    let wanted = plain
        .into_iter()
        .map(|a| (a, false))
        .chain(tls.into_iter().map(|a| (a, true)));
    for (addr, is_tls) in wanted {
        match TcpListener::bind(addr).await {
            Ok(l) => bound.push((l, is_tls)),
            Err(e) => {
                eprintln!("moat-echo: cannot listen on {addr}: {e}");
                return 1;
            }
        }
    }
    let mut out = std::io::stdout().lock();
    for (l, is_tls) in &bound {
        let local = l.local_addr().expect("a bound socket has a local address");
        let suffix = if *is_tls { " tls" } else { "" };
        let _ = writeln!(out, "listening on {local}{suffix}");
    }
    let _ = out.flush();
    drop(out);
    let mut tasks = Vec::new();
    for (listener, is_tls) in bound {
        let shared = shared.clone();
        let acceptor = if is_tls { acceptor.clone() } else { None };
        tasks.push(tokio::spawn(accept_loop(listener, acceptor, shared)));
    }
    for t in tasks {
        let _ = t.await;
    }
    0
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("moat-echo: accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = match stream.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("moat-echo: local address of {peer}: {e}");
                continue;
            }
        };
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let meta = http::ConnMeta {
                peer,
                local,
                tls: acceptor.is_some(),
            };
            let result = match acceptor {
                None => http::serve_connection(stream, meta, &shared).await,
                Some(acc) => match acc.accept(stream).await {
                    Ok(s) => http::serve_connection(s, meta, &shared).await,
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = result {
                if e.kind() != std::io::ErrorKind::UnexpectedEof {
                    eprintln!("moat-echo: {peer}: {e}");
                }
            }
        });
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "moat-echo".to_string())
}
