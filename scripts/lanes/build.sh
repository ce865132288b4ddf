#!/usr/bin/env bash
# Build (or reuse) one lane: scripts/lanes/build.sh SUITE. Prints the root's path when ready.
set -euo pipefail
source "${BASH_SOURCE[0]%/*}/lib.sh"
suite="$1"
root="$(lane_root "$suite")"
# A root is ready when it holds the packages listed now; a longer list reinstalls into the cached root.
[ "$(cat "$root/.ketabridge-lane-ready" 2>/dev/null)" = "$LANE_PACKAGES" ] && { echo "$root"; exit 0; }
command -v debootstrap >/dev/null || { source "${BASH_SOURCE[0]%/*}/../apt.sh"; apt_install debootstrap; }
echo "building the $suite lane in $root (a few minutes)..." >&2
if [ ! -f "$root/.ketabridge-base-ready" ]; then
  rm -rf "$root"; mkdir -p "$LANE_CACHE"
  debootstrap --variant=minbase "$suite" "$root" "$DEBIAN_MIRROR" >"$root.log" 2>&1 \
    || { echo "debootstrap $suite failed; see $root.log" >&2; exit 1; }
  touch "$root/.ketabridge-base-ready"
fi
# The archive's Release files may carry a Valid-Until older than this machine's clock.
echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99ketabridge-lane"
# pip inside the root trusts what this machine trusts (a proxy's CA may be among them).
mkdir -p "$root/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
lane_exec "$root" sh -c "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && \
  apt-get install -y -qq --no-install-recommends $LANE_PACKAGES" >>"$root.log" 2>&1 \
  || { echo "installing R and Python into the $suite lane failed; see $root.log" >&2; exit 1; }
# apt's ca-certificates rewrote the bundle; put this machine's back.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
echo "$LANE_PACKAGES" >"$root/.ketabridge-lane-ready"
echo "$root"
