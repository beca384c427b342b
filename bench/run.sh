#!/usr/bin/env bash
# Dangan's benchmark: starts the release binary on SQLite and on PostgreSQL, imports a generated
# catalogue through POST /archives/import, then measures catalogue searches with wrk. Prints each
# figure beside its target from DESIGN.md.
#
#   bench/run.sh                       # 1,000,000 archives, both stores
#   BENCH_ROWS=100000 BENCH_STORES=sqlite bench/run.sh
#
# Needs: python3, wrk, curl, sqlite3, and for PostgreSQL a server reachable at BENCH_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/test; the benchmark creates and drops its own database).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${BENCH_ROWS:-1000000}
STORES=${BENCH_STORES:-"sqlite postgres"}
PG_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
DURATION=${BENCH_DURATION:-10s}
# Moderate load below saturation: on 2 cores wrk itself takes a share of the CPU.
CONNECTIONS=${BENCH_CONNECTIONS:-4}
PORT=${BENCH_PORT:-18090}
OUT=bench/out
DATA=$OUT/data-$ROWS
PASSWORD=bench-admin-2026

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p dangan-api
if [ ! -f "$DATA/.complete" ]; then
    rm -rf "$DATA"
    python3 bench/gen_archives.py "$DATA" "$ROWS" 100000
    touch "$DATA/.complete"
fi

source bench/lib.sh
trap stop_server EXIT

mkdir -p "$OUT"
report=$OUT/report.txt
: > "$report"
for store in $STORES; do
    url=$(fresh_store "$store" dangan_bench)
    start_server "$url" "$store"
    tok=$(token)
    first_import=""
    started=$(date +%s.%N)
    for file in "$DATA"/archives-*.csv; do
        seconds=$(curl -s -o "$OUT/import-$store.json" -w '%{time_total}' -X POST \
            "http://127.0.0.1:$PORT/api/v1/archives/import" -H "Authorization: Bearer $tok" \
            -H 'Content-Type: text/csv' --data-binary "@$file")
        grep -q '"created":100000\|"created":[0-9]' "$OUT/import-$store.json" || { cat "$OUT/import-$store.json"; exit 1; }
        [ -n "$first_import" ] || first_import=$seconds
        last_import=$seconds
        tok=$(token)
    done
    total_import=$(python3 -c "print($(date +%s.%N) - $started)")
    # Searches are measured on a settled catalogue: PostgreSQL vacuumed and analyzed, SQLite's
    # write-ahead log copied back into the database (ten back-to-back imports leave ≈ 1.5 GB in
    # it, which the server's checkpoint thread would otherwise be copying during the searches).
    case $store in
        postgres) psql "${PG_URL%/*}/dangan_bench" -qc "VACUUM ANALYZE archives" >/dev/null ;;
        sqlite) sqlite3 -cmd ".timeout 60000" "${url#sqlite://}" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null ;;
    esac
    tok=$(token)
    {
        echo "== $store: $ROWS archives (wrk: $CONNECTIONS connections, $DURATION per workload; ms) =="
        printf "%-34s %8s %8s %8s %9s %6s   %s\n" workload p50 p95 p99 req/s errors target
        for workload in keyword keyword_filters filters chinese2 sorted; do
            read -r p50 p95 p99 rps errors < <(measure_paths "$PORT" "$CONNECTIONS" "$tok" "bench/queries/$workload.txt")
            target="p99 < 50 ms"
            [ "$workload" != sorted ] || target="(no target: sort by code/title)"
            printf "%-34s %8s %8s %8s %9s %6s   %s\n" "search: $workload" "$p50" "$p95" "$p99" "$rps" "$errors" "$target"
        done
        printf "%-34s %8.2f s   %s\n" "import: first 100,000 rows (empty)" "$first_import" "< 5 s"
        printf "%-34s %8.2f s   %s\n" "import: last 100,000 rows" "$last_import" "< 5 s"
        printf "%-34s %8.1f s\n" "import: all $ROWS rows" "$total_import"
        echo
    } | tee -a "$report"
    stop_server
    drop_store "$store" dangan_bench
done
echo "report: $report"
