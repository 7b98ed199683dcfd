#!/usr/bin/env bash
# A new user's first hour, replayed on a machine that has nothing but Debian
# and the Rust toolchain: issue 15's check that the README's first two
# commands work as written, run and timed by hand (too slow for CI: it is one
# full build from nothing, crates downloaded from crates.io).
#
# What it does:
#   1. debootstrap a minimal Debian bookworm rootfs (minbase, plus what a
#      person needs to have rustup and a clone at all: ca-certificates, git);
#   2. copy this machine's default Rust toolchain into it (rustup's
#      toolchain folder and ~/.cargo/bin, no crate cache, no target/), and a
#      clean clone of this checkout's HEAD;
#   3. import it as a Docker image (no registry needed) and start it on a
#      Docker network of its own;
#   4. run the README's first command, `./scripts/run.sh`, and wait until
#      moat answers HTTPS on :8443 (checked from this host with curl);
#   5. run the README's second command, `./scripts/test.sh`, until it has
#      passed `cargo fmt` and the build and printed its first test result,
#      which must be `ok` (FRESH_FULL=1: until the whole suite has ended,
#      which must exit 0; peers the container lacks are skipped loudly, as
#      on any machine that is not CI).
# Each phase's wall-clock time is printed; the README quotes the figure.
#
# Needs root, debootstrap, docker and curl on this machine, and network access
# to deb.debian.org and crates.io. Everything it creates (rootfs, image,
# container, network) is removed at the end unless FRESH_KEEP=1.
#
#   sudo scripts/fresh-machine.sh
#   FRESH_TIMEOUT_MIN=120 FRESH_CPU_SHARES=2 sudo scripts/fresh-machine.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
suite=${FRESH_SUITE:-bookworm}
mirror=${FRESH_MIRROR:-http://deb.debian.org/debian}
timeout_min=${FRESH_TIMEOUT_MIN:-120}
# A low CPU weight lets the replay use only what the machine leaves idle.
cpu_shares=${FRESH_CPU_SHARES:-1024}
tag=moat-fresh-$$
work=$(mktemp -d "${TMPDIR:-/var/tmp}/moat-fresh.XXXXXX")
container="" network=""

die() { echo "fresh-machine: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap and docker)"
for tool in debootstrap docker curl git rustup; do
  command -v "$tool" >/dev/null || die "needs $tool on this machine"
done

cleanup() {
  [[ -n $container ]] && docker rm -f "$container" >/dev/null 2>&1 || true
  [[ -n $network ]] && docker network rm "$network" >/dev/null 2>&1 || true
  if [[ ${FRESH_KEEP:-} != 1 ]]; then
    docker image rm -f "$tag:latest" >/dev/null 2>&1 || true
    rm -rf "$work"
  else
    echo "fresh-machine: kept $work, image $tag" >&2
  fi
}
trap cleanup EXIT

start=$(date +%s)
phase_start=$start
phase() {
  local now
  now=$(date +%s)
  printf 'fresh-machine: %-44s %4d s (total %4d s)\n' "$1" $((now - phase_start)) $((now - start))
  phase_start=$now
}

rootfs=$work/rootfs
debootstrap --variant=minbase --include=ca-certificates,git "$suite" "$rootfs" "$mirror" \
  > "$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; die "debootstrap failed"; }
# This host's CA bundle, so that a network whose egress re-signs TLS (a
# corporate or sandbox proxy) reaches crates.io from the container as it
# does from here; on an ordinary network it equals Debian's own bundle.
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
# The rootfs's apt must not start daemons while the build installs packages.
printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
chmod +x "$rootfs/usr/sbin/policy-rc.d"
phase "debootstrap $suite (minbase)"

toolchain=$(rustup show active-toolchain | cut -d' ' -f1)
toolchain_dir=$(rustup run "$toolchain" rustc --print sysroot)
mkdir -p "$rootfs/root/.rustup/toolchains" "$rootfs/root/.cargo"
cp -a "$toolchain_dir" "$rootfs/root/.rustup/toolchains/$toolchain"
cp -a "$HOME/.cargo/bin" "$rootfs/root/.cargo/bin"
printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\nauto_self_update = "disable"\n\n[overrides]\n' \
  "$toolchain" > "$rootfs/root/.rustup/settings.toml"
git clone -q --no-local "$repo" "$rootfs/root/moat"
phase "toolchain $toolchain and a clean clone copied in"

tar -C "$rootfs" -c . | docker import - "$tag:latest" >/dev/null
rm -rf "$rootfs"
network=$tag
docker network create "$network" >/dev/null
container=$(docker run -d --name "$tag" --network "$network" --cpu-shares "$cpu_shares" \
  -e PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  -e HOME=/root -w /root/moat "$tag:latest" sleep infinity)
addr=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$network\").IPAddress}}" "$container")
phase "image imported, container started ($addr)"

# README line 1, in the background inside the container, as a user would.
docker exec -d "$container" bash -c './scripts/run.sh > /root/run.log 2>&1; echo "exit $?" >> /root/run.log'
deadline=$((start + timeout_min * 60))
until curl -ksf -o /dev/null --max-time 5 "https://$addr:8443/"; do
  if (($(date +%s) > deadline)); then
    docker exec "$container" tail -40 /root/run.log >&2 || true
    die "moat did not answer HTTPS within ${timeout_min} min"
  fi
  if docker exec "$container" grep -q '^exit ' /root/run.log 2>/dev/null; then
    docker exec "$container" tail -40 /root/run.log >&2 || true
    die "./scripts/run.sh exited before moat answered"
  fi
  sleep 10
done
subject=$(curl -ksv --max-time 5 "https://$addr:8443/" -o /dev/null 2>&1 | grep -m1 'subject:' || true)
phase "./scripts/run.sh: HTTPS answers on :8443"
echo "fresh-machine:   certificate ${subject# *}"

# README line 2 until the suite is running: its formatting check, the build it
# shares with line 1, the test targets' build and the first test result.
docker exec -d "$container" bash -c './scripts/test.sh > /root/test.log 2>&1; echo "exit $?" >> /root/test.log'
until docker exec "$container" grep -q '^test result:' /root/test.log 2>/dev/null; do
  if (($(date +%s) > deadline)); then
    docker exec "$container" tail -40 /root/test.log >&2 || true
    die "./scripts/test.sh printed no test result within ${timeout_min} min"
  fi
  if docker exec "$container" grep -q '^exit ' /root/test.log 2>/dev/null; then
    docker exec "$container" tail -40 /root/test.log >&2 || true
    die "./scripts/test.sh ended before its first test result"
  fi
  sleep 10
done
first=$(docker exec "$container" grep -m1 '^test result:' /root/test.log)
echo "fresh-machine:   $first"
if [[ $first != "test result: ok."* ]]; then
  docker exec "$container" grep -E -- '--- FAILED|^test .* FAILED|panicked at' /root/test.log | head -40 >&2 || true
  die "the first test target failed on a fresh machine"
fi
phase "./scripts/test.sh: first test result"
if [[ ${FRESH_FULL:-} == 1 ]]; then
  until docker exec "$container" grep -q '^exit ' /root/test.log 2>/dev/null; do
    (($(date +%s) > deadline)) && die "./scripts/test.sh did not end within ${timeout_min} min"
    sleep 20
  done
  docker exec "$container" tail -3 /root/test.log | sed 's/^/fresh-machine:   /'
  docker exec "$container" grep -qx 'exit 0' /root/test.log || die "./scripts/test.sh failed on a fresh machine"
  phase "./scripts/test.sh: whole suite passed"
fi
echo "fresh-machine: the README's two commands work on a fresh $suite with only Rust"
