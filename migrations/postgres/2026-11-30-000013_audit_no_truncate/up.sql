-- TRUNCATE fires no row trigger: without this, one statement would empty the append-only chain.
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
