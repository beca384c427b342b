-- Each use case inserts its audit event here, in its own transaction, touching no shared row;
-- the sealer (one per database, under an advisory lock) gives committed events their seq,
-- prev_hash and hash in batches and moves them to audit_events, whose head it alone updates.
CREATE TABLE audit_pending (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    actor_id UUID,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT,
    data TEXT NOT NULL
);

DROP TRIGGER audit_events_move_head ON audit_events;
DROP FUNCTION audit_head_follows();
