DROP INDEX loans_verification_code;
ALTER TABLE loans DROP COLUMN verification_code;
