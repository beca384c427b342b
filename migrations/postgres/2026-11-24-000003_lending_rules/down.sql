DROP TABLE delegations;
DROP TABLE form_fields;
DROP TABLE loan_policies;
