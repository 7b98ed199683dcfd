# Sourced by scripts/run.sh and scripts/image.sh: what a build needs beyond
# the Rust toolchain, checked before cargo starts, so a fresh Debian machine
# gets one line to run instead of a build script's failure 5 minutes in.
#
# Pingora compresses with flate2's zlib-ng backend, whose build script runs
# cmake and a C compiler; the build is static (one binary for the host and
# the scratch image), so it also needs glibc's static libraries.

# The one static build everything shares: scripts/test.sh, run.sh, image.sh
# and docker/build-local.sh use these exact settings, so whichever runs
# second rebuilds nothing.
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
export RUSTFLAGS="-C target-feature=+crt-static"
MOAT_BIN=target/$CARGO_BUILD_TARGET/release/moat

need_build_tools() {
  local missing=()
  command -v cargo >/dev/null || { echo "moat: cargo not found: install Rust from https://rustup.rs" >&2; return 1; }
  command -v cmake >/dev/null || missing+=(cmake)
  command -v make >/dev/null || missing+=(make)
  command -v cc >/dev/null || missing+=(gcc)
  [[ -e /usr/lib/x86_64-linux-gnu/libc.a ]] || missing+=(libc6-dev)
  ((${#missing[@]} == 0)) && return 0
  local cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null && [[ ${MOAT_NO_INSTALL:-} != 1 ]]; then
    echo "moat: installing what the build needs: ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive $cmd -qq
  else
    echo "moat: the build needs ${missing[*]}; run: sudo $cmd" >&2
    return 1
  fi
}
