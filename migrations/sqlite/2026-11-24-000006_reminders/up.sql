-- Every reminder sent, by what it is: the primary key makes each one happen once, however many
-- schedulers run against this database (the second insert of a key finds the first).
-- entity_key is the loan id, or "<request id>/<step index>" for an approval step.
CREATE TABLE reminders (
    kind TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    rung INTEGER NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    recipients INTEGER NOT NULL,
    PRIMARY KEY (kind, entity_key, rung)
);

-- Unread notifications of a user, newest first.
CREATE INDEX notifications_unread_idx ON notifications (user_id, created_at) WHERE read_at IS NULL;
-- Reservations whose pickup window ends.
CREATE INDEX request_items_reserved_idx ON request_items (reserved_until) WHERE status = 'reserved';
