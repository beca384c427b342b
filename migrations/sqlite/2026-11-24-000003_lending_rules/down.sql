DROP TABLE form_fields;
DROP TABLE loan_policies;
