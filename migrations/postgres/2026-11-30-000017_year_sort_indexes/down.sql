DROP INDEX archives_year_code_idx;
DROP INDEX archives_year_title_idx;
