-- `search_vector` stops being a generated column: a bulk import now writes the vectors itself in
-- its COPY (sql_types::SearchVector), which took 100,000 rows from 4.8 s to 3.7 s of COPY here;
-- `to_tsvector` ran its word parser over tokens that domain::search had already made. The vector
-- holds those tokens verbatim, each at its position, and searches compare them verbatim (a
-- `tsquery` literal, no parser on either side). This function is the same rule in SQL, for the
-- rows the store fills in itself; a test checks that both give the same vectors.
CREATE FUNCTION archive_search_vector(search_text TEXT) RETURNS TSVECTOR
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (
        SELECT coalesce(
            string_agg('''' || replace(replace(token, '\', '\\'), '''', '''''') || ''':' || position, ' '),
            '')::tsvector
        FROM unnest(string_to_array(search_text, ' ')) WITH ORDINALITY AS tokens (token, position)
        WHERE token <> '' AND octet_length(token) <= 2047
    );

ALTER TABLE archives ALTER COLUMN search_vector DROP EXPRESSION;
UPDATE archives SET search_vector = archive_search_vector(search_text)
WHERE search_vector IS DISTINCT FROM archive_search_vector(search_text);

-- New archives get their vector from the statement that inserts them or right after it, in the
-- same transaction (`archives::index_text_since`); an INSERT trigger would also cost every COPY
-- its batched inserts. A changed `search_text` is re-indexed here.
CREATE FUNCTION archives_search_vector_update() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := archive_search_vector(NEW.search_text);
    RETURN NEW;
END
$$;
CREATE TRIGGER archives_search_vector_update BEFORE UPDATE OF search_text ON archives
    FOR EACH ROW WHEN (OLD.search_text IS DISTINCT FROM NEW.search_text)
    EXECUTE FUNCTION archives_search_vector_update();
