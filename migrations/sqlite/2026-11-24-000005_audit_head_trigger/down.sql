DROP TRIGGER audit_events_move_head;
