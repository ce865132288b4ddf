#!/usr/bin/env bash
# Install R and metafor from Debian's packages when they are missing; do nothing when present.
# Where apt-get is missing or we are not root, say in one line what to install and stop.
set -u
source "${BASH_SOURCE[0]%/*}/apt.sh"
# metafor's suggested packages that ketabridge's models call: clubSandwich (robust CR2), lme4 and
# BiasedUrn (rma.glmm), numDeriv (selmodel's Hessian).
PACKAGES="r-base-core r-cran-metafor r-cran-metadat r-cran-clubsandwich r-cran-lme4 r-cran-biasedurn r-cran-numderiv"
has_metafor() {
  Rscript -e 'for (p in c("metafor", "metadat", "clubSandwich", "lme4", "BiasedUrn", "numDeriv")) library(p, character.only = TRUE)' >/dev/null 2>&1
}
has_metafor && exit 0
if ! apt_possible; then
  echo "ketabridge needs R (>= 4.0) with the metafor and metadat packages: install them with conda (conda install -c conda-forge r-metafor r-metadat r-clubsandwich r-lme4 r-biasedurn r-numderiv), your system's packages (apt-get install $PACKAGES), or in R: install.packages(c(\"metafor\", \"metadat\", \"clubSandwich\", \"lme4\", \"BiasedUrn\", \"numDeriv\"))" >&2
  exit 1
fi
echo "installing R and metafor from Debian's packages (about 90 s)..."
apt_install $PACKAGES \
  || { echo "apt-get could not install $PACKAGES; install them by hand" >&2; exit 1; }
has_metafor || { echo "R was installed but library(metafor) or a package it calls still fails; run: Rscript -e 'library(metafor); library(clubSandwich); library(lme4)'" >&2; exit 1; }
