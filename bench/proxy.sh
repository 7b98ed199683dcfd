#!/usr/bin/env bash
# Reverse-proxy benchmark: moat against nginx, HAProxy and Caddy (Debian),
# same machine, same run, method of ../shared/reference/bench-method.md:
#   - one backend (nginx, 1 worker, `return 200` with a 1 KiB body,
#     keepalive_requests 100000) on 127.0.0.1;
#   - each proxy terminates TLS for one name (ECDSA P-256 certificate that
#     also covers IP 127.0.0.1, since wrk sends the address as SNI) and keeps
#     HTTP/1.1 connections alive to the backend;
#   - wrk warms up, then RUNS rounds of DURATION seconds, proxies interleaved
#     within each round; median and min-max reported;
#   - proxy CPU per request = (utime+stime of the proxy's process tree over
#     the run) / requests; RSS summed over the tree, idle and after load.
# Prints one table, ratios against nginx from the same run, plus the
# direct-to-backend figure. Not a test: no pass/fail.
#
# The `pingora` row is Pingora alone (bench/pingora_bare.rs: its own Server,
# TLS and the same forwarding headers, nothing of moat): the ceiling for an
# engine built on Pingora and rustls on this machine.
#
# Usage: bench/proxy.sh            (release builds of the bench-proxy and
#                                   bench-pingora-bare examples)
# Env:   DURATION=10 RUNS=3 WARMUP=3 CONNS=50 WRK_THREADS=1 WORKERS=1 BASE_PORT=19400
#        PROXIES="moat pingora nginx haproxy caddy"
#        AUTH=1: the auth row. moat and nginx (the only proxies here that
#        speak auth_request) ask the backend as an auth server that answers
#        200 before every request, over keep-alive (SWAG's Authelia shape);
#        PROXIES defaults to "moat nginx".
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-3}
CONNS=${CONNS:-50}
WRK_THREADS=${WRK_THREADS:-1}
WORKERS=${WORKERS:-1}
BASE_PORT=${BASE_PORT:-19400}
AUTH=${AUTH:-0}
if [[ $AUTH == 1 ]]; then
    PROXIES=${PROXIES:-"moat nginx"}
    export MOAT_BENCH_AUTH=1
else
    PROXIES=${PROXIES:-"moat pingora nginx haproxy caddy"}
fi

BACKEND_PORT=$((BASE_PORT))
declare -A PORT=([moat]=$((BASE_PORT + 1)) [nginx]=$((BASE_PORT + 2)) [haproxy]=$((BASE_PORT + 3)) [caddy]=$((BASE_PORT + 4)) [pingora]=$((BASE_PORT + 5)))
declare -A PID=()

for tool in wrk nginx haproxy caddy openssl python3; do
    command -v "$tool" >/dev/null || { echo "bench/proxy.sh: $tool is not installed" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/moat-bench.XXXXXX)
cleanup() {
    for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The same static build scripts/test.sh makes, so its dependencies are reused.
export CARGO_BUILD_TARGET=${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}
export RUSTFLAGS=${RUSTFLAGS:--C target-feature=+crt-static}
if [[ -z ${MOAT_BIN:-} && " $PROXIES " == *" moat "* ]]; then
    echo "building the bench-proxy example (release)..." >&2
    (cd "$ROOT" && cargo build --release --quiet --example bench-proxy)
fi
if [[ -z ${PINGORA_BIN:-} && " $PROXIES " == *" pingora "* ]]; then
    echo "building the bench-pingora-bare example (release)..." >&2
    (cd "$ROOT" && cargo build --release --quiet --example bench-pingora-bare)
fi
MOAT_BIN=${MOAT_BIN:-"$ROOT/target/$CARGO_BUILD_TARGET/release/examples/bench-proxy"}
PINGORA_BIN=${PINGORA_BIN:-"$ROOT/target/$CARGO_BUILD_TARGET/release/examples/bench-pingora-bare"}

# ---------------------------------------------------------------- certificate
bench_cert "$WORK"
cat "$WORK/cert.pem" "$WORK/key.pem" > "$WORK/combined.pem"

# ---------------------------------------------------------------- backend
mkdir -p "$WORK/nginx"
bench_backend_conf "$WORK/backend" "$BACKEND_PORT"
nginx -c "$WORK/backend/nginx.conf" -p "$WORK/backend" &
PID[backend]=$!

# ---------------------------------------------------------------- proxies
bench_nginx_conf "$WORK/nginx" "${PORT[nginx]}" "$BACKEND_PORT" "$WORK" "$WORKERS" "$AUTH"

cat > "$WORK/haproxy.cfg" <<EOF
global
    nbthread $WORKERS
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 240s
    timeout server 240s
    http-reuse always
frontend fe
    bind 127.0.0.1:${PORT[haproxy]} ssl crt $WORK/combined.pem alpn h2,http/1.1
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    http-request set-header X-Real-IP %[src]
    default_backend be
backend be
    server s1 127.0.0.1:$BACKEND_PORT
EOF

cat > "$WORK/Caddyfile" <<EOF
{
    admin off
    auto_https off
}
https://127.0.0.1:${PORT[caddy]}, https://bench.test:${PORT[caddy]} {
    tls $WORK/cert.pem $WORK/key.pem
    reverse_proxy 127.0.0.1:$BACKEND_PORT {
        header_up X-Real-IP {remote_host}
    }
}
EOF

start_proxy() {
    case "$1" in
        moat)
            "$MOAT_BIN" "${PORT[moat]}" "$WORK/cert.pem" "$WORK/key.pem" "127.0.0.1:$BACKEND_PORT" "$WORKERS" > "$WORK/moat.log" 2>&1 &
            ;;
        pingora)
            "$PINGORA_BIN" "${PORT[pingora]}" "$WORK/cert.pem" "$WORK/key.pem" "127.0.0.1:$BACKEND_PORT" "$WORKERS" > "$WORK/pingora.log" 2>&1 &
            ;;
        nginx) nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &;;
        haproxy) haproxy -f "$WORK/haproxy.cfg" -db > "$WORK/haproxy.log" 2>&1 &;;
        caddy) GOMAXPROCS=$WORKERS HOME=$WORK XDG_DATA_HOME=$WORK XDG_CONFIG_HOME=$WORK \
                   caddy run --config "$WORK/Caddyfile" --adapter caddyfile > "$WORK/caddy.log" 2>&1 &;;
    esac
    PID[$1]=$!
}

wait_ready() { # url
    for _ in $(seq 1 200); do
        if curl -sk -o /dev/null --max-time 1 "$1"; then return 0; fi
        sleep 0.05
    done
    echo "bench/proxy.sh: $1 never answered" >&2
    return 1
}

tree_pids() { # root pid -> root and descendants
    local root=$1
    echo "$root"
    for child in $(cat /proc/"$root"/task/*/children 2>/dev/null); do tree_pids "$child"; done
}

tree_cpu_ticks() {
    local total=0
    for p in $(tree_pids "$1"); do
        # utime (14) + stime (15), after the ")" of the comm field
        local t
        t=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' /proc/"$p"/stat 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total"
}

tree_rss_kib() {
    local total=0
    for p in $(tree_pids "$1"); do
        local r
        r=$(awk '/^VmRSS:/ { print $2 }' /proc/"$p"/status 2>/dev/null || echo 0)
        total=$((total + ${r:-0}))
    done
    echo "$total"
}

run_wrk() { # url seconds -> "reqs p50ms p99ms total_requests"
    wrk -t"$WRK_THREADS" -c"$CONNS" -d"$2"s --latency "$1" 2>/dev/null | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    n, u = float(m.group(1)), m.group(2)
    return n / 1000 if u == "us" else n * 1000 if u == "s" else n
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
print(rps, p50, p99, total)
'
}

wait_ready "http://127.0.0.1:$BACKEND_PORT/"
TICK=$(getconf CLK_TCK)
RESULTS="$WORK/results.tsv"
: > "$RESULTS"
declare -A IDLE_RSS=()
for p in $PROXIES; do
    start_proxy "$p"
    wait_ready "https://127.0.0.1:${PORT[$p]}/"
    sleep 0.5
    IDLE_RSS[$p]=$(tree_rss_kib "${PID[$p]}")
    run_wrk "https://127.0.0.1:${PORT[$p]}/" "$WARMUP" > /dev/null
done

for round in $(seq 1 "$RUNS"); do
    read -r rps p50 p99 _ < <(run_wrk "http://127.0.0.1:$BACKEND_PORT/" "$DURATION")
    printf 'direct\t%s\t%s\t%s\t%s\t0\t0\n' "$round" "$rps" "$p50" "$p99" >> "$RESULTS"
    for p in $PROXIES; do
        before=$(tree_cpu_ticks "${PID[$p]}")
        read -r rps p50 p99 total < <(run_wrk "https://127.0.0.1:${PORT[$p]}/" "$DURATION")
        after=$(tree_cpu_ticks "${PID[$p]}")
        cpu_us=$(python3 -c "print(($after - $before) / $TICK * 1e6 / max($total, 1))")
        rss=$(tree_rss_kib "${PID[$p]}")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$round" "$rps" "$p50" "$p99" "$cpu_us" "$rss" >> "$RESULTS"
    done
done

IDLE=$(for p in $PROXIES; do printf '%s=%s ' "$p" "${IDLE_RSS[$p]}"; done)
python3 - "$RESULTS" "$IDLE" "$DURATION" "$RUNS" "$CONNS" "$WORKERS" <<'EOF'
import statistics, sys
path, idle_arg, duration, runs, conns, workers = sys.argv[1:]
idle = dict(kv.split("=") for kv in idle_arg.split())
rows = {}
for line in open(path):
    name, _, rps, p50, p99, cpu, rss = line.split("\t")
    rows.setdefault(name, []).append((float(rps), float(p50), float(p99), float(cpu), int(rss)))
def med(name, i):
    return statistics.median(r[i] for r in rows[name])
def rng(name, i, fmt):
    vals = [r[i] for r in rows[name]]
    return f"{fmt.format(min(vals))}-{fmt.format(max(vals))}"
base = "nginx" if "nginx" in rows else None
import os
if os.environ.get("MOAT_BENCH_AUTH") == "1":
    print("auth row: every request first asks the backend as its auth server (auth_request, keep-alive)")
print(f"keep-alive HTTPS through each proxy to one backend; wrk -c{conns}, {runs} x {duration}s, workers={workers}; median (min-max)")
print(f"{'proxy':<9} {'req/s':>8} {'range':>15} {'x nginx':>7} {'p50 ms':>7} {'p99 ms':>7} {'x nginx':>7} {'CPU us/req':>10} {'idle RSS MiB':>12} {'load RSS MiB':>12} {'x nginx':>7}")
for name in [n for n in ("moat", "pingora", "nginx", "haproxy", "caddy") if n in rows]:
    rps, p50, p99, cpu, rss = (med(name, i) for i in range(5))
    r_rps = rps / med(base, 0) if base else float("nan")
    r_p99 = p99 / med(base, 2) if base else float("nan")
    r_rss = rss / med(base, 4) if base else float("nan")
    print(f"{name:<9} {rps:>8.0f} {rng(name, 0, '{:.0f}'):>15} {r_rps:>7.2f} {p50:>7.2f} {p99:>7.2f} {r_p99:>7.2f} {cpu:>10.1f} {int(idle[name]) / 1024:>12.1f} {rss / 1024:>12.1f} {r_rss:>7.2f}")
if "direct" in rows:
    print(f"{'direct':<9} {med('direct', 0):>8.0f} {rng('direct', 0, '{:.0f}'):>15} {'':>7} {med('direct', 1):>7.2f} {med('direct', 2):>7.2f}   (plain HTTP to the backend, no proxy)")
EOF
