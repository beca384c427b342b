#!/usr/bin/env bash
# Dangan's lending benchmark: starts the release binary on each store, prepares approved requests
# through the API (bench/lending_setup.py), then measures with wrk:
#   - POST /checkouts (barcode scans), 20 clients: p50/p99;
#   - the same scans offered at a fixed BENCH_RATE per second (400; open loop, bench/paced.lua):
#     p50/p99 measured from when each scan was due, the latency a desk sees at that load;
#   - GET /loans/{id} with a borrower's token, 64 connections, beside bench/ceiling (a bare
#     actix-web + diesel handler reading the same row from the same database) in the same run;
#   - check-out → return cycles, 16 clients in pairs that race for the same archives, then counts
#     in the database any two loans of one archive whose times overlap (double check-outs).
# Prints each figure beside its target from DESIGN.md.
#
#   bench/lending.sh
#   BENCH_STORES=postgres BENCH_DURATION=20s bench/lending.sh
set -euo pipefail
cd "$(dirname "$0")/.."

STORES=${BENCH_STORES:-"sqlite postgres"}
PG_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
DURATION=${BENCH_DURATION:-10s}
PORT=${BENCH_PORT:-18090}
CEILING_PORT=$((PORT + 2))
OUT=bench/out
PASSWORD=bench-admin-2026
seconds=${DURATION%s}
# Enough approved items that no client runs out: up to 1,200 cycles/s and 2,000 scans/s.
PAIRS=8
CYCLE_ITEMS=$((150 * seconds))
CHECKOUT_CLIENTS=20
CHECKOUT_ITEMS=$((100 * seconds))
RATE=${BENCH_RATE:-400}
PACED_ITEMS=$((RATE * seconds / CHECKOUT_CLIENTS + 20))

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p dangan-api -p dangan-bench-ceiling
source bench/lib.sh
ceiling_pid=""
stop_all() {
    stop_server
    [ -z "$ceiling_pid" ] || { kill "$ceiling_pid" 2>/dev/null || true; wait "$ceiling_pid" 2>/dev/null || true; }
    ceiling_pid=""
}
trap stop_all EXIT

mkdir -p "$OUT"
report=$OUT/lending-report.txt
: > "$report"
for store in $STORES; do
    url=$(fresh_store "$store" dangan_lending)
    start_server "$url" "lending-$store"
    work=$OUT/lending-$store
    rm -rf "$work"
    python3 bench/lending_setup.py "http://127.0.0.1:$PORT" "$PASSWORD" "$work" \
        "$PAIRS" "$CYCLE_ITEMS" "$CHECKOUT_CLIENTS" "$((CHECKOUT_ITEMS + PACED_ITEMS))"
    # Each client's last items are kept for the fixed-rate run.
    mkdir -p "$work/paced"
    for n in $(seq 0 $((CHECKOUT_CLIENTS - 1))); do
        tail -n "$PACED_ITEMS" "$work/checkout-$n.txt" > "$work/paced/checkout-$n.txt"
        head -n "$CHECKOUT_ITEMS" "$work/checkout-$n.txt" > "$work/items" && mv "$work/items" "$work/checkout-$n.txt"
    done
    { read -r reader; read -r keeper; } < "$work/tokens.txt"
    [ "$store" != postgres ] || psql "$url" -qc "VACUUM ANALYZE" >/dev/null

    read -r created refused_scans failed_scans scan_rps scan_p50 scan_p99 < <(
        wrk -t"$CHECKOUT_CLIENTS" -c"$CHECKOUT_CLIENTS" -d"$DURATION" -s bench/circulation.lua \
            "http://127.0.0.1:$PORT" -- scan "$work" "$keeper" \
            | result_fields checkouts refused failed scans_per_s p50 p99)

    read -r paced_created paced_other paced_rps paced_p50 paced_p99 paced_max < <(
        PACED_CONNECTIONS=$CHECKOUT_CLIENTS wrk -t"$CHECKOUT_CLIENTS" -c"$CHECKOUT_CLIENTS" -d"$DURATION" \
            -s bench/paced.lua "http://127.0.0.1:$PORT" -- "$work/paced" "$keeper" "$RATE" \
            | result_fields created other scans_per_s p50 p99 max)

    # The borrower polls their own loans, as the mobile app does.
    run_sql "$store" "$url" "SELECT id FROM loans ORDER BY id LIMIT 1000" \
        | sed 's|^|/api/v1/loans/|' > "$work/loan-paths.txt"
    CEILING_DATABASE_URL="$url" CEILING_BIND="127.0.0.1:$CEILING_PORT" \
        target/release/ceiling > "$OUT/ceiling-$store.log" 2>&1 &
    ceiling_pid=$!
    wait_for "http://127.0.0.1:$CEILING_PORT/api/v1/loans/$(head -1 "$work/loan-paths.txt" | sed 's|.*/||')"
    read -r _ _ ceiling_p99 ceiling_rps ceiling_errors < <(measure_paths "$CEILING_PORT" 64 "$reader" "$work/loan-paths.txt")
    read -r _ _ get_p99 get_rps get_errors < <(measure_paths "$PORT" 64 "$reader" "$work/loan-paths.txt")
    kill "$ceiling_pid"; wait "$ceiling_pid" 2>/dev/null || true; ceiling_pid=""

    loans_before=$(run_sql "$store" "$url" "SELECT count(*) FROM loans")
    read -r checkouts refused returns failed cycles cycle_p50 cycle_p99 < <(
        wrk -t16 -c16 -d"$DURATION" -s bench/circulation.lua "http://127.0.0.1:$PORT" -- cycle "$work" "$keeper" \
            | result_fields checkouts refused returns failed cycles_per_s p50 p99)
    loans_after=$(run_sql "$store" "$url" "SELECT count(*) FROM loans")
    forever=$([ "$store" = postgres ] && echo "'infinity'::timestamp" || echo "'9999-12-31'")
    doubles=$(run_sql "$store" "$url" "SELECT count(*) FROM loans a JOIN loans b
        ON a.archive_id = b.archive_id AND a.id < b.id
        WHERE a.checked_out_at < COALESCE(b.returned_at, $forever)
          AND b.checked_out_at < COALESCE(a.returned_at, $forever)")
    stop_server

    {
        echo "== $store: lending (wrk, $DURATION per workload) =="
        printf "%-44s %12s   %s\n" workload figure target
        printf "%-44s %9s ms   %s\n" "POST /checkouts, 20 clients: p50" "$scan_p50" ""
        printf "%-44s %9s ms   %s\n" "POST /checkouts, 20 clients: p99" "$scan_p99" "< 25 ms on PostgreSQL"
        printf "%-44s %9s /s   (%s loans made, %s other answers)\n" "POST /checkouts, 20 clients: rate" "$scan_rps" "$created" "$((refused_scans + failed_scans))"
        printf "%-44s %12s   %s\n" "POST /checkouts at $RATE/s offered: p50 / p99" "$paced_p50 / $paced_p99 ms" "p99 < 25 ms on PostgreSQL"
        printf "%-44s %9s /s   (%s loans made, %s other answers, slowest %s ms)\n" "  served rate" "$paced_rps" "$paced_created" "$paced_other" "$paced_max"
        printf "%-44s %9s /s   (p99 %s ms, %s errors)\n" "ceiling: bare GET /loans/{id}, 64 conn." "$ceiling_rps" "$ceiling_p99" "$ceiling_errors"
        printf "%-44s %9s /s   (p99 %s ms, %s errors)\n" "GET /loans/{id}, 64 connections" "$get_rps" "$get_p99" "$get_errors"
        printf "%-44s %10s %%   %s\n" "GET /loans/{id} share of the ceiling" \
            "$(python3 -c "print(f'{100 * $get_rps / $ceiling_rps:.0f}')")" ">= 80 % on both"
        printf "%-44s %9s /s   %s\n" "check-out → return cycles, 16 clients" "$cycles" ">= 600 /s on PostgreSQL"
        printf "%-44s %12s   (%s check-outs, %s returns, %s lost races, %s other)\n" "  cycle answers" "" "$checkouts" "$returns" "$refused" "$failed"
        printf "%-44s %12s   (%s new loans in the database)\n" "  cycle latency p50 / p99 ms" "$cycle_p50 / $cycle_p99" "$((loans_after - loans_before))"
        printf "%-44s %12s   %s\n" "double check-outs (overlapping loans)" "$doubles" "0"
        echo
    } | tee -a "$report"
    drop_store "$store" dangan_lending
done
echo "report: $report"
