#!/usr/bin/env bash
# Runs CMD with a throwaway PostgreSQL cluster: initdb in a temporary directory, started on a free 127.0.0.1 port
# with its Unix socket in that directory (never the system's /var/run/postgresql), one database `sequent_test`,
# trust authentication for the superuser `postgres`. The cluster is stopped and deleted however CMD ends.
#
#   scripts/with-postgres.sh swift test --filter SequentPostgresTests
#
# CMD sees:
#   SEQUENT_TEST_POSTGRES_URL         postgres://postgres@127.0.0.1:PORT/sequent_test
#   SEQUENT_TEST_POSTGRES_SOCKET_DIR  the socket directory (postgres://postgres@/sequent_test?host=DIR&port=PORT)
#   SEQUENT_TEST_POSTGRES_PORT, SEQUENT_TEST_POSTGRES_DATA (the data directory), SEQUENT_TEST_POSTGRES_BIN (the
#   directory of pg_ctl), SEQUENT_TEST_POSTGRES_RUNAS (the user the server runs as, empty when it is the caller):
#   what a test needs to restart the server with pg_ctl.
#
# initdb refuses to run as root, so as root (CI) the server runs as Debian's `postgres` user (runuser); as any
# other user it runs as that user. Exits with CMD's status.
set -euo pipefail

BIN=${POSTGRES_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
    echo "with-postgres: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)" >&2
    exit 1
fi
(($#)) || { echo "usage: $0 CMD..." >&2; exit 2; }

RUNAS=""
if [ "$(id -u)" -eq 0 ]; then RUNAS=postgres; fi
as_server_user() {
    if [ -n "$RUNAS" ]; then runuser -u "$RUNAS" -- "$@"; else "$@"; fi
}

DIR=$(mktemp -d -t sequent-pg.XXXXXX)
[ -z "$RUNAS" ] || chown "$RUNAS" "$DIR"
chmod 700 "$DIR"
DATA=$DIR/data

cleanup() {
    status=$?
    if [ -f "$DATA/postmaster.pid" ]; then
        as_server_user "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_server_user "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || {
    cat "$DIR/initdb.log" >&2; exit 1; }

# A free port: the kernel's choice for an ephemeral bind. Another process could take it before the server binds,
# so a failed start is retried with a new port.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
started=0
for _ in 1 2 3; do
    PORT=$(free_port)
    if as_server_user "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 30 \
        -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$DIR -c max_connections=200" \
        start >/dev/null 2>&1; then
        started=1
        break
    fi
done
if [ "$started" -ne 1 ]; then
    echo "with-postgres: the server did not start" >&2
    cat "$DIR/server.log" >&2 || true
    exit 1
fi
"$BIN/createdb" -h "$DIR" -p "$PORT" -U postgres sequent_test

export SEQUENT_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PORT/sequent_test"
export SEQUENT_TEST_POSTGRES_SOCKET_DIR="$DIR"
export SEQUENT_TEST_POSTGRES_PORT="$PORT"
export SEQUENT_TEST_POSTGRES_DATA="$DATA"
export SEQUENT_TEST_POSTGRES_BIN="$BIN"
export SEQUENT_TEST_POSTGRES_RUNAS="$RUNAS"
echo "with-postgres: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT, socket in $DIR"
set +e
"$@"
