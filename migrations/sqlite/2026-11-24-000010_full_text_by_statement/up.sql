-- New archives reach the full-text index by an explicit statement (`archives::index_text_since`),
-- no longer by a trigger per row: a trigger runs each INSERT inside a statement savepoint, FTS5
-- writes its pending terms to disk at every savepoint, so a 100,000-row import wrote 100,000
-- one-row segments and spent most of its time merging them. One statement per import lets the
-- terms collect in memory first.
DROP TRIGGER archives_fts_insert;
