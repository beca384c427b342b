# Shared by the benchmark scripts (sourced): the release binary on one store, a fresh database
# per store, an admin token. Expects OUT, PORT, PASSWORD and PG_URL to be set.

server_pid=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}

wait_for() {
    for _ in $(seq 1 100); do
        curl -sf "$1" >/dev/null && return 0
        sleep 0.1
    done
    echo "nothing answers at $1; see $OUT/*.log" >&2
    exit 1
}

# start_server URL NAME
start_server() {
    DANGAN_DATABASE_URL="$1" DANGAN_BIND="127.0.0.1:$PORT" DANGAN_ADMIN_PASSWORD="$PASSWORD" \
        RUST_LOG=warn target/release/dangan serve > "$OUT/server-$2.log" 2>&1 &
    server_pid=$!
    wait_for "http://127.0.0.1:$PORT/healthz"
}

token() {
    curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# fresh_store STORE DBNAME: empties the store and prints its URL.
fresh_store() {
    case $1 in
        sqlite)
            rm -f "$OUT/$2".db*
            echo "sqlite://$OUT/$2.db"
            ;;
        postgres)
            psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $2 WITH (FORCE)" >/dev/null
            psql "$PG_URL" -qc "CREATE DATABASE $2" >/dev/null
            echo "${PG_URL%/*}/$2"
            ;;
        *) echo "unknown store $1" >&2; exit 1 ;;
    esac
}

# run_sql STORE URL SQL: prints the single value the query answers.
run_sql() {
    case $1 in
        sqlite) sqlite3 "${2#sqlite://}" "$3" ;;
        postgres) psql "$2" -qtAc "$3" ;;
    esac
}

# drop_store STORE DBNAME (BENCH_KEEP=1 keeps it for a closer look, e.g. EXPLAIN ANALYZE).
drop_store() {
    [ "$1" = postgres ] && [ -z "${BENCH_KEEP:-}" ] || return 0
    psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $2 WITH (FORCE)" >/dev/null
}

# measure_paths PORT CONNECTIONS TOKEN FILE: GETs the paths in FILE round-robin for DURATION and
# prints "p50 p95 p99 rps errors" (milliseconds).
measure_paths() {
    local absolute
    absolute=$(mktemp)
    sed "s|^|http://127.0.0.1:$1|" "$4" > "$absolute"
    wrk -t2 -c"$2" -d"$DURATION" --latency -H "Authorization: Bearer $3" \
        -s bench/search.lua "http://127.0.0.1:$1" -- "$absolute" \
        | result_fields p50 p95 p99 rps errors
    rm -f "$absolute"
}

# result_fields FIELD… : reads wrk's RESULT line on stdin and prints the named values.
result_fields() {
    awk -v want="$*" '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                                 n = split(want, w, " "); line = ""
                                 for (i = 1; i <= n; i++) line = line (i > 1 ? " " : "") v[w[i]]
                                 print line }'
}
