-- Shelves (issue 27): the archive room as a tree of places (库房 → 区/密集架 → 列 → 节 → 层, as
-- deep and named as a site keeps it), each with a barcode to scan. `path` is the codes from the
-- root joined by '-' (K1-A-03-12-05): an archive on a shelf carries it as its `location` label,
-- so everything beneath a place is one range of that indexed column.
CREATE TABLE locations (
    id UUID PRIMARY KEY,
    parent_id UUID REFERENCES locations (id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    barcode TEXT COLLATE "C" NOT NULL UNIQUE,
    path TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX locations_parent_idx ON locations (parent_id);

ALTER TABLE archives ADD COLUMN location_id UUID REFERENCES locations (id);
CREATE INDEX archives_location_id_idx ON archives (location_id) WHERE location_id IS NOT NULL;
