-- A generated lending history for the report benchmark (bench/reports.sh), SQLite: the same
-- rows as postgres.sql. The loan count is substituted for LOANS by the script.
CREATE TEMP TABLE n (i INTEGER PRIMARY KEY);
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < max(LOANS, 100000))
INSERT INTO n SELECT i FROM c;

CREATE TEMP VIEW ids AS SELECT i,
    printf('00000000-0000-4000-8001-%012d', i % 8) AS department,
    printf('00000000-0000-4000-8002-%012d', i % 2000) AS borrower,
    printf('00000000-0000-4000-8003-%012d', i % 100000) AS archive,
    printf('00000000-0000-4000-8004-%012d', i) AS request,
    printf('00000000-0000-4000-8005-%012d', i) AS loan,
    datetime('2024-01-01', printf('+%d seconds', i * 90)) AS asked_at,
    datetime('2024-01-01', printf('+%d seconds', i * 90 + (i % 72) * 3600)) AS approved_at,
    datetime('2024-01-01', printf('+%d seconds', i * 90 + (i % 72) * 3600 + 3600)) AS out_at,
    i >= LOANS * 97 / 100 AS still_out,
    i % 200 = 7 AS lost
FROM n;

INSERT INTO departments (id, code, name, created_at, updated_at)
SELECT department, 'D' || i,
       CASE i WHEN 0 THEN '办公室' WHEN 1 THEN '人事处' WHEN 2 THEN '财务处' WHEN 3 THEN '科技处'
              WHEN 4 THEN '基建处' WHEN 5 THEN '后勤处' WHEN 6 THEN '档案馆' ELSE '法规处' END,
       datetime('now'), datetime('now')
FROM ids WHERE i < 8;

INSERT INTO users (id, username, display_name, password_hash, department_id, roles, clearance, status, created_at, updated_at)
SELECT printf('00000000-0000-4000-8002-%012d', i), 'reader' || i, '读者' || i, '!', department, ',', 'top_secret',
       'active', datetime('now'), datetime('now')
FROM ids WHERE i < 2000;

INSERT INTO archives (id, archive_code, barcode, title, category, classification, medium, location, status, search_text, created_at, updated_at)
SELECT archive, 'HB-' || i, 'HB' || i, '历史档案 ' || i,
       CASE i % 5 WHEN 0 THEN '文书' WHEN 1 THEN '人事' WHEN 2 THEN '会计' WHEN 3 THEN '科技' ELSE '基建' END,
       CASE i % 5 WHEN 0 THEN 'public' WHEN 1 THEN 'internal' WHEN 2 THEN 'internal' WHEN 3 THEN 'secret' ELSE 'confidential' END,
       'paper', 'A-' || (i / 1000), 'available', 'history', datetime('now'), datetime('now')
FROM ids WHERE i < 100000;
-- The application indexes the text of the archives it inserts; rows written here need the same.
INSERT INTO archives_fts (rowid, search_text) SELECT seq, search_text FROM archives WHERE id LIKE '00000000-0000-4000-8003-%';

INSERT INTO loan_requests (id, number, borrower_id, purpose, loan_type, days, fields, status, rules, approved_at, created_at, updated_at)
SELECT request, 'HB-' || i, borrower, 'history', 'take_out', 30, '{}',
       CASE WHEN still_out THEN 'fulfilled' ELSE 'closed' END,
       '{"max_days":30,"max_renewals":1,"renewal_requires_approval":false,"dual_signoff_on_return":false,"pickup_days":7}',
       approved_at, asked_at, asked_at
FROM ids WHERE i < LOANS;

INSERT INTO loans (id, request_id, archive_id, borrower_id, status, checked_out_at, checked_out_by, due_at, renewals,
                   returned_at, condition, inspected_at, updated_at)
SELECT loan, request, archive, borrower,
       CASE WHEN still_out THEN 'active' WHEN lost THEN 'lost' ELSE 'returned' END,
       out_at, printf('00000000-0000-4000-8002-%012d', 0), datetime(out_at, '+30 days'), 0,
       CASE WHEN still_out OR lost THEN NULL ELSE datetime(out_at, printf('+%d days', i % 41)) END,
       CASE WHEN still_out OR lost THEN NULL WHEN i % 100 = 3 THEN 'damaged' ELSE 'intact' END,
       CASE WHEN still_out OR lost THEN NULL ELSE datetime(out_at, printf('+%d days', i % 41)) END,
       out_at
FROM ids WHERE i < LOANS;

ANALYZE;
