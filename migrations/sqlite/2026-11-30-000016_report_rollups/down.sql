DROP TABLE request_day_changes;
DROP TABLE request_days;
DROP TABLE loan_day_changes;
DROP TABLE loan_days;
DELETE FROM settings WHERE key = 'report_rollups';
