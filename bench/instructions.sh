#!/usr/bin/env bash
# User-space instructions per proxied request, counted by callgrind: the
# repeatable companion to bench/proxy.sh on a shared machine, where
# wall-clock figures move by ±15% between runs. Each proxy (moat's
# bench-proxy and bench-pingora-bare, the Pingora-only ceiling) runs under
# valgrind; curl sends WARM keep-alive HTTP/1.1 requests over TLS, the
# counters are zeroed, then REQUESTS more are sent on one connection and
# the total is divided by REQUESTS. Kernel time is not counted.
#
# The moat+auth row is the same route behind `auth_request` (the backend
# answers the subrequest): what asking an auth server costs per request.
# The moat+guard row adds what SWAG users switch on against abuse: realip
# from a trusted hop, a limit_req zone that never triggers, and (moat
# only: nginx's fail2ban is another process) SWAG's fail2ban jails reading
# every request's lines on their own thread, counted here too.
# The moat+swag row is the location a SWAG subdomain conf has: SWAG's
# proxy.conf included, its 20 proxy_set_header lines (issue 14's target).
# Debian's nginx runs the same routes (bench_nginx_conf, one process)
# under callgrind in the same run, so the ratios to nginx come from it.
# The moat-run row is the real binary, `moat run`, on the /config tree it
# bootstraps with one SWAG subdomain conf (access log, fail2ban jails and
# the conf watcher as in production); nginx-run is Debian's nginx on a copy
# of that same tree (nginx_tree in bench/common.sh). The -h2 rows are the
# same two over HTTP/2 (curl --http2: each request a new stream on one
# connection); the -post rows the same two with a 1000-byte body on each
# request.
#
# The core-loop row is bench/pingora_core_loop.rs: moat's own HTTP/1 loop's
# shape on pingora-core with nothing of moat, the floor for that loop.
#
# Usage: bench/instructions.sh        Env: REQUESTS=2000 WARM=400 BASE_PORT=19600
#   KEEP_CALLGRIND=DIR keeps each run's callgrind file (DIR/cg.<row>.1) for
#   `callgrind_annotate --inclusive=yes`: the per-function breakdowns that
#   bench/RESULTS.md quotes come from these.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
REQUESTS=${REQUESTS:-2000}
WARM=${WARM:-400}
BASE_PORT=${BASE_PORT:-19600}
for tool in valgrind callgrind_control curl nginx openssl; do
    command -v "$tool" >/dev/null || { echo "bench/instructions.sh: $tool is not installed" >&2; exit 1; }
done

export CARGO_BUILD_TARGET=${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}
export RUSTFLAGS=${RUSTFLAGS:--C target-feature=+crt-static}
(cd "$ROOT" && cargo build --release --quiet --example bench-proxy --example bench-pingora-bare --example bench-pingora-core-loop --bin moat)
BIN="$ROOT/target/$CARGO_BUILD_TARGET/release/examples"

WORK=$(mktemp -d /tmp/moat-instr.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ -n ${KEEP_CALLGRIND:-} ]]; then
        mkdir -p "$KEEP_CALLGRIND" && cp "$WORK"/cg.*.1 "$KEEP_CALLGRIND"/ 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

bench_cert "$WORK"

BACKEND_PORT=$BASE_PORT
BACKEND_BODY=$(bench_backend_body)
bench_backend_conf "$WORK/backend" "$BACKEND_PORT"
nginx -c "$WORK/backend/nginx.conf" -p "$WORK/backend" &
PIDS+=($!)

# The name requests are sent to: 127.0.0.1 for the bench binaries' one
# server; the run rows set bench.test, which their subdomain conf serves
# (curl connects to 127.0.0.1 either way).
NAME=127.0.0.1
# The HTTP version curl speaks (the h2 rows set http2).
PROTO=http1.1
# A file to POST with every request (the -post rows), else none: GET.
POST_FILE=
requests() { # port count -> a curl config file sending <count> requests to $NAME
    printf '%s\nresolve = "%s:%s:127.0.0.1"\n' "$PROTO" "$NAME" "$1" > "$WORK/urls"
    [[ -n $POST_FILE ]] && printf 'data-binary = "@%s"\n' "$POST_FILE" >> "$WORK/urls"
    for _ in $(seq 1 "$2"); do printf 'url = "https://%s:%s/"\noutput = "/dev/null"\n' "$NAME" "$1"; done >> "$WORK/urls"
    echo "$WORK/urls"
}

measure() { # name port command... -> instructions per request of command under callgrind
    local name=$1 port=$2 out="$WORK/cg.$1"
    shift 2
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" > "$WORK/$name.log" 2>&1 &
    local pid=$! ready=0
    PIDS+=("$pid")
    for _ in $(seq 1 200); do
        # Ready once the backend's answer comes back through the route.
        [[ $(curl -sk "--$PROTO" --max-time 2 --resolve "$NAME:$port:127.0.0.1" "https://$NAME:$port/" 2>/dev/null) == "$BACKEND_BODY" ]] && { ready=1; break; }
        sleep 0.2
    done
    if ((!ready)); then
        echo "bench/instructions.sh: $name never answered with the backend's body on port $port; its log:" >&2
        tail -20 "$WORK/$name.log" >&2
        kill "$pid"
        exit 1
    fi
    curl -sk -K "$(requests "$port" "$WARM")"
    callgrind_control -z "$pid" > /dev/null
    curl -sk -K "$(requests "$port" "$REQUESTS")"
    callgrind_control -d "$pid" > /dev/null
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    # The explicit dump is part 1; its totals line holds the count.
    local total
    total=$(awk '/^(summary|totals):/ { print $2; exit }' "$out.1")
    echo $((total / REQUESTS))
}

count() { # name binary port [auth|guard|swag] -> instructions per request of moat's bench binaries
    GLIBC_TUNABLES=$(moat_tunables) \
    MOAT_BENCH_AUTH=$([[ ${4:-} == auth ]] && echo 1 || echo 0) \
    MOAT_BENCH_GUARD=$([[ ${4:-} == guard ]] && echo 1 || echo 0) \
    MOAT_BENCH_SWAG=$([[ ${4:-} == swag ]] && echo 1 || echo 0) \
        measure "$1" "$3" "$2" "$3" "$WORK/cert.pem" "$WORK/key.pem" "127.0.0.1:$BACKEND_PORT" 1
}

count_nginx() { # name port auth(0|1) [guard(0|1)] [swag(0|1)] -> instructions per request of Debian's nginx doing the same
    bench_nginx_conf "$WORK/$1" "$2" "$BACKEND_PORT" "$WORK" 1 "$3" "${4:-0}" "${5:-0}"
    # One process (no master/worker fork) so callgrind counts the one serving.
    sed -i '1i master_process off;' "$WORK/$1/nginx.conf"
    measure "$1" "$2" nginx -c "$WORK/$1/nginx.conf" -p "$WORK/$1"
}

moat=$(count moat "$BIN/bench-proxy" $((BASE_PORT + 1)))
pingora=$(count pingora "$BIN/bench-pingora-bare" $((BASE_PORT + 2)))
# The shape of moat's own HTTP/1 loop with nothing of moat: its floor.
core_loop=$(count core-loop "$BIN/bench-pingora-core-loop" $((BASE_PORT + 14)))
# The same route behind auth_request: the backend answers the subrequest.
moat_auth=$(count moat-auth "$BIN/bench-proxy" $((BASE_PORT + 3)) auth)
nginx_plain=$(count_nginx nginx $((BASE_PORT + 4)) 0)
nginx_auth=$(count_nginx nginx-auth $((BASE_PORT + 5)) 1)
# realip + a limit_req zone that never triggers (+ moat's fail2ban jails).
moat_guard=$(count moat-guard "$BIN/bench-proxy" $((BASE_PORT + 6)) guard)
nginx_guard=$(count_nginx nginx-guard $((BASE_PORT + 7)) 0 1)
# A SWAG subdomain conf's location: SWAG's proxy.conf included (20
# proxy_set_header lines). Its `Connection: close` ($connection_upgrade for
# a request without Upgrade) makes nginx open a new backend connection per
# request, as SWAG does; moat keeps its backend connections alive.
moat_swag=$(count moat-swag "$BIN/bench-proxy" $((BASE_PORT + 8)) swag)
nginx_swag=$(count_nginx nginx-swag $((BASE_PORT + 9)) 0 0 1)
# The real binary: `moat run` on the /config tree it bootstraps (SWAG's
# layout, the self-signed certificate, the access log to stdout and
# log/nginx/access.log, SWAG's fail2ban jails reading it) with one SWAG
# subdomain conf in proxy-confs, then Debian's nginx on the same tree, so
# both read the same nginx.conf, site-confs/default.conf, ssl.conf,
# proxy.conf and subdomain conf, and both write an access log.
RUN_CONFIG=$WORK/run-config
mkdir -p "$RUN_CONFIG/nginx/proxy-confs"
cat > "$RUN_CONFIG/nginx/proxy-confs/bench.subdomain.conf" <<CONF
## The shape of SWAG's samples (e.g. nextcloud.subdomain.conf.sample);
## http2 as nginx 1.22 spells it, for the h2 rows (moat offers h2 by ALPN).
server {
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
    server_name bench.*;
    include /config/nginx/ssl.conf;
    client_max_body_size 0;
    location / {
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        set \$upstream_app 127.0.0.1;
        set \$upstream_port $BACKEND_PORT;
        set \$upstream_proto http;
        proxy_pass \$upstream_proto://\$upstream_app:\$upstream_port;
    }
}
CONF
run_https=$((BASE_PORT + 10))
NAME=bench.test
moat_run=$(CONFIG_DIR=$RUN_CONFIG HTTP_PORT=$((BASE_PORT + 11)) HTTPS_PORT=$run_https WORKERS=1 \
    GLIBC_TUNABLES=$(moat_tunables) measure moat-run "$run_https" "$ROOT/target/$CARGO_BUILD_TARGET/release/moat" run)
nginx_run_port=$((BASE_PORT + 12))
nginx_tree "$RUN_CONFIG" "$WORK/nginx-run" "$nginx_run_port" $((BASE_PORT + 13))
nginx_run=$(measure nginx-run "$nginx_run_port" nginx -c "$WORK/nginx-run/nginx/nginx.conf" -p "$WORK/nginx-run")
# The same two over HTTP/2: every request a new stream on one connection.
PROTO=http2
moat_run_h2=$(CONFIG_DIR=$RUN_CONFIG HTTP_PORT=$((BASE_PORT + 11)) HTTPS_PORT=$run_https WORKERS=1 \
    GLIBC_TUNABLES=$(moat_tunables) measure moat-run-h2 "$run_https" "$ROOT/target/$CARGO_BUILD_TARGET/release/moat" run)
nginx_run_h2=$(measure nginx-run-h2 "$nginx_run_port" nginx -c "$WORK/nginx-run/nginx/nginx.conf" -p "$WORK/nginx-run")
PROTO=http1.1
# The same two with a 1000-byte POST body each (Content-Length; under
# curl's 1 KiB threshold for `Expect: 100-continue`), forwarded to the
# backend, which reads and drops it.
POST_FILE=$WORK/post-body
head -c 1000 /dev/zero | tr '\0' 'p' > "$POST_FILE"
moat_run_post=$(CONFIG_DIR=$RUN_CONFIG HTTP_PORT=$((BASE_PORT + 11)) HTTPS_PORT=$run_https WORKERS=1 \
    GLIBC_TUNABLES=$(moat_tunables) measure moat-run-post "$run_https" "$ROOT/target/$CARGO_BUILD_TARGET/release/moat" run)
nginx_run_post=$(measure nginx-run-post "$nginx_run_port" nginx -c "$WORK/nginx-run/nginx/nginx.conf" -p "$WORK/nginx-run")
POST_FILE=
NAME=127.0.0.1

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
printf 'user-space instructions per keep-alive HTTPS request (callgrind, %s requests after %s)\n' "$REQUESTS" "$WARM"
printf '%-10s %10s %9s %8s\n' proxy instr "x pingora" "x nginx"
printf '%-10s %10s %9s %8s\n' moat "$moat" "$(ratio "$moat" "$pingora")" "$(ratio "$moat" "$nginx_plain")"
printf '%-10s %10s %9s %8s\n' pingora "$pingora" "1.00" "$(ratio "$pingora" "$nginx_plain")"
printf '%-10s %10s %9s %8s   (pingora-core in the shape of the moat loop, nothing of moat)\n' core-loop "$core_loop" "$(ratio "$core_loop" "$pingora")" "$(ratio "$core_loop" "$nginx_plain")"
printf '%-10s %10s %9s %8s\n' nginx "$nginx_plain" "$(ratio "$nginx_plain" "$pingora")" "1.00"
printf '%-10s %10s %9s %8s   (auth_request to the backend before each request; x nginx+auth)\n' moat+auth "$moat_auth" "$(ratio "$moat_auth" "$pingora")" "$(ratio "$moat_auth" "$nginx_auth")"
printf '%-10s %10s %9s %8s   (the same in nginx)\n' nginx+auth "$nginx_auth" "$(ratio "$nginx_auth" "$pingora")" "1.00"
printf '%-10s %10s %9s %8s   (realip + limit_req that never triggers + fail2ban jails; x nginx+guard)\n' moat+guard "$moat_guard" "$(ratio "$moat_guard" "$pingora")" "$(ratio "$moat_guard" "$nginx_guard")"
printf '%-10s %10s %9s %8s   (realip + the same limit_req in nginx)\n' nginx+guard "$nginx_guard" "$(ratio "$nginx_guard" "$pingora")" "1.00"
printf '%-10s %10s %9s %8s   (SWAG proxy.conf included, 20 proxy_set_header; x nginx+swag)\n' moat+swag "$moat_swag" "$(ratio "$moat_swag" "$pingora")" "$(ratio "$moat_swag" "$nginx_swag")"
printf '%-10s %10s %9s %8s   (the same conf in nginx: Connection: close, a backend connection per request)\n' nginx+swag "$nginx_swag" "$(ratio "$nginx_swag" "$pingora")" "1.00"
printf '%-10s %10s %9s %8s   (moat run: SWAG tree, subdomain conf, access log, fail2ban; x nginx-run)\n' moat-run "$moat_run" "$(ratio "$moat_run" "$pingora")" "$(ratio "$moat_run" "$nginx_run")"
printf '%-10s %10s %9s %8s   (nginx on the same tree, access log to the file)\n' nginx-run "$nginx_run" "$(ratio "$nginx_run" "$pingora")" "1.00"
printf '%-10s %10s %9s %8s   (moat run over HTTP/2, one stream per request; x nginx-run-h2)\n' moat-run-h2 "$moat_run_h2" "$(ratio "$moat_run_h2" "$pingora")" "$(ratio "$moat_run_h2" "$nginx_run_h2")"
printf '%-10s %10s %9s %8s   (nginx on the same tree over HTTP/2)\n' nginx-run-h2 "$nginx_run_h2" "$(ratio "$nginx_run_h2" "$pingora")" "1.00"
printf '%-10s %10s %9s %8s   (moat run, a 1000-byte POST body each; x nginx-run-post)\n' moat-run-post "$moat_run_post" "$(ratio "$moat_run_post" "$pingora")" "$(ratio "$moat_run_post" "$nginx_run_post")"
printf '%-10s %10s %9s %8s   (nginx on the same tree, the same POSTs)\n' nginx-run-post "$nginx_run_post" "$(ratio "$nginx_run_post" "$pingora")" "1.00"
