#!/usr/bin/env bash
# Run a command as on a machine without R: R and Rscript vanish from PATH and R_HOME is unset
# (`make test-fast` runs the tests not marked requires_r this way, so a missing mark shows).
set -euo pipefail
shadow="$(mktemp -d)"; trap 'rm -rf "$shadow"' EXIT
IFS=: read -ra folders <<<"$PATH"
for folder in "${folders[@]}"; do
  for tool in "$folder"/*; do
    name="${tool##*/}"
    case "$name" in R|Rscript) continue ;; esac
    [ -x "$tool" ] && [ ! -e "$shadow/$name" ] && ln -s "$tool" "$shadow/$name"
  done
done
unset R_HOME
PATH="$shadow" "$@"
