#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the test suite.
#
#   scripts/pg-throwaway.sh start       # prints, for eval:
#                                       #   export LEDGER_TEST_POSTGRES_URL=postgresql://...
#                                       #   export LEDGER_TEST_POSTGRES_REPLICA_URL=postgresql://...
#                                       #   export PG_THROWAWAY_ID=ledger-pg.XXXXXX
#   scripts/pg-throwaway.sh url [ID]    # the URL of server ID (default: the newest)
#   scripts/pg-throwaway.sh stop [ID]   # stops server ID (default: every server
#                                       # started from this checkout); idempotent
#   scripts/pg-throwaway.sh replica-stop|replica-start ID
#                                       # stops / starts server ID's replica (tests
#                                       # of a replica that goes away)
#
# Beside the primary, `start` makes a streaming replica of it (`pg_basebackup -R`,
# hot standby, its own port and data directory): every database made on the
# primary appears there too. A replica that cannot be made is a warning and no
# LEDGER_TEST_POSTGRES_REPLICA_URL line (with PG_THROWAWAY_REPLICA=required, as
# `make test` asks when CI=true, an error).
#
# Every `start` makes a new server in a fresh `mktemp -d` directory, listening on
# 127.0.0.1 only, on a free port, with durability off (it is thrown away). So
# runs in parallel (two `make test`s in one checkout) never share or stop each
# other's server. PostgreSQL refuses to run as root, so as root the server runs
# as the `postgres` user. One state file per server, .pg-throwaway/ID.state in
# the checkout, lets `stop` find it. With PG_THROWAWAY_OWNER=PID (the Makefile
# passes its shell's PID) a later `start` also stops servers whose owner died
# without stopping them (killed with SIGKILL, say).
# Only the `export` lines go to stdout; messages go to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${PG_THROWAWAY_STATE_DIR:-$ROOT/.pg-throwaway}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_USER="ledger"
PG_PASSWORD="ledger"
PG_DB="ledger"

log() { echo "pg-throwaway: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Runs a server binary as the user that owns the cluster.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Loads PG_TMP, PG_PORT, PG_URL, PG_OWNER, PG_REPLICA_PORT from a state file.
load_state() {
    PG_TMP="" PG_PORT="" PG_URL="" PG_OWNER="" PG_REPLICA_PORT=""
    [ -f "$1" ] || return 1
    # shellcheck disable=SC1090
    . "$1"
    [ -n "$PG_TMP" ] && [ -n "$PG_PORT" ]
}

state_file() { echo "$STATE_DIR/$1.state"; }

is_running() {  # after load_state
    [ -d "$PG_TMP/data" ] && [ -x "$PG_BIN/pg_ctl" ] \
        && as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" status >/dev/null 2>&1
}

stop_one() {  # state file
    local file="$1"
    if load_state "$file"; then
        if [ -d "$PG_TMP/replica" ] && [ -x "$PG_BIN/pg_ctl" ]; then
            as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/replica" -m immediate -w -t 30 stop \
                >/dev/null 2>&1 || true
        fi
        if [ -d "$PG_TMP/data" ] && [ -x "$PG_BIN/pg_ctl" ]; then
            as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w -t 30 stop \
                >/dev/null 2>&1 || true
        fi
        # Never delete anything but a temp dir this script made.
        case "$PG_TMP" in
            */ledger-pg.*) rm -rf -- "$PG_TMP" ;;
            *) log "not deleting unexpected directory $PG_TMP" ;;
        esac
        log "stopped $(basename "$file" .state) (port $PG_PORT)"
    fi
    rm -f "$file"
}

cmd_stop() {
    local id="${1:-}" file
    if [ -n "$id" ]; then
        stop_one "$(state_file "$id")"
    else
        shopt -s nullglob
        local files=("$STATE_DIR"/*.state)
        [ ${#files[@]} -gt 0 ] || log "no server to stop"
        for file in "${files[@]}"; do stop_one "$file"; done
    fi
    rmdir "$STATE_DIR" 2>/dev/null || true
}

alive() {  # a process that exists and is not a zombie
    kill -0 "$1" 2>/dev/null || return 1
    case "$(ps -o stat= -p "$1" 2>/dev/null)" in
        Z*) return 1 ;;
    esac
}

# Stops servers whose owning process is gone (a `make test` killed outright).
reap_orphans() {
    shopt -s nullglob
    local file
    for file in "$STATE_DIR"/*.state; do
        if load_state "$file" && [ -n "$PG_OWNER" ] && ! alive "$PG_OWNER"; then
            log "stopping an orphaned server (its owner $PG_OWNER is gone)"
            stop_one "$file"
        fi
    done
}

cmd_start() {
    local bin
    for bin in initdb pg_ctl postgres createdb; do
        [ -x "$PG_BIN/$bin" ] || die "PostgreSQL 15 server binaries not found: $PG_BIN/$bin is missing (install Debian's postgresql-15, or set PG_BIN)."
    done
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        die "running as root but there is no 'postgres' user to run the server as."
    fi
    command -v python3 >/dev/null 2>&1 || die "python3 is needed to pick a free port."
    reap_orphans

    local tmp id
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/ledger-pg.XXXXXX")"
    id="$(basename "$tmp")"
    mkdir "$tmp/data" "$tmp/sock"
    printf '%s\n' "$PG_PASSWORD" >"$tmp/pwfile"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres: "$tmp"
    fi
    chmod 700 "$tmp"

    if ! as_owner "$PG_BIN/initdb" -D "$tmp/data" -U "$PG_USER" --pwfile="$tmp/pwfile" \
            -A trust -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions \
            >"$tmp/initdb.log" 2>&1; then
        cat "$tmp/initdb.log" >&2
        rm -rf -- "$tmp"
        die "initdb failed."
    fi

    local port="" attempt
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        if as_owner "$PG_BIN/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
                -o "$(server_options "$port" "$tmp")" \
                start >/dev/null 2>&1; then
            break
        fi
        log "start on port $port failed (attempt $attempt); retrying"
        port=""
    done
    if [ -z "$port" ]; then
        tail -n 30 "$tmp/server.log" >&2 2>/dev/null || true
        rm -rf -- "$tmp"
        die "the server did not start."
    fi

    local url="postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$port/$PG_DB"
    mkdir -p "$STATE_DIR"
    {
        printf 'PG_TMP=%q\n' "$tmp"
        printf 'PG_PORT=%q\n' "$port"
        printf 'PG_URL=%q\n' "$url"
        printf 'PG_OWNER=%q\n' "${PG_THROWAWAY_OWNER:-}"
    } >"$(state_file "$id")"

    if ! PGPASSWORD="$PG_PASSWORD" "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U "$PG_USER" "$PG_DB" >&2; then
        stop_one "$(state_file "$id")"
        die "could not create database $PG_DB."
    fi
    log "$id running on 127.0.0.1:$port (data in $tmp/data)"
    local replica_port=""
    if replica_port="$(start_replica "$tmp" "$port")"; then
        printf 'PG_REPLICA_PORT=%q\n' "$replica_port" >>"$(state_file "$id")"
        log "$id's streaming replica running on 127.0.0.1:$replica_port (data in $tmp/replica)"
    elif [ "${PG_THROWAWAY_REPLICA:-}" = required ]; then
        stop_one "$(state_file "$id")"
        die "the streaming replica could not be made (PG_THROWAWAY_REPLICA=required)."
    else
        replica_port=""
        log "WARNING: no streaming replica (see above); the replica tests will be skipped."
    fi
    echo "export LEDGER_TEST_POSTGRES_URL=$url"
    if [ -n "$replica_port" ]; then
        echo "export LEDGER_TEST_POSTGRES_REPLICA_URL=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$replica_port/$PG_DB"
    fi
    echo "export PG_THROWAWAY_ID=$id"
}

# Server options of the throwaway primary and replica: durability off (they are
# thrown away), reachable on 127.0.0.1 and a socket in the temp dir only.
server_options() {  # port tmp
    echo "-p $1 -c listen_addresses=127.0.0.1 -k $2/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
}

start_replica() {  # tmp primary-port -> prints the replica's port
    local tmp="$1" primary="$2" port attempt
    [ -x "$PG_BIN/pg_basebackup" ] || { log "no $PG_BIN/pg_basebackup"; return 1; }
    # initdb's pg_hba.conf already trusts replication connections from 127.0.0.1,
    # and PostgreSQL 15 defaults to wal_level=replica with 10 WAL senders. A fast
    # checkpoint: the default (spread) can keep the backup waiting for minutes.
    if ! as_owner "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$primary" -U "$PG_USER" \
            -D "$tmp/replica" -R -X stream --no-sync --checkpoint=fast \
            >"$tmp/basebackup.log" 2>&1; then
        cat "$tmp/basebackup.log" >&2
        return 1
    fi
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        if as_owner "$PG_BIN/pg_ctl" -D "$tmp/replica" -l "$tmp/replica.log" -w -t 60 \
                -o "$(server_options "$port" "$tmp") -c hot_standby=on" start >/dev/null 2>&1; then
            echo "$port"
            return 0
        fi
        log "replica start on port $port failed (attempt $attempt); retrying"
    done
    tail -n 30 "$tmp/replica.log" >&2 2>/dev/null || true
    return 1
}

cmd_replica() {  # stop|start ID
    local action="$1" id="${2:-}" file
    [ -n "$id" ] || die "usage: $0 replica-$action ID"
    file="$(state_file "$id")"
    load_state "$file" && [ -n "$PG_REPLICA_PORT" ] || die "server $id has no replica."
    if [ "$action" = stop ]; then
        as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/replica" -m fast -w -t 30 stop >/dev/null
    else
        as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/replica" -l "$PG_TMP/replica.log" -w -t 60 \
            -o "$(server_options "$PG_REPLICA_PORT" "$PG_TMP") -c hot_standby=on" start >/dev/null
    fi
}

cmd_url() {
    local id="${1:-}" file
    if [ -z "$id" ]; then
        # the newest server started from this checkout
        file="$(ls -t "$STATE_DIR"/*.state 2>/dev/null | head -n 1 || true)"
    else
        file="$(state_file "$id")"
    fi
    [ -n "$file" ] && load_state "$file" && is_running || die "not running; use '$0 start'."
    echo "$PG_URL"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop "${2:-}" ;;
    url) cmd_url "${2:-}" ;;
    replica-stop) cmd_replica stop "${2:-}" ;;
    replica-start) cmd_replica start "${2:-}" ;;
    *) echo "usage: $0 start | stop [ID] | url [ID] | replica-stop ID | replica-start ID" >&2
       exit 2 ;;
esac
