#!/usr/bin/env bash
# Runs scim2-tester (contract/scim/check.py) against the real server on a fresh database: the
# first administrator creates a provisioning client, whose token the checker uses. Fails on any
# failed check. Usage: contract/scim.sh BINARY [DATABASE_URL]   (default: a fresh SQLite file)
set -euo pipefail
binary=$(realpath "$1")
cd "$(dirname "$0")"

venv=scim/.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r scim/requirements.txt
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password="scim-$(date +%s)"
export DANGAN_DATABASE_URL="${2:-sqlite://$work/dangan.db}"
export DANGAN_BIND="127.0.0.1:$port"
export DANGAN_JWT_SECRET="scim-check-only-secret-0123456789abcdef"
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
json() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }
access=$(curl -fsS "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$password\"}" | json access_token)
token=$(curl -fsS "$base/api/v1/scim-clients" -H "Authorization: Bearer $access" \
    -H 'Content-Type: application/json' -d '{"name":"scim2-tester"}' | json token)

if ! "$venv/bin/python" scim/check.py "$base/scim/v2" "$token"; then
    echo "--- server log" >&2
    tail -n 50 "$work/server.log" >&2
    exit 1
fi
