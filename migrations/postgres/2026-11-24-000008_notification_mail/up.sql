-- E-mail of a notification: NULL when its user has no address; then pending, sent, failed (after
-- the last retry) or expired (not sent within a day, so a late-configured or long-stopped
-- mailer never sends a backlog).
ALTER TABLE notifications ADD COLUMN email_status TEXT;
ALTER TABLE notifications ADD COLUMN email_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN email_next_at TIMESTAMP;
ALTER TABLE notifications ADD COLUMN email_error TEXT;
CREATE INDEX notifications_email_idx ON notifications (email_next_at) WHERE email_status = 'pending';
