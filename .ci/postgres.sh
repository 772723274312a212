# Source this file: it starts a throwaway PostgreSQL server for the review-queue tests.
#
# Installs PostgreSQL from Debian's packages if it is missing, initialises a data folder
# under a fresh temp folder, starts the server on 127.0.0.1 on a free port (as the
# 'postgres' user when run as root: the server refuses to run as root), creates a
# database and exports GUARDRAILS_TEST_POSTGRES_URL. An EXIT trap stops the server and
# deletes its folder; servers left behind by an earlier run that was killed are stopped
# first, so running the tests again never piles up servers.

guardrails_pg_as() {  # run a command as the server's owner
    if [ "$(id -u)" = 0 ]; then runuser -u "$GUARDRAILS_PG_USER" -- "$@"; else "$@"; fi
}

guardrails_pg_stop() {
    if [ -n "${GUARDRAILS_PG_DIR:-}" ] && [ -d "$GUARDRAILS_PG_DIR" ]; then
        guardrails_pg_as "$GUARDRAILS_PG_BIN/pg_ctl" -D "$GUARDRAILS_PG_DIR/data" -m fast \
            stop >/dev/null 2>&1 || true
        rm -rf "$GUARDRAILS_PG_DIR"
    fi
}

guardrails_pg_start() {
    local initdb port dir stale owner
    initdb="$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -1 || true)"
    if [ -z "$initdb" ]; then
        echo "postgres.sh: installing PostgreSQL from Debian's packages" >&2
        apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
        service postgresql stop >/dev/null 2>&1 || true  # the package's own cluster: not ours
        initdb="$(ls /usr/lib/postgresql/*/bin/initdb | tail -1)"
    fi
    GUARDRAILS_PG_BIN="$(dirname "$(readlink -f "$initdb")")"
    GUARDRAILS_PG_USER="$(id -un)"
    if [ "$(id -u)" = 0 ]; then
        GUARDRAILS_PG_USER=postgres
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    fi
    # Stop servers whose starting shell is gone (a run killed before its trap ran).
    for stale in /tmp/guardrails-pg.*; do
        [ -d "$stale" ] || continue
        owner="$(cat "$stale/owner" 2>/dev/null || echo 0)"
        if ! kill -0 "$owner" 2>/dev/null; then
            guardrails_pg_as "$GUARDRAILS_PG_BIN/pg_ctl" -D "$stale/data" -m immediate \
                stop >/dev/null 2>&1 || true
            rm -rf "$stale"
        fi
    done
    dir="$(mktemp -d /tmp/guardrails-pg.XXXXXX)"
    echo $$ >"$dir/owner"
    chmod 755 "$dir"
    chown "$GUARDRAILS_PG_USER" "$dir"
    GUARDRAILS_PG_DIR="$dir"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    guardrails_pg_as "$GUARDRAILS_PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust \
        -E UTF8 >"$dir/initdb.log" 2>&1
    guardrails_pg_as "$GUARDRAILS_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" \
        start >/dev/null
    guardrails_pg_as "$GUARDRAILS_PG_BIN/psql" -q -h 127.0.0.1 -p "$port" -U postgres \
        -d postgres -c "CREATE DATABASE guardrails_test" >/dev/null
    export GUARDRAILS_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/guardrails_test"
    echo "postgres.sh: PostgreSQL on 127.0.0.1:$port (GUARDRAILS_TEST_POSTGRES_URL exported)" >&2
}

guardrails_pg_start
trap guardrails_pg_stop EXIT
