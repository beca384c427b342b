-- The catalogue and the idempotency-key store.

CREATE TABLE archives (
    -- Insertion order, and the full-text index's rowid (an INTEGER PRIMARY KEY survives VACUUM).
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    archive_code TEXT NOT NULL,
    barcode TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    category TEXT NOT NULL,
    classification TEXT NOT NULL,
    medium TEXT NOT NULL,
    department_id TEXT REFERENCES departments (id),
    location TEXT NOT NULL,
    year INTEGER,
    pages INTEGER,
    status TEXT NOT NULL,
    -- Search tokens made by the application (CJK bigrams, lowercased words): see domain::search.
    search_text TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX archives_archive_code_key ON archives (archive_code);
CREATE UNIQUE INDEX archives_barcode_key ON archives (barcode);
-- "Newest first" is `seq` (rowid) order; every SQLite index ends in the rowid, so each filter's
-- index also yields its rows newest first. Classification has no index: the clearance filter
-- keeps most rows, and an index on it lures the planner away from the rowid order.
CREATE INDEX archives_title_idx ON archives (title, id);
CREATE INDEX archives_category_idx ON archives (category);
CREATE INDEX archives_status_idx ON archives (status);
CREATE INDEX archives_department_idx ON archives (department_id);
CREATE INDEX archives_medium_idx ON archives (medium);
CREATE INDEX archives_year_idx ON archives (year);
CREATE INDEX archives_location_idx ON archives (location);

CREATE VIRTUAL TABLE archives_fts USING fts5(
    search_text,
    content = 'archives',
    content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER archives_fts_insert AFTER INSERT ON archives BEGIN
    INSERT INTO archives_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;
CREATE TRIGGER archives_fts_delete AFTER DELETE ON archives BEGIN
    INSERT INTO archives_fts (archives_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
END;
CREATE TRIGGER archives_fts_update AFTER UPDATE OF search_text ON archives BEGIN
    INSERT INTO archives_fts (archives_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
    INSERT INTO archives_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;

CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users (id),
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER,
    content_type TEXT,
    body BLOB,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
