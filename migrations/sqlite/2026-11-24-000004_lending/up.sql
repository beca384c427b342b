-- Loan requests, their approval steps, the loans they lead to, and what circulation records.

-- The last request number handed out per year (numbers read JY-YYYY-NNNNNN).
CREATE TABLE request_numbers (
    year INTEGER PRIMARY KEY,
    last_number INTEGER NOT NULL
);

CREATE TABLE loan_requests (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    borrower_id TEXT NOT NULL REFERENCES users (id),
    purpose TEXT NOT NULL,
    loan_type TEXT NOT NULL,
    days INTEGER NOT NULL,
    -- Answers to the custom form fields, a JSON object.
    fields TEXT NOT NULL,
    status TEXT NOT NULL,
    -- The strictest combination of its archives' policies when it was made (JSON): a later policy
    -- edit does not change the terms a borrower was approved under.
    rules TEXT NOT NULL,
    approved_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX loan_requests_number_key ON loan_requests (number);
CREATE INDEX loan_requests_borrower_idx ON loan_requests (borrower_id, created_at);
CREATE INDEX loan_requests_status_idx ON loan_requests (status, created_at);

-- The archives a request asks for. `status`: waiting, reserved, checked_out, expired, withdrawn.
CREATE TABLE request_items (
    request_id TEXT NOT NULL REFERENCES loan_requests (id),
    position INTEGER NOT NULL,
    archive_id TEXT NOT NULL REFERENCES archives (id),
    status TEXT NOT NULL,
    reserved_until TIMESTAMP,
    loan_id TEXT,
    PRIMARY KEY (request_id, position)
);
CREATE UNIQUE INDEX request_items_archive_key ON request_items (request_id, archive_id);
CREATE INDEX request_items_waiting_idx ON request_items (archive_id, status);

CREATE TABLE request_steps (
    request_id TEXT NOT NULL REFERENCES loan_requests (id),
    step_index INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    decided_by TEXT REFERENCES users (id),
    on_behalf_of TEXT REFERENCES users (id),
    comment TEXT,
    decided_at TIMESTAMP,
    PRIMARY KEY (request_id, step_index)
);

-- Who may decide each step, one row per person, so an approver's inbox is an index lookup.
CREATE TABLE step_approvers (
    request_id TEXT NOT NULL REFERENCES loan_requests (id),
    step_index INTEGER NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (request_id, step_index, user_id)
);
CREATE INDEX step_approvers_user_idx ON step_approvers (user_id, request_id);

CREATE TABLE loans (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES loan_requests (id),
    archive_id TEXT NOT NULL REFERENCES archives (id),
    borrower_id TEXT NOT NULL REFERENCES users (id),
    status TEXT NOT NULL,
    checked_out_at TIMESTAMP NOT NULL,
    checked_out_by TEXT NOT NULL REFERENCES users (id),
    due_at TIMESTAMP NOT NULL,
    renewals INTEGER NOT NULL DEFAULT 0,
    signed_at TIMESTAMP,
    signed_by TEXT REFERENCES users (id),
    signature_method TEXT,
    signature_digest TEXT,
    -- The canonical voucher the borrower signed; `signature_digest` is its SHA-256.
    signed_voucher TEXT,
    returned_at TIMESTAMP,
    condition TEXT,
    return_notes TEXT,
    inspected_by TEXT REFERENCES users (id),
    inspected_at TIMESTAMP,
    confirmed_by TEXT REFERENCES users (id),
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
-- The database, not the application, guarantees an archive is never on two open loans: of two
-- archivists scanning the same file at once, one insert fails.
CREATE UNIQUE INDEX loans_one_open_per_archive ON loans (archive_id)
    WHERE status IN ('checked_out', 'active', 'return_pending');
CREATE UNIQUE INDEX loans_request_archive_key ON loans (request_id, archive_id);
CREATE INDEX loans_borrower_idx ON loans (borrower_id, status, due_at);
CREATE INDEX loans_status_due_idx ON loans (status, due_at);
CREATE INDEX loans_archive_idx ON loans (archive_id, checked_out_at);

-- A renewal the policy wants approved before the due date moves. `status`: pending, approved, rejected.
CREATE TABLE loan_renewals (
    id TEXT PRIMARY KEY,
    loan_id TEXT NOT NULL REFERENCES loans (id),
    days INTEGER NOT NULL,
    reason TEXT,
    status TEXT NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    decided_by TEXT REFERENCES users (id),
    decided_at TIMESTAMP
);
CREATE INDEX loan_renewals_loan_idx ON loan_renewals (loan_id, status);

-- A damaged, incomplete or lost archive, found on return or reported.
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    loan_id TEXT NOT NULL REFERENCES loans (id),
    archive_id TEXT NOT NULL REFERENCES archives (id),
    kind TEXT NOT NULL,
    notes TEXT,
    reported_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX incidents_archive_idx ON incidents (archive_id, created_at);

-- What a user is told (a reservation ready, later reminders); read at /me/notifications.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at);
