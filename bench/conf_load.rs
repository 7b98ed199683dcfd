//! `cargo bench --bench conf_load`: how long loading the whole SWAG corpus
//! takes (target: under 200 ms in release), and how `decide()` scales with
//! the number of exact and wildcard server names (hash maps: flat, not
//! linear). Prints numbers; asserts nothing.

#[path = "../tests/support/conf.rs"]
mod conf_support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use moat::conf::{load, load_str, RequestInfo};

/// Files dropped from the all-at-once load (see tests/conf_corpus.rs).
const DROPPED: &[&str] = &[
    "_template.subdomain",
    "_template.subfolder",
    "organizr.subfolder",
    "wordpress.subfolder",
    "calibre.subfolder",
];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench_corpus_load() {
    let cfg = conf_support::swag_layout();
    conf_support::free_root_location(cfg.path());
    let mut active = 0;
    for s in conf_support::proxy_samples() {
        let stem = s
            .file_name()
            .expect("name")
            .to_string_lossy()
            .trim_end_matches(".conf.sample")
            .to_string();
        if !DROPPED.contains(&stem.as_str()) {
            conf_support::activate(cfg.path(), &stem);
            active += 1;
        }
    }
    let mut times = Vec::new();
    for _ in 0..15 {
        let t0 = Instant::now();
        let (table, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
        times.push(t0.elapsed());
        black_box(table);
    }
    println!(
        "conf_load: full corpus ({active} proxy-confs + SWAG defaults): median {:.1} ms, min {:.1} ms (target < 200 ms in release)",
        median(times.clone()).as_secs_f64() * 1e3,
        times.iter().min().expect("runs").as_secs_f64() * 1e3
    );
}

fn synthetic(n: usize) -> String {
    let mut s = String::from("http {\n");
    for i in 0..n {
        s.push_str(&format!(
            "server {{ listen 443 ssl; server_name app{i}.example.com *.w{i}.example.net t{i}.*; location / {{ proxy_pass http://app{i}:80; }} }}\n"
        ));
    }
    s.push_str("}\n");
    s
}

fn bench_decide(n: usize) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (table, _) = load_str(dir.path(), &dir.path().join("nginx.conf"), &synthetic(n))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let hosts = |kind: usize| -> Vec<RequestInfo> {
        (0..64)
            .map(|k| {
                let i = (k * 7919) % n;
                let host = match kind {
                    0 => format!("app{i}.example.com"),
                    1 => format!("x.w{i}.example.net"),
                    _ => format!("t{i}.example.org"),
                };
                let mut r = conf_support::https(&host, "/some/path?x=1");
                r.headers.push(("User-Agent".into(), "bench".into()));
                r
            })
            .collect()
    };
    let mut out = [0.0; 3];
    for (kind, slot) in out.iter_mut().enumerate() {
        let reqs = hosts(kind);
        let iters = 20_000;
        let t0 = Instant::now();
        for i in 0..iters {
            black_box(table.decide(black_box(&reqs[i % reqs.len()])));
        }
        *slot = t0.elapsed().as_nanos() as f64 / iters as f64;
    }
    (out[0], out[1], out[2])
}

fn main() {
    bench_corpus_load();
    for n in [10, 1000] {
        let (exact, head, tail) = bench_decide(n);
        println!("conf_decide: {n:>5} servers: exact {exact:.0} ns, leading wildcard {head:.0} ns, trailing wildcard {tail:.0} ns per decide()");
    }
}
