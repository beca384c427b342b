DROP INDEX loan_requests_created_idx;
DROP INDEX loans_checked_out_idx;
