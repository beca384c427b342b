-- Trust boundaries of provisioning and sign-in (issue 26).
--
-- Each SCIM client sees and writes only the users and departments it provisioned (or an admin
-- handed it): `scim_client_id` says which. Existing ones are given to the client whose
-- `user.provisioned` / `department.created` event names it; everyone else stays Dangan's own.
-- `disabled_by_admin` keeps a user an admin disabled from being enabled by any provider; every
-- user disabled today counts as such, so a provider cannot undo what nobody can tell apart.
ALTER TABLE users ADD COLUMN scim_client_id TEXT;
ALTER TABLE users ADD COLUMN disabled_by_admin BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE departments ADD COLUMN scim_client_id TEXT;
UPDATE users SET scim_client_id = (
    SELECT c.id FROM audit_events e JOIN scim_clients c
        ON c.id = json_extract(e.data, '$.via.scim_client.id')
    WHERE e.entity_type = 'user' AND e.action = 'user.provisioned' AND e.entity_id = users.id
    ORDER BY e.seq DESC LIMIT 1);
UPDATE departments SET scim_client_id = (
    SELECT c.id FROM audit_events e JOIN scim_clients c
        ON c.id = json_extract(e.data, '$.via.scim_client.id')
    WHERE e.entity_type = 'department' AND e.action = 'department.created' AND e.entity_id = departments.id
    ORDER BY e.seq DESC LIMIT 1);
UPDATE users SET disabled_by_admin = TRUE WHERE status = 'disabled' AND deprovisioned_at IS NULL;
CREATE INDEX users_scim_client_idx ON users (scim_client_id) WHERE scim_client_id IS NOT NULL;

-- Links an admin issues for a user to complete by signing in at a provider: the code is kept as
-- a hash, spent once, and can be revoked before it is.
CREATE TABLE sign_in_links (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    provider TEXT NOT NULL,
    code_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX sign_in_links_user_idx ON sign_in_links (user_id);

-- A login waiting at the provider remembers the link it completes, whether it re-authenticates
-- (and since when), and who asked for it (pending logins are capped per address).
ALTER TABLE oidc_logins ADD COLUMN link_id TEXT;
ALTER TABLE oidc_logins ADD COLUMN reauthentication BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE oidc_logins ADD COLUMN begun_at TIMESTAMP;
ALTER TABLE oidc_logins ADD COLUMN address TEXT NOT NULL DEFAULT '';
CREATE INDEX oidc_logins_address_idx ON oidc_logins (address, expires_at);
-- A one-time code from a sign-in made to re-authenticate (`prompt=login`, `max_age=0`, a fresh
-- `auth_time`): only such a code signs a receipt or confirms a return.
ALTER TABLE oidc_codes ADD COLUMN reauthentication BOOLEAN NOT NULL DEFAULT FALSE;

-- ID tokens an app exchanged (RFC 8693), by the hash of `jti` (or of the token): each is spent
-- once, kept until it expires.
CREATE TABLE spent_id_tokens (
    token_hash TEXT PRIMARY KEY,
    expires_at TIMESTAMP NOT NULL
);

-- Files an online loan cannot mark (images, office documents) go out as stored only where the
-- loan's policy allows it; a loan keeps what its policy said when it opened. Existing policies
-- and loans allow none: an admin allows it where the files may leave untraceable.
ALTER TABLE loan_policies ADD COLUMN unmarked_copies BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE loans ADD COLUMN unmarked_copies BOOLEAN NOT NULL DEFAULT FALSE;
