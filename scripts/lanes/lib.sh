# Shared by the lane scripts (sourced, not run): where lanes live and how to enter one.
# A lane is a Debian root file system (debootstrap) with that suite's R, metafor and Python.
LANE_CACHE="${KETABRIDGE_LANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ketabridge-lanes}"
DEBIAN_MIRROR="${KETABRIDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# What each lane's suite needs from Debian: R with metafor (r-base-dev: rpy2-rinterface builds
# against it), the R packages metafor's models call (scripts/setup-r.sh says which), Python with venv and headers, make, chromium for the report's browser test.
LANE_PACKAGES="r-base-core r-base-dev r-cran-metafor r-cran-metadat r-cran-clubsandwich r-cran-lme4 \
r-cran-biasedurn r-cran-numderiv python3 python3-venv python3-dev \
gcc make git ca-certificates chromium fonts-dejavu-core"

lane_root() { echo "$LANE_CACHE/$1"; }

# Run a command inside a lane root with /proc, /sys, /dev and /dev/shm mounted for its duration.
lane_exec() {
  local root="$1"; shift
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"; mount --make-rslave "$root/sys"
  mount --rbind /dev "$root/dev"; mount --make-rslave "$root/dev"
  local rc=0
  chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb "$@" || rc=$?
  umount -R "$root/dev" "$root/sys" "$root/proc" 2>/dev/null || umount -lR "$root/dev" "$root/sys" "$root/proc"
  return $rc
}
