#!/usr/bin/env bash
# Online loans: how fast a borrower gets a marked copy of a PDF, and what marking costs in memory.
# The release binary on SQLite with a local file store; PDFs written by bench/gen_pdf.py like a
# scanner's (one incompressible image per page). COPIES (default 5) copies of each, timed by curl;
# the server's resident memory sampled every 10 ms (bench/online_flow.py).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-/tmp/dangan-bench-online}
PORT=${PORT:-18093}
PASSWORD=${PASSWORD:-bench-admin-2026}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
COPIES=${COPIES:-5}
mkdir -p "$OUT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap stop_server EXIT

command -v pdfinfo >/dev/null || { echo "pdfinfo (poppler-utils) is needed" >&2; exit 1; }
cargo build --release --locked -p dangan-api

# A 10-page letter, a 200-page scanned file of 50 MB, and 2,000 pages of 20 KB each.
python3 bench/gen_pdf.py 10 30 "$OUT/letter-10p.pdf"
python3 bench/gen_pdf.py 200 250 "$OUT/scan-200p-50MB.pdf"
python3 bench/gen_pdf.py 2000 20 "$OUT/register-2000p.pdf"

rm -rf "$OUT/files"
export DANGAN_FILES_KEY
DANGAN_FILES_KEY=$(openssl rand -hex 32)
export DANGAN_FILES_URL="file://$OUT/files"
start_server "$(fresh_store sqlite online)" online
python3 bench/online_flow.py "http://127.0.0.1:$PORT" "$PASSWORD" "$server_pid" "$COPIES" \
    "$OUT/letter-10p.pdf" "$OUT/scan-200p-50MB.pdf" "$OUT/register-2000p.pdf"
