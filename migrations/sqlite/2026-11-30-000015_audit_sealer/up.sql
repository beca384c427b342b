-- Each use case inserts its audit event here; the sealer (whoever holds the write lock) gives
-- committed events their seq, prev_hash and hash in batches and moves them to audit_events,
-- whose head it alone updates (see the PostgreSQL twin).
CREATE TABLE audit_pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TIMESTAMP NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT,
    data TEXT NOT NULL
);

DROP TRIGGER audit_events_move_head;
