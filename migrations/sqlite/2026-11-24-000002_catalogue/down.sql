DROP TABLE idempotency_keys;
DROP TRIGGER archives_fts_update;
DROP TRIGGER archives_fts_delete;
DROP TRIGGER archives_fts_insert;
DROP TABLE archives_fts;
DROP TABLE archives;
