DROP TRIGGER archives_search_vector_update ON archives;
DROP FUNCTION archives_search_vector_update();
DROP INDEX archives_search_idx;
ALTER TABLE archives DROP COLUMN search_vector;
ALTER TABLE archives ADD COLUMN search_vector TSVECTOR
    GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED;
CREATE INDEX archives_search_idx ON archives USING GIN (search_vector);
DROP FUNCTION archive_search_vector(TEXT);
