#!/bin/sh
# A throwaway PostgreSQL cluster for the API tests, in a folder of its own.
#   tests/pg/cluster.sh start DIR   initdb in DIR/data (trust auth), start it
#                                   with its Unix socket in DIR and no TCP,
#                                   print the base URI on stdout:
#                                   postgresql:///postgres?host=DIR&user=postgres
#   tests/pg/cluster.sh stop DIR    stop it (fast) and remove DIR
# The server runs as the user postgres when started by root (as runuser
# sees it), as the current user otherwise; the superuser is named postgres
# either way. The system's PostgreSQL service is never touched. The
# binaries are those of the newest /usr/lib/postgresql/N/bin, or of
# $RUNG_PG_BIN when set.
set -eu

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2

bindir=${RUNG_PG_BIN:-}
if [ -z "$bindir" ]; then
    newest=""
    for d in /usr/lib/postgresql/*/bin; do
        v=${d#/usr/lib/postgresql/}
        v=${v%/bin}
        case "$v" in "" | *[!0-9]*) continue ;; esac
        if [ -z "$newest" ] || [ "$v" -gt "$newest" ]; then newest=$v; fi
    done
    if [ -z "$newest" ]; then
        echo "cluster.sh: no /usr/lib/postgresql/N/bin (install the postgresql package)" >&2
        exit 1
    fi
    bindir=/usr/lib/postgresql/$newest/bin
fi

# as_owner CMD...: runs CMD as the cluster's owner.
as_owner() {
    if [ "$(id -u)" = "0" ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "$cmd" in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    # The path goes into a URI and a config line as it is.
    case "$dir" in
    *[!A-Za-z0-9/._-]*)
        echo "cluster.sh: use a folder whose path has only letters, digits and /._-: $dir" >&2
        exit 1
        ;;
    esac
    if [ -e "$dir/data" ]; then
        echo "cluster.sh: $dir/data exists already" >&2
        exit 1
    fi
    if [ "$(id -u)" = "0" ]; then
        chown postgres: "$dir"
        chmod 0700 "$dir"
        if ! runuser -u postgres -- test -w "$dir"; then
            echo "cluster.sh: the user postgres cannot reach $dir (a parent is closed)" >&2
            exit 1
        fi
    fi
    : >"$dir/.rung-test-cluster"
    cd "$dir"
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
        >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    as_owner sh -c "cat >>'$dir/data/postgresql.conf'" <<EOF
# tests/pg/cluster.sh: a Unix socket in the cluster's folder, no TCP
listen_addresses = ''
unix_socket_directories = '$dir'
max_connections = 200
# A throwaway cluster that lives for one test run: nothing in it has to
# survive a crash of the machine, and no test stops or crashes the server
# itself (they cut sessions, kill rungd), so what a commit wrote is in the
# OS's page cache either way. Without the fsyncs, the checkpoint that every
# DROP DATABASE forces costs milliseconds instead of a second.
fsync = off
full_page_writes = off
EOF
    if ! as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        >/dev/null; then
        cat "$dir/server.log" >&2
        exit 1
    fi
    echo "postgresql:///postgres?host=$dir&user=postgres"
    ;;
stop)
    if [ ! -d "$dir" ]; then
        exit 0
    fi
    dir=$(cd "$dir" && pwd -P)
    if [ ! -e "$dir/.rung-test-cluster" ]; then
        echo "cluster.sh: $dir is not a folder cluster.sh started; leaving it" >&2
        exit 1
    fi
    cd /
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    fi
    rm -rf "$dir"
    ;;
*)
    usage
    ;;
esac
