DROP INDEX request_items_reserved_idx;
DROP INDEX notifications_unread_idx;
DROP TABLE reminders;
