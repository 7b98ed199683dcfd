#!/usr/bin/env bash
# Builds moat's runtime image without pulling anything (CI has no registry):
# the static binary is built on the host, then copied into an image FROM
# scratch whose Dockerfile is the runtime stage of docker/Dockerfile, so the
# image CI tests is the one users build.
#
#   docker/build-local.sh [--with-echo] [TAG] [BINARY]
#
# TAG defaults to moat (moat:latest), the name the README's `docker run`
# uses; scripts/image.sh calls this with its own build and also tags
# moat:<version>, and tests pass their own tags. BINARY defaults to a
# static build made here with the `release` profile: the one
# docker/Dockerfile ships and scripts/test.sh builds, so an up-to-date tree
# rebuilds nothing and the image is made of the binary CI tested. --with-echo also builds
# moat-echo:local, the echo backend that docker/compose.yaml uses as an
# example application.
set -euo pipefail
cd "$(dirname "$0")/.."

with_echo=false
if [[ ${1:-} == --with-echo ]]; then
  with_echo=true
  shift
fi
tag=${1:-moat:latest}
bin=${2:-}
target=x86_64-unknown-linux-gnu
profile=release
if [[ -z $bin ]]; then
  RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --profile "$profile" --locked --target "$target" --bins
  bin=target/$target/$profile/moat
fi

# A scratch image has no loader and no libc: only a static binary runs there.
require_static() {
  local out
  out=$(ldd "$1" 2>&1 || true)
  if [[ $out != *"not a dynamic executable"* && $out != *"statically linked"* ]]; then
    echo "build-local: $1 is dynamically linked; build it with" >&2
    echo "  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target $target" >&2
    exit 1
  fi
}
require_static "$bin"

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root/etc/ssl/certs" "$ctx/root/tmp" "$ctx/root/config"
chmod 1777 "$ctx/root/tmp"
cp "$bin" "$ctx/root/moat"
strip "$ctx/root/moat" 2>/dev/null || true
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if [[ ! -s $ca ]]; then
  echo "build-local: no CA bundle at $ca (install ca-certificates or set CA_BUNDLE)" >&2
  exit 1
fi
cp "$ca" "$ctx/root/etc/ssl/certs/ca-certificates.crt"

# The runtime stage of docker/Dockerfile, with the builder replaced by the host.
sed -n '/^FROM scratch AS runtime/,$p' docker/Dockerfile \
  | sed 's#^COPY --from=builder /out/ /#COPY root/ /#' > "$ctx/Dockerfile"
grep -q '^COPY root/ /' "$ctx/Dockerfile" || {
  echo "build-local: docker/Dockerfile has no 'FROM scratch AS runtime' stage copying /out/" >&2
  exit 1
}
version=$("$ctx/root/moat" --version 2>/dev/null | awk '{print $2}' || true)
docker build -q --label "org.opencontainers.image.version=${version:-unknown}" \
  -t "$tag" "$ctx" >/dev/null
size=$(docker image inspect "$tag" --format '{{.Size}}')
echo "built $tag: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }') MiB)"

if $with_echo; then
  echo_bin=$(dirname "$bin")/moat-echo
  require_static "$echo_bin"
  rm -rf "$ctx"/*
  cp "$echo_bin" "$ctx/moat-echo"
  strip "$ctx/moat-echo" 2>/dev/null || true
  printf '%s\n' 'FROM scratch' 'COPY moat-echo /moat-echo' 'EXPOSE 80' \
    'ENTRYPOINT ["/moat-echo", "--listen", "0.0.0.0:80"]' > "$ctx/Dockerfile"
  docker build -q -t moat-echo:local "$ctx" >/dev/null
  echo "built moat-echo:local"
fi
