#!/usr/bin/env bash
# Runs schemathesis, every check and every phase (examples, coverage, fuzzing, stateful), against
# a real server on a fresh SQLite database, logged in as its first administrator. Fails on any
# failure. Usage: contract/schemathesis.sh BINARY [SECONDS]
# One worker: with two, CPython 3.11.7 (this machine's) can fail an `ast.parse` that hypothesis
# runs in both threads at once ("AST constructor recursion depth mismatch", a race in CPython itself).
set -euo pipefail
binary=$(realpath "$1")
cd "$(dirname "$0")"

budget=${2:-180}
venv=.venv
if [ ! -x "$venv/bin/st" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r requirements.txt
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password="schemathesis-$(date +%s)"
export DANGAN_DATABASE_URL="sqlite://$work/dangan.db"
export DANGAN_BIND="127.0.0.1:$port"
export DANGAN_JWT_SECRET="schemathesis-only-secret-0123456789abcdef"
export DANGAN_ADMIN_PASSWORD="$password"
export DANGAN_FILES_URL="file://$work/files"
export DANGAN_FILES_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export RUST_LOG=warn
"$binary" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
token=$(curl -fsS "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$password\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

export SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$PWD"
"$venv/bin/st" --config-file schemathesis.toml run "$base/api-docs/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --max-time "$budget" \
    --seed 42 \
    --workers 1 \
    --report-dir "$work/report" \
    --no-color
