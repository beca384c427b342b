-- Provisioning by the organisation's identity provider (SCIM 2.0): the clients allowed to do it
-- (tokens kept as hashes), the provider's own ids, and users and departments it deleted, which
-- stay in Dangan for the loans and history that name them.
CREATE TABLE scim_clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN deprovisioned_at TIMESTAMP;
ALTER TABLE departments ADD COLUMN external_id TEXT;
ALTER TABLE departments ADD COLUMN deprovisioned_at TIMESTAMP;
CREATE INDEX users_external_id_idx ON users (external_id) WHERE external_id IS NOT NULL;
