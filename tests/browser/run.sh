#!/usr/bin/env bash
# Browser tests of the annotator page and the admin page: a real rungd, a real Chromium.
#   tests/browser/run.sh            (RUNGD=path/to/rungd, RUNG_BUILD_DIR=dir for the screenshot)
# Installs what it needs (Debian's chromium and sqlite3, playwright-core from
# npm) when it is missing; never downloads a browser through playwright.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Paths given by the caller are relative to where it stands, not to here.
if [ -n "${RUNGD:-}" ]; then RUNGD="$(realpath -m "$RUNGD")"; export RUNGD; fi
if [ -n "${RUNG_BUILD_DIR:-}" ]; then RUNG_BUILD_DIR="$(realpath -m "$RUNG_BUILD_DIR")"; export RUNG_BUILD_DIR; fi
cd "$here"

apt_updated=0
need_pkg() { # need_pkg FILE PACKAGE
    if [ ! -x "$1" ]; then
        if [ "$apt_updated" = 0 ]; then
            apt-get update -qq
            apt_updated=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
}
need_pkg /usr/bin/chromium chromium
need_pkg /usr/bin/sqlite3 sqlite3
command -v node >/dev/null || need_pkg /usr/bin/node nodejs
command -v npm >/dev/null || need_pkg /usr/bin/npm npm

if [ ! -d node_modules/playwright-core ]; then
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error
    else
        npm install --no-audit --no-fund --loglevel=error
    fi
fi

# The admin page's charts need Debian's libjs-chart.js (served at /vendor/chart.js).
if [ ! -f /usr/share/javascript/chart.js/chart.min.js ]; then
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjs-chart.js >/dev/null
fi

status=0
node browser.test.mjs "$@" || status=1
node admin.test.mjs || status=1
node checks.test.mjs || status=1
exit "$status"
