#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver when missing, for the report's headless
# screenshot (tests/apps/test_report_browser.py) and the review console's selenium tests
# (tests/apps/test_console_browser.py). Safe to run again: it does nothing when both are there.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
/usr/bin/chromium --version
/usr/bin/chromedriver --version
