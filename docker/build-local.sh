#!/usr/bin/env bash
# Builds the runtime image without pulling anything: the static binary is
# built on the host, then copied into an image FROM scratch that matches the
# Dockerfile's runtime stage.
#
#   docker/build-local.sh [TAG] [BINARY]
# TAG defaults to moat:local; BINARY defaults to a fresh static release build.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-moat:local}
bin=${2:-}
if [[ -z $bin ]]; then
  RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --target x86_64-unknown-linux-gnu --bin moat
  bin=target/x86_64-unknown-linux-gnu/release/moat
fi
if ldd "$bin" >/dev/null 2>&1; then
  echo "build-local: $bin is dynamically linked; build it with -C target-feature=+crt-static" >&2
  exit 1
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root/etc/ssl/certs" "$ctx/root/tmp" "$ctx/root/config"
cp "$bin" "$ctx/root/moat"
strip "$ctx/root/moat" 2>/dev/null || true
cp /etc/ssl/certs/ca-certificates.crt "$ctx/root/etc/ssl/certs/"
chmod 1777 "$ctx/root/tmp"
# The runtime stage of docker/Dockerfile, with the builder replaced by the host.
sed -n '/^FROM scratch AS runtime/,$p' docker/Dockerfile \
  | sed 's#^COPY --from=builder /out/ /#COPY root/ /#' > "$ctx/Dockerfile"
docker build -q -t "$tag" "$ctx" >/dev/null
size=$(docker image inspect "$tag" --format '{{.Size}}')
echo "built $tag ($((size / 1024 / 1024)) MiB)"
