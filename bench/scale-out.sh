#!/usr/bin/env bash
# Dangan scaled out: two instances on one PostgreSQL behind nginx (round robin, keep-alive), with
# both instances' schedulers and audit sealers running. Through the balancer: the scan and cycle
# workloads of bench/lending.sh; then the loans still open are moved to one day before their due
# date so both schedulers race to remind; then, in SQL, double check-outs (overlapping loans of one
# archive) and reminders sent more than once; and the audit chain verified.
#
#   bench/scale-out.sh
#   BENCH_DURATION=20s bench/scale-out.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
DURATION=${BENCH_DURATION:-10s}
PORT=${BENCH_PORT:-18090}
INSTANCES=($((PORT + 4)) $((PORT + 6)))
OUT=$PWD/bench/out
PASSWORD=bench-admin-2026
seconds=${DURATION%s}
PAIRS=8
CYCLE_ITEMS=$((150 * seconds))
CHECKOUT_CLIENTS=20
CHECKOUT_ITEMS=$((100 * seconds))

for tool in wrk nginx psql; do
    command -v $tool >/dev/null || { echo "$tool is required (apt-get install wrk nginx-light postgresql-client)" >&2; exit 1; }
done
cargo build --release -q -p dangan-api
source bench/lib.sh
pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    [ ! -f "$OUT/nginx-scale.pid" ] || nginx -p "$OUT" -c "$OUT/nginx-scale.conf" -s stop 2>/dev/null || true
}
trap stop_all EXIT

mkdir -p "$OUT"
url=$(fresh_store postgres dangan_scale)
DANGAN_DATABASE_URL="$url" DANGAN_ADMIN_PASSWORD="$PASSWORD" RUST_LOG=warn target/release/dangan migrate
for port in "${INSTANCES[@]}"; do
    DANGAN_DATABASE_URL="$url" DANGAN_BIND="127.0.0.1:$port" DANGAN_SCHEDULER_INTERVAL_SECS=1 \
        RUST_LOG=warn target/release/dangan serve > "$OUT/scale-$port.log" 2>&1 &
    pids+=($!)
    wait_for "http://127.0.0.1:$port/healthz"
done
cat > "$OUT/nginx-scale.conf" <<CONF
worker_processes 1;
pid $OUT/nginx-scale.pid;
error_log $OUT/nginx-scale-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_max_body_size 64m;
    client_body_temp_path $OUT/nginx-body;
    proxy_temp_path $OUT/nginx-proxy;
    upstream dangan {
        server 127.0.0.1:${INSTANCES[0]};
        server 127.0.0.1:${INSTANCES[1]};
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$PORT;
        location / {
            proxy_pass http://dangan;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
        }
    }
}
CONF
nginx -p "$OUT" -c "$OUT/nginx-scale.conf"
wait_for "http://127.0.0.1:$PORT/healthz"

work=$OUT/scale
rm -rf "$work"
python3 bench/lending_setup.py "http://127.0.0.1:$PORT" "$PASSWORD" "$work" \
    "$PAIRS" "$CYCLE_ITEMS" "$CHECKOUT_CLIENTS" "$CHECKOUT_ITEMS"
{ read -r _reader; read -r keeper; } < "$work/tokens.txt"
psql "$url" -qc "VACUUM ANALYZE" >/dev/null

read -r created refused_scans failed_scans scan_rps scan_p50 scan_p99 < <(
    wrk -t"$CHECKOUT_CLIENTS" -c"$CHECKOUT_CLIENTS" -d"$DURATION" -s bench/circulation.lua \
        "http://127.0.0.1:$PORT" -- scan "$work" "$keeper" \
        | result_fields checkouts refused failed scans_per_s p50 p99)
read -r checkouts refused returns failed cycles cycle_p50 cycle_p99 < <(
    wrk -t16 -c16 -d"$DURATION" -s bench/circulation.lua "http://127.0.0.1:$PORT" -- cycle "$work" "$keeper" \
        | result_fields checkouts refused returns failed cycles_per_s p50 p99)
doubles=$(psql "$url" -qtAc "SELECT count(*) FROM loans a JOIN loans b
    ON a.archive_id = b.archive_id AND a.id < b.id
    WHERE a.checked_out_at < COALESCE(b.returned_at, 'infinity'::timestamp)
      AND b.checked_out_at < COALESCE(a.returned_at, 'infinity'::timestamp)")

# Every open loan due in a day: both schedulers (every second) race to send its reminder.
open_loans=$(psql "$url" -qtAc "UPDATE loans SET due_at = (now() AT TIME ZONE 'UTC') + INTERVAL '1 day'
    WHERE returned_at IS NULL RETURNING id" | grep -c . || true)
sleep 6
reminded=$(psql "$url" -qtAc "SELECT count(DISTINCT entity_id) FROM notifications WHERE kind = 'loan.due_soon'")
twice=$(psql "$url" -qtAc "SELECT count(*) FROM (SELECT user_id, entity_id FROM notifications
    WHERE kind = 'loan.due_soon' GROUP BY user_id, entity_id HAVING count(*) > 1) AS doubled")

tok=$(token)
verify=$(curl -sf "http://127.0.0.1:$PORT/api/v1/audit-events/verify" -H "Authorization: Bearer $tok")
served=$(for port in "${INSTANCES[@]}"; do
    curl -sf "http://127.0.0.1:$port/metrics" -H "Authorization: Bearer $tok" \
        | awk '/^dangan_http_requests_total/ { n += $NF } END { printf "%d ", n }'
done)

report=$OUT/scale-out-report.txt
{
    echo "== two instances behind nginx on one PostgreSQL (wrk, $DURATION per workload) =="
    printf "%-44s %12s\n" "POST /checkouts, 20 clients: p50 / p99" "$scan_p50 / $scan_p99 ms"
    printf "%-44s %9s /s   (%s loans made, %s other answers)\n" "POST /checkouts, 20 clients: rate" "$scan_rps" "$created" "$((refused_scans + failed_scans))"
    printf "%-44s %9s /s   (p50 / p99 %s / %s ms)\n" "check-out → return cycles, 16 clients" "$cycles" "$cycle_p50" "$cycle_p99"
    printf "%-44s %12s   (%s check-outs, %s returns, %s lost races, %s other)\n" "  cycle answers" "" "$checkouts" "$returns" "$refused" "$failed"
    printf "%-44s %12s\n" "double check-outs (overlapping loans)" "$doubles"
    printf "%-44s %12s   (of %s open loans; %s sent twice)\n" "due-soon reminders" "$reminded" "$open_loans" "$twice"
    printf "%-44s %12s\n" "requests served per instance" "$served"
    echo "audit chain: $verify"
} | tee "$report"
drop_store postgres dangan_scale
