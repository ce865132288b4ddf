#!/usr/bin/env bash
# The report test opens report.html in a real headless browser: install Debian's chromium when
# it is missing and we may (root with apt-get); otherwise say so in one line (that test then skips).
set -u
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "chromium not found: the report.html browser test will be skipped (install it with: apt-get install chromium)" >&2
  exit 0
fi
echo "installing chromium from Debian's packages, for the report test..."
export DEBIAN_FRONTEND=noninteractive
{ apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
  || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; } \
  || echo "apt-get could not install chromium; the report.html browser test will be skipped" >&2
exit 0
