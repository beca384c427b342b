DROP INDEX users_external_id_idx;
ALTER TABLE departments DROP COLUMN deprovisioned_at;
ALTER TABLE departments DROP COLUMN external_id;
ALTER TABLE users DROP COLUMN deprovisioned_at;
ALTER TABLE users DROP COLUMN external_id;
DROP TABLE scim_clients;
