//! `sub_filter` over real sockets: an upstream HTML body is rewritten (also
//! when a match spans two upstream chunks), JSON and gzip-encoded bodies
//! pass through untouched, and no stale `Content-Length` reaches the client.

#[path = "support/proxy.rs"]
mod support;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use moat::conf::{Action, BodyFilter};
use support::*;
use tokio::net::TcpListener;

const PAGE: &str =
    r#"<style>a{background:URL("/css/a.png")} b{background:url("/css/b.png")}</style>"#;

/// Answers by path: `/html` (length-delimited text/html with Last-Modified),
/// `/chunked` (text/html in two chunks splitting a match), `/json`, `/gzip`.
async fn typed_backend() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    });
    addr
}

async fn answer(
    req: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
    let full = |b: &'static str| Full::new(Bytes::from_static(b.as_bytes())).boxed();
    let r = Response::builder();
    Ok(match req.uri().path() {
        "/html" => r
            .header("content-type", "text/html; charset=utf-8")
            .header("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT")
            .body(full(PAGE)),
        "/chunked" => {
            let (a, b) = PAGE.split_at(PAGE.find("css/a").unwrap() + 2);
            let frames = vec![
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(a.as_bytes()))),
                Ok(Frame::data(Bytes::from_static(b.as_bytes()))),
            ];
            r.header("content-type", "text/html")
                .body(StreamBody::new(futures_util::stream::iter(frames)).boxed())
        }
        "/json" => r
            .header("content-type", "application/json")
            .body(full(r#"{"u":"url(\"/css/x\")"}"#)),
        _ => r
            .header("content-type", "text/html")
            .header("content-encoding", "gzip")
            .body(full(PAGE)),
    }
    .unwrap())
}

fn filter(once: bool) -> BodyFilter {
    BodyFilter {
        rules: vec![(r#"url("/css/"#.into(), r#"url("/themepark/css/"#.into())],
        types: vec!["text/html".into()],
        once,
        keep_last_modified: false,
    }
}

async fn moat_for(backend: SocketAddr) -> Moat {
    let port = backend.port();
    let routes = FnRoutes::new(move |req| {
        let mut t = swag_target("http", "127.0.0.1", port, req, None);
        t.body_filter = Some(filter(!req.uri.contains("all")));
        decision(Action::Proxy(t))
    });
    start_moat(routes, None)
}

#[tokio::test]
async fn html_body_is_substituted_and_length_dropped() {
    let moat = moat_for(typed_backend().await).await;
    let c = client(&["example.test"], moat.https);
    let r = c.get("https://example.test/html?all").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-length").is_none());
    assert!(r.headers().get("last-modified").is_none());
    assert_eq!(
        r.text().await.unwrap(),
        PAGE.replace(r#"URL("/css/"#, r#"url("/themepark/css/"#)
            .replace(r#"url("/css/"#, r#"url("/themepark/css/"#)
    );

    // sub_filter_once on: only the first occurrence.
    let r = c.get("https://example.test/html").send().await.unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        PAGE.replacen(r#"URL("/css/"#, r#"url("/themepark/css/"#, 1)
    );

    // Over plain HTTP/1.1 too: chunked, and a match split across upstream chunks.
    let c1 = reqwest::Client::builder().http1_only().build().unwrap();
    let url = format!("http://{}/chunked?all", moat.http);
    let r = c1.get(&url).send().await.unwrap();
    assert!(r.headers().get("content-length").is_none());
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    let body = r.text().await.unwrap();
    assert!(!body.contains(r#"("/css/"#), "{body}");
    assert_eq!(body.matches("/themepark/css/").count(), 2, "{body}");
}

#[tokio::test]
async fn json_and_gzip_bodies_pass_untouched() {
    let moat = moat_for(typed_backend().await).await;
    let c = client(&["example.test"], moat.https);
    let r = c.get("https://example.test/json?all").send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await.unwrap(), r#"{"u":"url(\"/css/x\")"}"#);

    let r = c.get("https://example.test/gzip?all").send().await.unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(
        r.headers()["content-length"].to_str().unwrap(),
        PAGE.len().to_string()
    );
    assert_eq!(r.bytes().await.unwrap(), PAGE.as_bytes());
}
