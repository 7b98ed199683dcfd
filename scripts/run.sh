#!/usr/bin/env bash
# Runs moat from a checkout: installs (as root) or names the packages the
# build needs, builds the static release binary once (the same build
# scripts/test.sh and scripts/image.sh use), then `moat run` with the
# arguments given, by default a demo tree in ./demo-config with self-signed
# HTTPS on :8443 and HTTP on :8080.
#
#   scripts/run.sh                      # moat run --config ./demo-config
#   URL=example.com scripts/run.sh --config /srv/swag-config
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh
need_build_tools
cargo build --release --locked --bins
export HTTP_PORT=${HTTP_PORT:-8080} HTTPS_PORT=${HTTPS_PORT:-8443}
if (($# == 0)); then
  set -- --config ./demo-config
fi
exec "$MOAT_BIN" run "$@"
