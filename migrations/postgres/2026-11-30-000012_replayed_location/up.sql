-- A replayed 201 carries the Location of what the first request created.
ALTER TABLE idempotency_keys ADD COLUMN location TEXT;
