//! `bench-pingora-core-loop`: the shape of moat's own HTTP/1 loop
//! (`src/proxy/engine/h1.rs`) with nothing of moat in it: pingora-core's
//! listener, TLS and HTTP/1 sessions, one task per connection reading
//! request after request, the upstream head written as bytes with the four
//! forwarding headers, and a LIFO pool of upstream connections. No conf,
//! no policy, no log.
//!
//! It is the floor for moat's loop on this machine, as `bench-pingora-bare`
//! is for Pingora with its proxy layer: the difference between this row and
//! `moat-run` is what moat's request path costs (bench/instructions.sh).
//!
//! Usage: `bench-pingora-core-loop <https-port> <cert.pem> <key.pem> <backend host:port> [workers]`.

#[path = "bare_server.rs"]
mod bare_server;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::connectors::TransportConnector;
use pingora::listeners::tls::TlsSettings;
use pingora::protocols::http::v1::client::HttpSession as Upstream;
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use pingora::services::listening::Service;
use pingora::upstreams::peer::HttpPeer;
use tokio::io::AsyncWriteExt;

struct Loop {
    peer: HttpPeer,
    connector: TransportConnector,
    idle: Mutex<Vec<Stream>>,
}

impl Loop {
    /// One request: head bytes up, the answer relayed down.
    async fn forward(&self, down: &mut ServerSession) -> pingora::Result<()> {
        let req = down.req_header();
        let remote = down
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let host = req
            .headers
            .get("host")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let mut head = Vec::with_capacity(512);
        head.extend_from_slice(req.method.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(req.raw_path());
        head.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in req.headers.iter() {
            if name != http::header::CONNECTION {
                head.extend_from_slice(name.as_str().as_bytes());
                head.extend_from_slice(b": ");
                head.extend_from_slice(value.as_bytes());
                head.extend_from_slice(b"\r\n");
            }
        }
        for (name, value) in [
            (&b"X-Forwarded-For"[..], remote.as_bytes()),
            (b"X-Forwarded-Host", host),
            (b"X-Forwarded-Proto", b"https"),
            (b"X-Real-IP", remote.as_bytes()),
        ] {
            head.extend_from_slice(name);
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let pooled = self.idle.lock().unwrap().pop();
        let mut stream = match pooled {
            Some(stream) => stream,
            None => self.connector.new_stream(&self.peer).await?,
        };
        stream
            .write_all(&head)
            .await
            .map_err(|e| pingora::Error::because(pingora::ErrorType::WriteError, "head", e))?;
        let mut up = Upstream::new(stream);
        up.read_response().await?;
        let resp = Box::new(up.resp_header().expect("read").clone());
        down.write_response_header(resp).await?;
        while !up.is_body_done() {
            match up.read_body_bytes().await? {
                Some(chunk) => down.write_response_body(chunk, false).await?,
                None => break,
            }
        }
        up.respect_keepalive();
        if let Some(stream) = up.reuse().await {
            self.idle.lock().unwrap().push(stream);
        }
        Ok(())
    }
}

#[async_trait]
impl ServerApp for Loop {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        _: &ShutdownWatch,
    ) -> Option<Stream> {
        let mut prefix = None;
        loop {
            let mut down = ServerSession::new_http1(stream);
            down.set_keepalive(Some(60));
            if let Some(prefix) = prefix.take() {
                down.set_pipelined_prefix(prefix);
            }
            if !down.read_request().await.ok()? {
                return None;
            }
            self.forward(&mut down).await.ok()?;
            (stream, prefix) = down.finish().await.ok()??.into_parts();
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (args, mut server) = bare_server::start("bench-pingora-core-loop")?;
    let app = Loop {
        peer: HttpPeer::new(
            args[4].parse::<std::net::SocketAddr>()?,
            false,
            String::new(),
        ),
        connector: TransportConnector::new(None),
        idle: Mutex::new(Vec::new()),
    };
    let mut service = Service::new("bench-pingora-core-loop".to_owned(), app);
    let tls = TlsSettings::intermediate(&args[2], &args[3])?;
    service.add_tls_with_settings(&format!("127.0.0.1:{}", args[1]), None, tls);
    server.add_service(service);
    println!("ready");
    server.run_forever();
}
