-- Online loans lend an archive's electronic files, not the archive: `kind` is `paper` or
-- `online`, and only paper loans hold their archive, so only they are kept one to an archive.
-- `end_reason` says why an online loan ended (returned, expired, revoked, deactivated,
-- clearance_lowered).
ALTER TABLE loans ADD COLUMN kind TEXT NOT NULL DEFAULT 'paper';
ALTER TABLE loans ADD COLUMN end_reason TEXT;
DROP INDEX loans_one_open_per_archive;
CREATE UNIQUE INDEX loans_one_open_per_archive ON loans (archive_id)
    WHERE kind = 'paper' AND status IN ('checked_out', 'active', 'return_pending');
CREATE INDEX loans_online_due_idx ON loans (due_at) WHERE kind = 'online' AND status = 'active';

-- Every copy of a file handed out by an online loan, with the digest of the bytes sent (a
-- marked PDF differs from the stored file and from every other copy): a leaked copy's digest
-- leads back to its loan.
CREATE TABLE loan_copies (
    id TEXT PRIMARY KEY,
    loan_id TEXT NOT NULL REFERENCES loans (id),
    file_id TEXT NOT NULL REFERENCES archive_files (id),
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    marked BOOLEAN NOT NULL,
    handed_out_at TIMESTAMP NOT NULL
);
CREATE INDEX loan_copies_loan_idx ON loan_copies (loan_id, handed_out_at);
CREATE INDEX loan_copies_sha256_idx ON loan_copies (sha256);
