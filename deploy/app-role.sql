-- The role dangan runs as in production: it reads and writes rows and owns nothing, so it cannot
-- drop or disable the audit table's triggers, truncate the table or change the schema. Run this
-- as the role that owns the schema (the one `dangan migrate` runs as), with
--   psql "$OWNER_URL" -v app_password="$DANGAN_DB_APP_PASSWORD" -f deploy/app-role.sql
-- Tables that later migrations create are granted too (default privileges of the owner).
CREATE ROLE dangan_app LOGIN PASSWORD :'app_password';
GRANT USAGE ON SCHEMA public TO dangan_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO dangan_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO dangan_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO dangan_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO dangan_app;
