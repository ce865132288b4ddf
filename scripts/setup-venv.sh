#!/usr/bin/env bash
# The venv: ketabridge editable with its test extras, and the rpy2 that fits the R found.
# rpy2 3.6 needs R >= 4.5 (rinterface 3.6.7 is the first that loads into R 4.6); 3.5.x loads into
# R 4.0-4.6 and is what Debian pairs with R 4.5, so: 3.5 below R 4.6, 3.6 from R 4.6 on.
set -euo pipefail
venv="${1:-.venv}"
python="${PYTHON:-python3}"
# Without R (make test-fast on a machine without it), the rpy2 that installs without R's headers.
r_version="$(Rscript -e 'cat(R.version$major, R.version$minor, sep = ".")' 2>/dev/null || echo none)"
case "$r_version" in
  none) rpy2_spec='rpy2>=3.5.13,<3.6' ;;
  [0-3].*|4.[0-5].*) rpy2_spec='rpy2>=3.5.13,<3.6' ;;
  *) rpy2_spec='rpy2>=3.6.9' ;;
esac
echo "R $r_version: installing $rpy2_spec into $venv"
test -x "$venv/bin/python" || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[test,dask,crosscheck,docs]' "$rpy2_spec"
