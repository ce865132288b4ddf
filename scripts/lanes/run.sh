#!/usr/bin/env bash
# `make test-lanes`: build or reuse each lane, run the whole suite there with `make test`, and print
# a table. Lanes are named in lanes.txt; pass names to run only some (scripts/lanes/run.sh newest).
set -uo pipefail
here="${BASH_SOURCE[0]%/*}"
source "$here/lib.sh"
cd "$here/../.."
[ "$(id -u)" = 0 ] || { echo "test-lanes needs root (debootstrap and chroot)" >&2; exit 1; }
only="$*"
results="$LANE_CACHE/results"; mkdir -p "$results"
chosen() { [ -z "$only" ] || [[ " $only " == *" $1 "* ]]; }
# The roots are built side by side (mostly downloads), then the suites run one after another.
while read -r lane suite _; do
  case "$lane" in ''|'#'*) continue ;; esac
  chosen "$lane" && bash "$here/build.sh" "$suite" >/dev/null </dev/null &
done <"$here/lanes.txt"
wait
status=0
while read -r lane suite constraints; do
  case "$lane" in ''|'#'*) continue ;; esac
  chosen "$lane" || continue
  root="$(bash "$here/build.sh" "$suite")" || { status=1; echo "$lane: could not build the $suite root" >&2; continue; }
  # A fresh copy of the working tree (tracked and new files), keeping the lane's own venv.
  tree="$root/work/ketabridge"; mkdir -p "$tree"
  find "$tree" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
  git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
    | tar --null -T - -cf - | tar -xf - -C "$tree"
  [ "$constraints" = - ] && constraints=""
  printf '%s\n' $constraints >"$root/work/constraints.txt"
  rm -f "$root/work/junit.xml"
  echo "== $lane ($suite): make test, log in $results/$lane.log" >&2
  started=$(date +%s)
  lane_exec "$root" sh -c 'cd /work/ketabridge && export PIP_CONSTRAINT=/work/constraints.txt \
      PYTEST_ADDOPTS="--junitxml=/work/junit.xml -p no:cacheprovider" && make test' \
      >"$results/$lane.log" 2>&1 </dev/null || status=1
  echo $(( $(date +%s) - started )) >"$results/$lane.seconds"
  cp "$root/work/junit.xml" "$results/$lane.junit.xml" 2>/dev/null || rm -f "$results/$lane.junit.xml"
  lane_exec "$root" sh -c 'cd /work/ketabridge && .venv/bin/ketabridge doctor' >"$results/$lane.doctor" 2>&1 </dev/null || true
  tail -3 "$results/$lane.log" >&2
done <"$here/lanes.txt"
python3 "$here/table.py" "$results" "$here/lanes.txt" $*
exit $status
