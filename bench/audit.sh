#!/usr/bin/env bash
# Dangan's audit benchmark: BENCH_EVENTS events (default 1,000,000) written where use cases leave
# them (audit_pending: committed, not yet chained), sealed by the real sealer (`dangan audit
# checkpoint` seals before it signs the head), then the whole chain verified: over HTTP
# (GET /audit-events/verify) and offline against the checkpoint (`dangan audit verify`).
#
#   bench/audit.sh
#   BENCH_EVENTS=100000 BENCH_STORES=sqlite bench/audit.sh
set -euo pipefail
cd "$(dirname "$0")/.."

STORES=${BENCH_STORES:-"sqlite postgres"}
PG_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
EVENTS=${BENCH_EVENTS:-1000000}
PORT=${BENCH_PORT:-18090}
OUT=bench/out
PASSWORD=bench-admin-2026
# RFC 8032's first test key: a benchmark signs nothing that matters.
KEY=9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60

command -v sqlite3 >/dev/null || { echo "sqlite3 is required (apt-get install sqlite3)" >&2; exit 1; }
cargo build --release -q -p dangan-api
source bench/lib.sh
trap stop_server EXIT

seconds_of() {
    local started=$1
    python3 -c "print(f'{$(date +%s.%N) - $started:.2f}')"
}

# Events shaped like a check-out's: an actor, a loan id, a data object of a few hundred bytes.
pending_sql() {
    local at select
    at=$([ "$1" = postgres ] && echo "TIMESTAMP '2026-11-24 09:00:00' + n * INTERVAL '1 millisecond'" \
        || echo "strftime('%Y-%m-%d %H:%M:%f', '2026-11-24 09:00:00', '+' || (n / 1000.0) || ' seconds')")
    select="SELECT $at, NULL, 'loan.checked_out', 'loan', 'loan-' || n,
        '{\"barcode\":\"BC-' || n || '\",\"due_at\":1796000000,\"loan\":{\"archive_code\":\"WS-2026-Y-' || n ||
        '\",\"classification\":\"internal\",\"status\":\"checked_out\"},\"request_number\":\"JY-2026-' || n || '\"}'"
    case $1 in
        postgres) echo "INSERT INTO audit_pending (at, actor_id, action, entity_type, entity_id, data)
            $select FROM generate_series(1, $EVENTS) AS n" ;;
        sqlite) echo "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < $EVENTS)
            INSERT INTO audit_pending (at, actor_id, action, entity_type, entity_id, data) $select FROM s" ;;
    esac
}

mkdir -p "$OUT"
report=$OUT/audit-report.txt
: > "$report"
for store in $STORES; do
    url=$(fresh_store "$store" dangan_audit)
    export DANGAN_DATABASE_URL="$url" DANGAN_ADMIN_PASSWORD="$PASSWORD" RUST_LOG=warn
    target/release/dangan migrate
    started=$(date +%s.%N)
    run_sql "$store" "$url" "$(pending_sql "$store")" > /dev/null
    generated=$(seconds_of "$started")

    started=$(date +%s.%N)
    DANGAN_AUDIT_SIGNING_KEY=$KEY target/release/dangan audit checkpoint > "$OUT/audit-checkpoint.json"
    sealed=$(seconds_of "$started")
    chained=$(run_sql "$store" "$url" "SELECT count(*) FROM audit_events")

    start_server "$url" "audit-$store"
    tok=$(token)
    times=()
    for _ in 1 2 3; do
        times+=("$(curl -s -o "$OUT/audit-verify.json" -w '%{time_total}' \
            "http://127.0.0.1:$PORT/api/v1/audit-events/verify" -H "Authorization: Bearer $tok")")
        grep -q '"valid":true' "$OUT/audit-verify.json" || { cat "$OUT/audit-verify.json"; exit 1; }
    done
    read -r fastest median < <(printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { print t[1], t[2] }')
    stop_server

    started=$(date +%s.%N)
    target/release/dangan audit verify --checkpoint "$OUT/audit-checkpoint.json" > /dev/null
    offline=$(seconds_of "$started")
    unset DANGAN_DATABASE_URL DANGAN_ADMIN_PASSWORD RUST_LOG
    {
        echo "== $store: $EVENTS audit events =="
        printf "%-62s %10s   %s\n" step seconds target
        printf "%-62s %10s\n" "written to audit_pending (SQL, as committed use cases)" "$generated"
        printf "%-62s %10s   (%s events in the chain)\n" "sealed (dangan audit checkpoint)" "$sealed" "$chained"
        printf "%-62s %10.2f   < 5 s (median of 3; fastest %.2f)\n" "GET /audit-events/verify" "$median" "$fastest"
        printf "%-62s %10s\n" "dangan audit verify --checkpoint (offline)" "$offline"
        echo
    } | tee -a "$report"
    drop_store "$store" dangan_audit
done
echo "report: $report"
