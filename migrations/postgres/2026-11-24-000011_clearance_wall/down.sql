ALTER TABLE webhooks DROP COLUMN max_classification;
ALTER TABLE request_steps DROP COLUMN approver_role;
