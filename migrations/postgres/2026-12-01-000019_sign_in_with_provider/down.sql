DROP TABLE oidc_codes;
DROP TABLE oidc_logins;
DROP INDEX user_identities_user_idx;
DROP TABLE user_identities;
