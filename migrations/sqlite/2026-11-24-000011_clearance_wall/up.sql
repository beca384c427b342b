-- The role a step's approvers decide by: they must still hold it when they decide.
ALTER TABLE request_steps ADD COLUMN approver_role TEXT;
-- Events about archives above this classification are not delivered to the subscription.
ALTER TABLE webhooks ADD COLUMN max_classification TEXT NOT NULL DEFAULT 'internal';
