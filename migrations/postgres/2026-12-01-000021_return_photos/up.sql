-- Photos taken at the desk as evidence of a returned archive's condition, sealed in the file
-- store like archive files; the return's incident, if it opened one, is named too.
CREATE TABLE loan_photos (
    id UUID PRIMARY KEY,
    loan_id UUID NOT NULL REFERENCES loans (id),
    incident_id UUID REFERENCES incidents (id),
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    wrapped_key TEXT NOT NULL,
    taken_by UUID NOT NULL REFERENCES users (id),
    taken_at TIMESTAMP NOT NULL
);
CREATE INDEX loan_photos_loan_idx ON loan_photos (loan_id, taken_at);
