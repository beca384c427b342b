-- Sign-in with the organisation's OpenID providers: who each (issuer, subject) is in Dangan, the
-- logins waiting for the provider's answer, and the one-time codes a front end trades for tokens.
-- Codes and states are kept as hashes; both live minutes.
CREATE TABLE user_identities (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    provider TEXT NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_sign_in_at TIMESTAMP NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);
CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    callback_url TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    client_state TEXT,
    expires_at TIMESTAMP NOT NULL
);
CREATE TABLE oidc_codes (
    code_hash TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES user_identities (id),
    expires_at TIMESTAMP NOT NULL
);
