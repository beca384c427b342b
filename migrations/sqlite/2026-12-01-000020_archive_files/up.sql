-- Electronic files of archives. The bytes are in the file store, sealed with a key of their
-- own; the row keeps that key only wrapped by the master key (hex), and forgets it when the
-- file is retired, which leaves nothing readable behind.
CREATE TABLE archive_files (
    id TEXT PRIMARY KEY,
    archive_id TEXT NOT NULL REFERENCES archives (id),
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    wrapped_key TEXT,
    uploaded_by TEXT NOT NULL REFERENCES users (id),
    uploaded_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP,
    retired_by TEXT REFERENCES users (id)
);
CREATE INDEX archive_files_archive_idx ON archive_files (archive_id, uploaded_at);
