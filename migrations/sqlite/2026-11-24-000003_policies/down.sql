DROP TABLE loan_policies;
