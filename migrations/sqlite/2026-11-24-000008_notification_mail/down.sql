DROP INDEX notifications_email_idx;
ALTER TABLE notifications DROP COLUMN email_error;
ALTER TABLE notifications DROP COLUMN email_next_at;
ALTER TABLE notifications DROP COLUMN email_attempts;
ALTER TABLE notifications DROP COLUMN email_status;
