DROP INDEX loan_photos_loan_idx;
DROP TABLE loan_photos;
