-- The keyed verification code printed on a loan's voucher, for `GET /vouchers/{code}`; loans
-- checked out before this column existed get theirs when the server next starts.
ALTER TABLE loans ADD COLUMN verification_code TEXT;
CREATE INDEX loans_verification_code ON loans (verification_code);
