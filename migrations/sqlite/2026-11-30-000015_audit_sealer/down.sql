CREATE TRIGGER audit_events_move_head AFTER INSERT ON audit_events BEGIN
    UPDATE audit_head SET hash = new.hash WHERE id = 1;
END;

DROP TABLE audit_pending;
