# Shared by the setup scripts (sourced, not run): may we install Debian packages here, and how.
apt_possible() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }

# Quietly; refresh the package lists only when the first attempt fails (a fresh image has none).
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}
