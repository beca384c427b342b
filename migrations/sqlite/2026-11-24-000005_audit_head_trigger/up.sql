-- The chain head follows each appended event inside the insert itself (see the PostgreSQL twin).
CREATE TRIGGER audit_events_move_head AFTER INSERT ON audit_events BEGIN
    UPDATE audit_head SET hash = new.hash WHERE id = 1;
END;
