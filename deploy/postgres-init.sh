#!/bin/sh
# Runs once, as the owner, when the PostgreSQL container creates its database
# (/docker-entrypoint-initdb.d): creates the role dangan runs as (deploy/app-role.sql).
set -eu
psql -v ON_ERROR_STOP=1 -v app_password="$DANGAN_DB_APP_PASSWORD" \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f /dangan/app-role.sql
