#!/usr/bin/env bash
# One build, one image: builds the static release binary (reused when
# scripts/run.sh or scripts/test.sh already built it) and the scratch image
# from it, tagged `moat` and `moat:<version>`, so the README's
# `docker run ... moat` works as written. No registry is needed; with one,
# `docker build -f docker/Dockerfile .` builds the same image in Docker.
#
#   scripts/image.sh [--with-echo]
#
# --with-echo also builds moat-echo:local, the example backend that
# docker/compose.yaml runs next to moat.
set -euo pipefail
cd "$(dirname "$0")/.."
with_echo=()
if [[ ${1:-} == --with-echo ]]; then
  with_echo=(--with-echo)
  shift
fi
source scripts/prereqs.sh
need_build_tools
cargo build --release --locked --bins
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
docker/build-local.sh ${with_echo[@]+"${with_echo[@]}"} moat:latest "$MOAT_BIN"
docker tag moat:latest "moat:$version"
echo "built moat:latest and moat:$version from $MOAT_BIN ($(du -h "$MOAT_BIN" | cut -f1) unstripped)"
