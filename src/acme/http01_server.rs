//! A minimal port-80 listener that answers only
//! `/.well-known/acme-challenge/<token>` from [`Http01Tokens`]: used by
//! `moat renew` standalone (like `certbot --standalone`) and by tests. The
//! running instance answers through the proxy instead.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::Http01Tokens;

const PREFIX: &str = "/.well-known/acme-challenge/";

/// Serve HTTP-01 answers on `listener` until `shutdown` turns true.
pub async fn serve_http01(
    listener: TcpListener,
    tokens: Http01Tokens,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let tokens = tokens.clone();
                    tokio::spawn(async move { let _ = answer(stream, tokens).await; });
                }
            }
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

async fn answer(mut stream: TcpStream, tokens: Http01Tokens) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return Ok(());
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let answer = (method == "GET" || method == "HEAD")
        .then(|| target.strip_prefix(PREFIX))
        .flatten()
        .and_then(|token| tokens.get(token));
    let rsp = match answer {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
            body.len(),
            if method == "HEAD" { "" } else { body.as_str() }
        ),
        None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
    };
    stream.write_all(rsp.as_bytes()).await?;
    stream.shutdown().await
}
