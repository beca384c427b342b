DROP INDEX archive_files_archive_idx;
DROP TABLE archive_files;
