#!/bin/sh
# fresh-clone.sh - runs the test command as a new user would: clones the
# current commit into a new, empty temporary folder (no sibling folders, so
# nothing like ../shared is reachable), runs ./deploy/test.sh there, and
# reports pass or fail and the time it took. Uncommitted changes are not part
# of the clone. The folder is removed afterwards unless KEEP=1.
#
# usage: deploy/fresh-clone.sh [COMMIT]     (default: HEAD)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMMIT=$(git -C "$ROOT" rev-parse "${1:-HEAD}")
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]; then
    echo "fresh-clone: note: uncommitted changes in $ROOT are not tested" >&2
fi

TMP=$(mktemp -d /tmp/rung-fresh.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$TMP"' EXIT INT TERM
git clone -q --no-local "$ROOT" "$TMP/rung"
git -C "$TMP/rung" checkout -q "$COMMIT"
echo "fresh-clone: $COMMIT in $TMP/rung (siblings: $(ls -A "$TMP" | tr '\n' ' '))"

start=$(date +%s)
status=0
(cd "$TMP/rung" && ./deploy/test.sh) >"$TMP/test.log" 2>&1 || status=$?
took=$(($(date +%s) - start))
tail -n 25 "$TMP/test.log"
if [ "$status" = 0 ]; then
    echo "fresh-clone: PASS in ${took} s ($((took / 60)) min $((took % 60)) s) at $COMMIT"
else
    echo "fresh-clone: FAIL (exit $status) after ${took} s at $COMMIT; log: $TMP/test.log" \
        "(kept: run with KEEP=1 to keep the folder)"
fi
exit "$status"
