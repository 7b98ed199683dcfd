#!/usr/bin/env bash
# Runs moat's whole test suite: formatting, lints, then every test target
# against the release build (built once and shared by all test targets).
# Tests that need peers (pebble, BIND, nginx, Docker, root) skip loudly when
# they are missing locally and fail under CI=true; .ci/run installs them.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

# One static build serves everything: the test binaries, the end-to-end tests
# and the Docker image (docker/build-local.sh copies the same moat binary);
# scripts/prereqs.sh holds its settings and what it needs from apt.
source scripts/prereqs.sh
need_build_tools

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo build --release (binaries used by the end-to-end tests)"
cargo build --release --locked --bins

step "cargo test --release"
cargo test --release --locked --no-fail-fast -- --nocapture 2>&1 | tee target/test-output.log
test "${PIPESTATUS[0]}" -eq 0

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --release --locked --all-targets -- -D warnings

step "summary"
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.log
