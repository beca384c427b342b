-- Reports read loans by when they went out and requests by when they were made.
CREATE INDEX loans_checked_out_idx ON loans (checked_out_at);
CREATE INDEX loan_requests_created_idx ON loan_requests (created_at);
