DROP TRIGGER audit_events_move_head ON audit_events;
DROP FUNCTION audit_head_follows();
