-- The catalogue and the idempotency-key store.
-- Codes, titles, categories and locations compare bytewise (COLLATE "C"), as on SQLite, so
-- sorting, cursors and location prefixes behave the same on both stores.

CREATE TABLE archives (
    -- Insertion order; on SQLite it is also the full-text index's rowid.
    seq BIGSERIAL NOT NULL UNIQUE,
    id UUID PRIMARY KEY,
    archive_code TEXT COLLATE "C" NOT NULL,
    barcode TEXT COLLATE "C" NOT NULL,
    title TEXT COLLATE "C" NOT NULL,
    description TEXT,
    category TEXT COLLATE "C" NOT NULL,
    classification TEXT NOT NULL,
    medium TEXT NOT NULL,
    department_id UUID REFERENCES departments (id),
    location TEXT COLLATE "C" NOT NULL,
    year INTEGER,
    pages INTEGER,
    status TEXT NOT NULL,
    -- Search tokens made by the application (CJK bigrams, lowercased words): see domain::search.
    search_text TEXT NOT NULL,
    search_vector TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX archives_archive_code_key ON archives (archive_code);
CREATE UNIQUE INDEX archives_barcode_key ON archives (barcode);
-- "Newest first" is `seq` order (the order archives were catalogued): each filter's index ends
-- in `seq` so a filtered, newest-first page reads only the rows it returns.
CREATE INDEX archives_search_idx ON archives USING GIN (search_vector);
CREATE INDEX archives_title_idx ON archives (title, id);
CREATE INDEX archives_category_idx ON archives (category, seq);
CREATE INDEX archives_classification_idx ON archives (classification, seq);
CREATE INDEX archives_status_idx ON archives (status, seq);
CREATE INDEX archives_department_idx ON archives (department_id, seq);
CREATE INDEX archives_medium_idx ON archives (medium, seq);
CREATE INDEX archives_year_idx ON archives (year, seq);
CREATE INDEX archives_location_idx ON archives (location, seq);

-- A mutating POST's first response per user and key, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    user_id UUID NOT NULL REFERENCES users (id),
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    -- NULL while the first request is still running.
    status INTEGER,
    content_type TEXT,
    body BYTEA,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
