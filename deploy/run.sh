#!/bin/sh
# Builds rungd, prepares ./rung.db with demo keys and demo items, and runs the
# daemon on 127.0.0.1:8080 in the foreground. Safe to run again: existing
# keys and items are kept.
set -eu
cd "$(dirname "$0")/.."

./deploy/deps.sh build
if [ ! -f build/build.ninja ]; then
    meson setup build --buildtype=release >/dev/null
fi
ninja -C build >/dev/null

RUNGD=./build/server/rungd
DB=./rung.db
KEYS=./rung-demo-keys.txt
LISTEN=${RUNG_LISTEN:-127.0.0.1:8080}

# Fails here (set -e) if the database cannot be opened, before any key is
# made or the key file touched. keys list refuses a missing database; the
# first keys create makes it.
existing=
if [ -e "$DB" ]; then
    existing=$("$RUNGD" keys list --db "$DB")
fi
if ! printf '%s\n' "$existing" | grep -q '^demo-admin '; then
    umask 077
    tmp="$KEYS.tmp.$$"
    : > "$tmp"
    for role in admin pipeline rater; do
        out=$("$RUNGD" keys create --db "$DB" --role "$role" --name "demo-$role")
        echo "demo-$role ($role): $(printf '%s\n' "$out" | tail -n 1)" >> "$tmp"
    done
    mv "$tmp" "$KEYS"
    echo "Demo keys (shown once; also in $KEYS, readable only by you):"
    cat "$KEYS"
else
    echo "Demo keys exist already; their tokens are in $KEYS."
fi
"$RUNGD" demo --db "$DB"

echo "Open http://$LISTEN/ and sign in with the demo-rater token. Ctrl-C stops."
exec "$RUNGD" serve --db "$DB" --listen "$LISTEN"
