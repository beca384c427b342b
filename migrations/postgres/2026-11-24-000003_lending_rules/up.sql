-- Loan policies and request form fields: admins change lending rules without code. Match, steps and loan types are JSON
-- text (the shapes of domain::policy), read and written whole.
CREATE TABLE loan_policies (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    match_rules TEXT NOT NULL,
    approval_steps TEXT NOT NULL,
    max_days INTEGER NOT NULL,
    max_renewals INTEGER NOT NULL,
    renewal_requires_approval BOOLEAN NOT NULL,
    allowed_loan_types TEXT NOT NULL,
    dual_signoff_on_return BOOLEAN NOT NULL,
    pickup_days INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX loan_policies_priority_idx ON loan_policies (priority);

-- Custom request form fields (domain::form): options and categories are JSON text arrays.
CREATE TABLE form_fields (
    id UUID PRIMARY KEY,
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    field_type TEXT NOT NULL,
    required BOOLEAN NOT NULL,
    options TEXT NOT NULL,
    categories TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX form_fields_key_key ON form_fields (key);

-- While active, the delegate also receives the delegator's approval tasks.
CREATE TABLE delegations (
    id UUID PRIMARY KEY,
    delegator_id UUID NOT NULL REFERENCES users (id),
    delegate_id UUID NOT NULL REFERENCES users (id),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    reason TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX delegations_delegate_idx ON delegations (delegate_id, ends_at);
CREATE INDEX delegations_delegator_idx ON delegations (delegator_id, ends_at);
