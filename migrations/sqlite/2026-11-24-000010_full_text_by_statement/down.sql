CREATE TRIGGER archives_fts_insert AFTER INSERT ON archives BEGIN
    INSERT INTO archives_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;
