#!/usr/bin/env bash
# The report test opens report.html in a real headless browser: install Debian's chromium when
# it is missing and we may; otherwise say so in one line (that test then skips).
set -u
source "${BASH_SOURCE[0]%/*}/apt.sh"
command -v chromium >/dev/null 2>&1 && exit 0
if ! apt_possible; then
  echo "chromium not found: the report.html browser test will be skipped (install it with: apt-get install chromium)" >&2
  exit 0
fi
echo "installing chromium from Debian's packages, for the report test..."
apt_install chromium || echo "apt-get could not install chromium; the report.html browser test will be skipped" >&2
exit 0
