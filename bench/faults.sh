#!/usr/bin/env bash
# Dangan's fault checks, on real processes (they cannot be in-process tests):
#   restart   PostgreSQL is restarted while 20 desk clients scan (bench/faults_client.py): no
#             answer is a 500, every 503 carries Retry-After, the server serves again without
#             being restarted, and every loan a client was told was created (201) is in the
#             database.
#   kill      `kill -9` of the server in the middle of a 100,000-row import, on each store:
#             nothing of the import remains and the audit chain verifies after a restart.
#   backup    a backup taken while desk clients check out and return (`dangan backup FILE` on
#             SQLite, `pg_dump` on PostgreSQL) restores to a database whose chain verifies and
#             whose report counters agree with its loans.
# Exits 1 at the first check that fails. Restarting PostgreSQL needs the right to do so; set
# BENCH_PG_RESTART to the command that restarts it here.
#
#   bench/faults.sh
#   BENCH_FAULTS="kill backup" BENCH_STORES=sqlite bench/faults.sh
set -euo pipefail
cd "$(dirname "$0")/.."

STORES=${BENCH_STORES:-"sqlite postgres"}
FAULTS=${BENCH_FAULTS:-"restart kill backup"}
PG_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
PG_RESTART=${BENCH_PG_RESTART:-"pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql 2>/dev/null | head -1) main restart"}
PORT=${BENCH_PORT:-18090}
OUT=bench/out
PASSWORD=bench-admin-2026
CLIENTS=20

cargo build --release -q -p dangan-api
source bench/lib.sh
trap stop_server EXIT
mkdir -p "$OUT"
report=$OUT/faults-report.txt
: > "$report"
say() { echo "$*" | tee -a "$report"; }
fail() { say "FAILED: $*"; exit 1; }

dangan() { DANGAN_DATABASE_URL="$1" DANGAN_ADMIN_PASSWORD="$PASSWORD" RUST_LOG=warn target/release/dangan "${@:2}"; }

# desk_clients URL SECONDS MODE NAME: prepares approved items and runs the clients; prints their
# summary (JSON) and leaves the created loan ids in $OUT/NAME-created.txt.
prepare_items() {
    rm -rf "$OUT/$2"
    python3 bench/lending_setup.py "http://127.0.0.1:$PORT" "$PASSWORD" "$OUT/$2" 0 0 "$CLIENTS" "$1" >/dev/null
}
desk_clients() {
    local keeper
    keeper=$(sed -n 2p "$OUT/$3/tokens.txt")
    python3 bench/faults_client.py "http://127.0.0.1:$PORT" "$OUT/$3" "$keeper" "$CLIENTS" "$1" \
        "$OUT/$3-created.txt" "$2"
}

# every_created_loan_is_stored STORE URL NAME
every_created_loan_is_stored() {
    run_sql "$1" "$2" "SELECT id FROM loans" | sort > "$OUT/$3-stored.txt"
    sort "$OUT/$3-created.txt" | comm -23 - "$OUT/$3-stored.txt" > "$OUT/$3-missing.txt"
    [ ! -s "$OUT/$3-missing.txt" ] || fail "$(wc -l < "$OUT/$3-missing.txt") loans answered 201 are not in the database"
}

check_no_500() {
    python3 -c 'import json,sys; s=json.loads(sys.argv[1]); bad={k:v for k,v in s["statuses"].items() if k.split()[1].startswith("5") and not k.endswith("503")}; sys.exit(1 if bad or s["problems"].get("503_without_retry_after") else 0)' "$1" \
        || fail "an answer was a 5xx other than 503, or a 503 came without Retry-After: $1"
}

if [[ " $FAULTS " == *" restart "* ]]; then
    url=$(fresh_store postgres dangan_faults)
    start_server "$url" faults-restart
    prepare_items 600 restart
    # The last 50 items of each client are kept for the round after the restart.
    mkdir -p "$OUT/after-restart"
    cp "$OUT/restart/tokens.txt" "$OUT/after-restart/"
    for n in $(seq 0 $((CLIENTS - 1))); do
        tail -50 "$OUT/restart/checkout-$n.txt" > "$OUT/after-restart/checkout-$n.txt"
        head -n -50 "$OUT/restart/checkout-$n.txt" > "$OUT/restart/items" && mv "$OUT/restart/items" "$OUT/restart/checkout-$n.txt"
    done
    desk_clients 20 scan restart > "$OUT/restart-summary.json" &
    clients=$!
    sleep 5
    restarted_at=$(date +%s.%N)
    $PG_RESTART
    pg_up=$(python3 -c "print(f'{$(date +%s.%N) - $restarted_at:.1f}')")
    wait "$clients"
    summary=$(cat "$OUT/restart-summary.json")
    say "restart: PostgreSQL restarted in $pg_up s while $CLIENTS clients scanned for 20 s: $summary"
    check_no_500 "$summary"
    every_created_loan_is_stored postgres "$url" restart
    # The same server serves again: a new round of scans all succeed, no 503.
    after=$(desk_clients 3 scan after-restart)
    python3 -c 'import json,sys; s=json.loads(sys.argv[1]); sys.exit(0 if set(s["statuses"]) == {"checkouts 201"} else 1)' "$after" \
        || fail "after the restart the server did not serve normally: $after"
    say "restart: afterwards, without restarting dangan: $after"
    say "restart: every one of $(wc -l < "$OUT/restart-created.txt") loans answered 201 is in the database"
    stop_server
    drop_store postgres dangan_faults
fi

if [[ " $FAULTS " == *" kill "* ]]; then
    python3 - "$OUT/import-100k.csv" <<'EOF'
import sys
rows = ["archive_code,barcode,title,category,classification,medium,location,year"]
rows += [f"KL-2026-Y-{n:06d},KL{n:08d},导入中断 killed import {n},文书,internal,paper,B-{n // 1000:03d},2026" for n in range(100_000)]
open(sys.argv[1], "w").write("\r\n".join(rows))
EOF
    for store in $STORES; do
        url=$(fresh_store "$store" dangan_faults)
        start_server "$url" "faults-kill-$store"
        tok=$(token)
        before=$(run_sql "$store" "$url" "SELECT count(*) FROM archives")
        curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/v1/archives/import" \
            -H "Authorization: Bearer $tok" -H 'Content-Type: text/csv' \
            --data-binary @"$OUT/import-100k.csv" > "$OUT/kill-import-status.txt" 2>/dev/null &
        upload=$!
        # Kill once the import is writing: PostgreSQL shows its statement on the archives,
        # SQLite's write-ahead log grows past 4 MB (the transaction's pages spilling into it).
        seen=""
        for _ in $(seq 1 200); do
            case $store in
                postgres) seen=$(psql "$url" -qtAc "SELECT left(query, 40) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
                      AND query ILIKE '%archives%' LIMIT 1") ;;
                sqlite) wal=$(stat -c %s "${url#sqlite://}-wal" 2>/dev/null || echo 0)
                        [ "$wal" -lt 4194304 ] || seen="write-ahead log at $wal bytes" ;;
            esac
            [ -z "$seen" ] || break
            sleep 0.05
        done
        [ -n "$seen" ] || fail "$store: the import was never seen writing"
        kill -9 "$server_pid"
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
        wait "$upload" || true
        answered=$(cat "$OUT/kill-import-status.txt")
        [ "$answered" != 200 ] || fail "$store: the import finished before the kill"
        start_server "$url" "faults-kill-$store-after"
        after=$(run_sql "$store" "$url" "SELECT count(*) FROM archives")
        [ "$after" = "$before" ] || fail "$store: $((after - before)) archives of the killed import remain"
        stop_server
        verified=$(dangan "$url" audit verify) || fail "$store: the audit chain does not verify after the kill: $verified"
        say "kill: $store: server killed with -9 during a 100,000-row import (while: $seen; the client saw HTTP '$answered'); archives before $before, after $after; $verified"
        drop_store "$store" dangan_faults
    done
fi

if [[ " $FAULTS " == *" backup "* ]]; then
    for store in $STORES; do
        url=$(fresh_store "$store" dangan_faults)
        start_server "$url" "faults-backup-$store"
        prepare_items 400 backup
        desk_clients 10 cycle backup > "$OUT/backup-summary.json" &
        clients=$!
        sleep 4
        case $store in
            sqlite)
                copy=$OUT/dangan_faults-backup.db
                rm -f "$copy"
                dangan "$url" backup "$copy" | tee -a "$report"
                restored="sqlite://$copy"
                ;;
            postgres)
                pg_dump -Fc -f "$OUT/dangan_faults.dump" "$url"
                restored=$(fresh_store postgres dangan_faults_restored)
                pg_restore --no-owner -d "$restored" "$OUT/dangan_faults.dump"
                ;;
        esac
        wait "$clients"
        summary=$(cat "$OUT/backup-summary.json")
        check_no_500 "$summary"
        stop_server
        loans=$(run_sql "$store" "$restored" "SELECT count(*) FROM loans")
        verified=$(dangan "$restored" audit verify) || fail "$store: the restored chain does not verify: $verified"
        agreed=$(dangan "$restored" rollups verify) || fail "$store: the restored counters disagree: $agreed"
        say "backup: $store: taken during $CLIENTS clients' check-out/return cycles ($summary); the copy holds $loans loans; $verified; $agreed"
        drop_store "$store" dangan_faults
        [ "$store" != postgres ] || drop_store postgres dangan_faults_restored
    done
fi
say "every fault check passed"
