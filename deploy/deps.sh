#!/bin/sh
# Installs the Debian packages rung needs, only those missing.
#   deploy/deps.sh build   what building and running rungd needs
#   deploy/deps.sh test    that, plus what the test suites need
set -eu

BUILD_PKGS="gcc pkg-config meson ninja-build libmicrohttpd-dev libjansson-dev libsqlite3-dev uuid-dev libsodium-dev libcmocka-dev libcurl4-openssl-dev libjs-chart.js libpq-dev"
TEST_PKGS="python3 sqlite3 chromium nodejs npm clang-format git universal-ctags prometheus clang libclang-rt-dev openssl postgresql"

want="$BUILD_PKGS"
if [ "${1:-build}" = "test" ]; then
    want="$want $TEST_PKGS"
fi

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        # nodejs/npm may come from elsewhere on a developer machine: a working
        # command is as good as the package.
        case "$p" in
            nodejs) command -v node >/dev/null 2>&1 && continue ;;
            npm) command -v npm >/dev/null 2>&1 && continue ;;
        esac
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
