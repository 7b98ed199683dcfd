#!/usr/bin/env bash
# Time to a certificate from a cold start against pebble (PEBBLE_VA_NOSLEEP=1):
# `moat renew` standalone vs `certbot certonly --standalone`, same pebble,
# same run, interleaved, median of N (default 5) runs each, plus peak RSS
# from /usr/bin/time -v. Cold start: an empty config dir each run, so both
# register an ACME account, order, answer HTTP-01 and store the chain.
#
# Usage: bench/acme_vs_certbot.sh [runs]      (MOAT_BIN to skip the build)
# Needs: pebble, pebble-challtestsrv, certbot, openssl, /usr/bin/time.
set -euo pipefail
RUNS="${1:-5}"
cd "$(dirname "$0")/.."
for p in pebble pebble-challtestsrv certbot openssl /usr/bin/time; do
  command -v "$p" >/dev/null || { echo "missing: $p" >&2; exit 2; }
done
if [[ -z "${MOAT_BIN:-}" ]]; then
  # The same static build scripts/test.sh makes, so its dependencies are reused.
  export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu RUSTFLAGS="-C target-feature=+crt-static"
  cargo build --release --quiet --bin moat
  MOAT_BIN="$PWD/target/$CARGO_BUILD_TARGET/release/moat"
fi

WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

# Listener CA + certificate for pebble (Debian ships none).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=bench listener CA" -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=pebble" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$WORK/ext.cnf"
openssl x509 -req -in "$WORK/cert.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 2 -extfile "$WORK/ext.cnf" -out "$WORK/cert.pem" 2>/dev/null

DNS=$(free_port); CTM=$(free_port); ACME=$(free_port); MGMT=$(free_port); HTTP=$(free_port); TLS=$(free_port)
cat > "$WORK/pebble.json" <<JSON
{"pebble":{"listenAddress":"127.0.0.1:$ACME","managementListenAddress":"127.0.0.1:$MGMT",
"certificate":"$WORK/cert.pem","privateKey":"$WORK/key.pem","httpPort":$HTTP,"tlsPort":$TLS,
"ocspResponderURL":"","externalAccountBindingRequired":false}}
JSON
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$DNS" \
  -management "127.0.0.1:$CTM" -http01 "" -https01 "" -tlsalpn01 "" >"$WORK/challtest.log" 2>&1 &
PIDS+=($!)
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 pebble -config "$WORK/pebble.json" \
  -dnsserver "127.0.0.1:$DNS" >"$WORK/pebble.log" 2>&1 &
PIDS+=($!)
wait_port "$ACME"; wait_port "$CTM"
DIR="https://127.0.0.1:$ACME/dir"

run_moat() {  # $1 = run index
  local cfg="$WORK/moat-$1"
  mkdir -p "$cfg"
  env -i PATH="$PATH" URL="bench$1.moat.test" SUBDOMAINS=www ACME_SERVER="$DIR" ACME_CA_ROOT="$WORK/ca.pem" \
    HTTP_PORT="$HTTP" HTTP_BIND_ADDR=127.0.0.1 RUST_LOG=warn \
    /usr/bin/time -v -o "$WORK/time-moat-$1" "$MOAT_BIN" renew --config "$cfg" >/dev/null 2>"$WORK/moat-$1.err" \
    || { cat "$WORK/moat-$1.err" >&2; exit 1; }
  test -s "$cfg/etc/letsencrypt/live/bench$1.moat.test/fullchain.pem"
}
run_certbot() {
  local d="$WORK/certbot-$1"
  mkdir -p "$d"
  REQUESTS_CA_BUNDLE="$WORK/ca.pem" /usr/bin/time -v -o "$WORK/time-certbot-$1" \
    certbot certonly --standalone --non-interactive --agree-tos --register-unsafely-without-email \
    --server "$DIR" --http-01-port "$HTTP" --http-01-address 127.0.0.1 \
    --config-dir "$d/conf" --work-dir "$d/work" --logs-dir "$d/logs" \
    -d "bench$1.certbot.test" -d "www.bench$1.certbot.test" >/dev/null 2>"$d.err" \
    || { cat "$d.err" >&2; exit 1; }
  test -s "$d/conf/live/bench$1.certbot.test/fullchain.pem"
}
elapsed() { awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }
rss_mib() { awk -F': ' '/Maximum resident set size/{printf "%.1f", $2/1024}' "$1"; }
median() { sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }

for i in $(seq "$RUNS"); do run_moat "$i"; run_certbot "$i"; done

mt=$(for i in $(seq "$RUNS"); do elapsed "$WORK/time-moat-$i"; done | median)
ct=$(for i in $(seq "$RUNS"); do elapsed "$WORK/time-certbot-$i"; done | median)
mr=$(for i in $(seq "$RUNS"); do rss_mib "$WORK/time-moat-$i"; echo; done | median)
cr=$(for i in $(seq "$RUNS"); do rss_mib "$WORK/time-certbot-$i"; echo; done | median)
mmin=$(for i in $(seq "$RUNS"); do elapsed "$WORK/time-moat-$i"; done | sort -g | head -1)
mmax=$(for i in $(seq "$RUNS"); do elapsed "$WORK/time-moat-$i"; done | sort -g | tail -1)
cmin=$(for i in $(seq "$RUNS"); do elapsed "$WORK/time-certbot-$i"; done | sort -g | head -1)
cmax=$(for i in $(seq "$RUNS"); do elapsed "$WORK/time-certbot-$i"; done | sort -g | tail -1)

echo
echo "Cold start to certificate against pebble (PEBBLE_VA_NOSLEEP=1), 2 names, HTTP-01, median of $RUNS"
printf '| %-32s | %-20s | %-14s |\n' "client" "seconds (min-max)" "peak RSS MiB"
printf '|%s|%s|%s|\n' "----------------------------------" "----------------------" "----------------"
printf '| %-32s | %-20s | %-14s |\n' "moat renew (standalone)" "$mt ($mmin-$mmax)" "$mr"
printf '| %-32s | %-20s | %-14s |\n' "certbot certonly --standalone" "$ct ($cmin-$cmax)" "$cr"
awk -v mt="$mt" -v ct="$ct" -v mr="$mr" -v cr="$cr" 'BEGIN{
  sp = (mt>0)? ct/mt : 0; rr = (cr>0)? mr/cr : 0;
  printf "speed-up: %.1fx (target >= 3x: %s); RSS ratio moat/certbot: %.2f (target <= 0.33: %s)\n",
    sp, (sp>=3)?"met":"NOT met", rr, (rr<=1/3)?"met":"NOT met" }'
