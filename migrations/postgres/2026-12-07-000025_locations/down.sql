DROP INDEX archives_location_id_idx;
ALTER TABLE archives DROP COLUMN location_id;
DROP TABLE locations;
