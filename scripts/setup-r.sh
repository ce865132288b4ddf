#!/usr/bin/env bash
# Install R and metafor from Debian's packages when they are missing; do nothing when present.
# Where apt-get is missing or we are not root, say in one line what to install and stop.
set -u
source "${BASH_SOURCE[0]%/*}/apt.sh"
has_metafor() { Rscript -e 'library(metafor); library(metadat)' >/dev/null 2>&1; }
has_metafor && exit 0
if ! apt_possible; then
  echo "ketabridge needs R (>= 4.0) with the metafor and metadat packages: install them with conda (conda install -c conda-forge r-metafor r-metadat), your system's packages (apt-get install r-base-core r-cran-metafor r-cran-metadat), or in R: install.packages(c(\"metafor\", \"metadat\"))" >&2
  exit 1
fi
echo "installing R and metafor from Debian's packages (about 90 s)..."
apt_install r-base-core r-cran-metafor r-cran-metadat \
  || { echo "apt-get could not install r-base-core r-cran-metafor r-cran-metadat; install them by hand" >&2; exit 1; }
has_metafor || { echo "R was installed but library(metafor) still fails; run: Rscript -e 'library(metafor)'" >&2; exit 1; }
