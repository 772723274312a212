#!/usr/bin/env bash
# Installs Debian's chromium when it is missing, for the report's headless-browser test
# (tests/apps/test_report_browser.py). Safe to run again: it does nothing when chromium is there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version
