#!/usr/bin/env bash
# Dangan's report benchmark: a generated history of 1,000,000 loans (bench/history/*.sql, written
# straight into the store after `dangan migrate`), then each report over HTTP, five times, with
# the fastest and the median time.
#
#   bench/reports.sh
#   BENCH_LOANS=100000 BENCH_STORES=sqlite bench/reports.sh
set -euo pipefail
cd "$(dirname "$0")/.."

STORES=${BENCH_STORES:-"sqlite postgres"}
PG_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
LOANS=${BENCH_LOANS:-1000000}
PORT=${BENCH_PORT:-18090}
OUT=bench/out
PASSWORD=bench-admin-2026
MONTH="from=2025-06-01T00:00:00Z&to=2025-07-01T00:00:00Z"
REPORTS=(
    "summary"
    "summary?$MONTH"
    "loans?group_by=month"
    "loans?group_by=department"
    "loans?group_by=category"
    "loans?group_by=classification&$MONTH"
    "overdue?limit=100"
    "compliance?$MONTH&limit=100"
)

command -v sqlite3 >/dev/null || { echo "sqlite3 is required (apt-get install sqlite3)" >&2; exit 1; }
cargo build --release -q -p dangan-api
source bench/lib.sh
trap stop_server EXIT

mkdir -p "$OUT"
report=$OUT/reports-report.txt
: > "$report"
for store in $STORES; do
    url=$(fresh_store "$store" dangan_reports)
    DANGAN_DATABASE_URL="$url" DANGAN_ADMIN_PASSWORD="$PASSWORD" RUST_LOG=warn target/release/dangan migrate
    started=$(date +%s.%N)
    case $store in
        postgres) psql "$url" -q -v ON_ERROR_STOP=1 -v loans="$LOANS" -f bench/history/postgres.sql ;;
        sqlite) sed "s/LOANS/$LOANS/g" bench/history/sqlite.sql | sqlite3 -bail "${url#sqlite://}" ;;
    esac
    generated=$(python3 -c "print(f'{$(date +%s.%N) - $started:.0f}')")
    # The history went in behind the server's back: fill the report counters from it.
    rebuilt=$(DANGAN_DATABASE_URL="$url" DANGAN_ADMIN_PASSWORD="$PASSWORD" RUST_LOG=warn target/release/dangan rollups rebuild)
    start_server "$url" "reports-$store"
    tok=$(token)
    {
        echo "== $store: $LOANS loans (history generated in ${generated} s; $rebuilt); seconds per report =="
        printf "%-96s %8s %8s\n" report fastest median
        for path in "${REPORTS[@]}"; do
            times=()
            for _ in 1 2 3 4 5; do
                times+=("$(curl -s -o "$OUT/report-body.json" -w '%{time_total}' \
                    "http://127.0.0.1:$PORT/api/v1/reports/$path" -H "Authorization: Bearer $tok")")
                grep -q '"type"' "$OUT/report-body.json" && { cat "$OUT/report-body.json"; exit 1; }
            done
            read -r fastest median < <(printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { print t[1], t[3] }')
            printf "%-96s %8.3f %8.3f\n" "GET /reports/$path" "$fastest" "$median"
        done
        started=$(date +%s.%N)
        DANGAN_DATABASE_URL="$url" RUST_LOG=warn target/release/dangan rollups verify
        echo "(rollups verify: every report from the counters equals the one from the loans; $(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')") s)"
        echo
    } | tee -a "$report"
    stop_server
    drop_store "$store" dangan_reports
done
echo "report: $report"
