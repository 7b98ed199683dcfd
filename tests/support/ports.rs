// One port picker for every test and support module (each brings it in
// with `include!("ports.rs")`, or `include!("support/ports.rs")` from a
// test file): a port from `bind(0)` comes from the kernel's ephemeral
// range, and once released it can become the local end of some outgoing
// connection (curl to moat, moat to pebble, a resolver's query) before the
// process that was meant to listen on it binds; the bind then fails with
// "Address already in use" (acme_crash and bootstrap_layout failed CI on
// this). No connect() is ever given a port below the range.

/// A TCP port on 127.0.0.1 below the kernel's ephemeral range, free now.
#[allow(dead_code)]
pub fn stable_tcp_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let floor = 10000.min(low.saturating_sub(1000));
    for _ in 0..1000 {
        let port = rand::random_range(floor..low);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}
