//! The `moat-echo` test backend answers what other tests rely on: the raw
//! request as received, over keep-alive HTTP/1.1, TLS and WebSocket.

#[path = "support/echo.rs"]
mod echo;
#[path = "support/env.rs"]
mod env;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use echo::Echo;
use serde_json::Value;

/// Reads one response (status line, headers, Content-Length body).
fn read_response(r: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .expect("status")
        .parse()
        .expect("numeric status");
    let mut headers = vec![];
    loop {
        let mut h = String::new();
        r.read_line(&mut h).expect("header line");
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':').expect("header has a colon");
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().expect("numeric length"))
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).expect("body");
    (status, headers, body)
}

fn connect(addr: std::net::SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(addr).expect("connect to moat-echo");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

#[test]
fn echoes_raw_target_headers_in_order_and_keeps_alive() {
    let echo = Echo::start(&["--listen", "127.0.0.1:0"], &[("ECHO_NAME", "alpha")]);
    let (mut s, mut r) = connect(echo.addr());
    s.write_all(
        b"GET /a/%2e%2E/b?x=1&y=%20 HTTP/1.1\r\nHost: example.test\r\nX-Dup: one\r\nx-dup: two\r\n\r\n",
    )
    .unwrap();
    let (status, _, body) = read_response(&mut r);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["name"], "alpha");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["target"], "/a/%2e%2E/b?x=1&y=%20");
    assert_eq!(v["local_port"], echo.addr().port());
    assert_eq!(v["local_addr"], echo.addr().to_string());
    assert_eq!(v["body_len"], 0);
    assert_eq!(
        v["headers"],
        serde_json::json!([["Host", "example.test"], ["X-Dup", "one"], ["x-dup", "two"]])
    );
    let peer: std::net::SocketAddr = v["peer"].as_str().unwrap().parse().unwrap();
    assert_eq!(peer, s.local_addr().unwrap());

    // Same connection: a POST with a Content-Length body, then a chunked one.
    s.write_all(b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let (_, _, body) = read_response(&mut r);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["method"].as_str(), v["body_len"].as_u64()),
        (Some("POST"), Some(5))
    );
    s.write_all(b"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\na;ext=1\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n")
        .unwrap();
    let (_, _, body) = read_response(&mut r);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["method"].as_str(), v["body_len"].as_u64()),
        (Some("PUT"), Some(13))
    );

    // HTTP/1.0 without keep-alive: answered, then closed.
    s.write_all(b"HEAD /z HTTP/1.0\r\n\r\n").unwrap();
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
    assert!(rest.ends_with("\r\n\r\n"), "HEAD has no body: {rest}");
}

#[test]
fn listens_on_every_address_from_flags_and_env() {
    let echo = Echo::start(
        &["--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"],
        &[("ECHO_LISTEN", "127.0.0.1:0")],
    );
    assert_eq!(echo.plain.len(), 3);
    for addr in &echo.plain {
        let (mut s, mut r) = connect(*addr);
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let (_, _, body) = read_response(&mut r);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["local_port"], addr.port());
    }
}

#[test]
fn malformed_request_gets_400_and_close() {
    let echo = Echo::start(&["--listen", "127.0.0.1:0"], &[]);
    let (mut s, mut r) = connect(echo.addr());
    s.write_all(b"NOT A REQUEST\r\n\r\n").unwrap();
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert!(rest.starts_with("HTTP/1.1 400 "), "{rest}");
}

fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode];
    if payload.len() < 126 {
        f.push(0x80 | payload.len() as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn read_frame(r: &mut BufReader<TcpStream>) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    r.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut p = vec![0; len];
    r.read_exact(&mut p).unwrap();
    (h[0] & 0x0f, p)
}

#[test]
fn websocket_upgrade_echoes_frames_answers_ping_and_closes() {
    let echo = Echo::start(&["--listen", "127.0.0.1:0"], &[]);
    let (mut s, mut r) = connect(echo.addr());
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").unwrap();
    let (status, headers, _) = read_response(&mut r);
    assert_eq!(status, 101);
    assert!(headers.contains(&(
        "Sec-WebSocket-Accept".to_string(),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_string()
    )));
    s.write_all(&masked_frame(0x1, b"hello moat")).unwrap();
    assert_eq!(read_frame(&mut r), (0x1, b"hello moat".to_vec()));
    let big: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    s.write_all(&masked_frame(0x2, &big)).unwrap();
    assert_eq!(read_frame(&mut r), (0x2, big));
    s.write_all(&masked_frame(0x9, b"p")).unwrap();
    assert_eq!(read_frame(&mut r), (0xA, b"p".to_vec()));
    s.write_all(&masked_frame(0x8, &1000u16.to_be_bytes()))
        .unwrap();
    assert_eq!(read_frame(&mut r), (0x8, 1000u16.to_be_bytes().to_vec()));
    let mut rest = vec![];
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "connection closes after the close frame");
}

#[test]
fn tls_listener_answers_https() {
    let Some(curl) = env::require_program("tls_listener_answers_https", "curl") else {
        return;
    };
    let echo = Echo::start(&["--tls-listen", "127.0.0.1:0"], &[]);
    let url = format!("https://localhost:{}/secure?q=1", echo.tls[0].port());
    let out = std::process::Command::new(curl)
        .args(["-sk", "--resolve"])
        .arg(format!("localhost:{}:127.0.0.1", echo.tls[0].port()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tls"], true);
    assert_eq!(v["target"], "/secure?q=1");
}
