CREATE FUNCTION audit_head_follows() RETURNS trigger AS $$
BEGIN
    UPDATE audit_head SET hash = NEW.hash WHERE id = 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_move_head AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_head_follows();

DROP TABLE audit_pending;
