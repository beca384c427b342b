DROP TABLE loan_copies;
DROP INDEX loans_online_due_idx;
DROP INDEX loans_one_open_per_archive;
CREATE UNIQUE INDEX loans_one_open_per_archive ON loans (archive_id)
    WHERE status IN ('checked_out', 'active', 'return_pending');
ALTER TABLE loans DROP COLUMN end_reason;
ALTER TABLE loans DROP COLUMN kind;
