-- A generated lending history for the report benchmark (bench/reports.sh), PostgreSQL.
-- 8 departments, 2,000 borrowers, 100,000 archives, N loans (psql variable :loans) with one
-- request each, ninety seconds apart from 2024-01-01: 3 % still out (the newest), about a quarter
-- of the others back after their 30 days, 1 % damaged, 0.5 % lost.
CREATE TEMP TABLE n AS SELECT i FROM generate_series(0, GREATEST(:loans, 100000) - 1) AS i;

INSERT INTO departments (id, code, name, created_at, updated_at)
SELECT format('00000000-0000-4000-8001-%s', lpad(i::text, 12, '0'))::uuid, 'D' || i,
       (ARRAY['办公室','人事处','财务处','科技处','基建处','后勤处','档案馆','法规处'])[i + 1],
       now(), now()
FROM n WHERE i < 8;

INSERT INTO users (id, username, display_name, password_hash, department_id, roles, clearance, status, created_at, updated_at)
SELECT format('00000000-0000-4000-8002-%s', lpad(i::text, 12, '0'))::uuid, 'reader' || i, '读者' || i, '!',
       format('00000000-0000-4000-8001-%s', lpad((i % 8)::text, 12, '0'))::uuid, ',', 'top_secret', 'active', now(), now()
FROM n WHERE i < 2000;

INSERT INTO archives (id, archive_code, barcode, title, category, classification, medium, location, status, search_text, search_vector, created_at, updated_at)
SELECT format('00000000-0000-4000-8003-%s', lpad(i::text, 12, '0'))::uuid, 'HB-' || i, 'HB' || i, '历史档案 ' || i,
       (ARRAY['文书','人事','会计','科技','基建'])[i % 5 + 1],
       (ARRAY['public','internal','internal','secret','confidential'])[i % 5 + 1],
       'paper', 'A-' || (i / 1000), 'available', 'history', archive_search_vector('history'), now(), now()
FROM n WHERE i < 100000;

INSERT INTO loan_requests (id, number, borrower_id, purpose, loan_type, days, fields, status, rules, approved_at, created_at, updated_at)
SELECT format('00000000-0000-4000-8004-%s', lpad(i::text, 12, '0'))::uuid, 'HB-' || i,
       format('00000000-0000-4000-8002-%s', lpad((i % 2000)::text, 12, '0'))::uuid,
       'history', 'take_out', 30, '{}', CASE WHEN i >= :loans * 97 / 100 THEN 'fulfilled' ELSE 'closed' END,
       '{"max_days":30,"max_renewals":1,"renewal_requires_approval":false,"dual_signoff_on_return":false,"pickup_days":7}',
       timestamp '2024-01-01' + i * interval '90 seconds' + (i % 72) * interval '1 hour',
       timestamp '2024-01-01' + i * interval '90 seconds',
       timestamp '2024-01-01' + i * interval '90 seconds'
FROM n WHERE i < :loans;

INSERT INTO loans (id, request_id, archive_id, borrower_id, status, checked_out_at, checked_out_by, due_at, renewals,
                   returned_at, condition, inspected_at, updated_at)
SELECT format('00000000-0000-4000-8005-%s', lpad(i::text, 12, '0'))::uuid,
       format('00000000-0000-4000-8004-%s', lpad(i::text, 12, '0'))::uuid,
       format('00000000-0000-4000-8003-%s', lpad((i % 100000)::text, 12, '0'))::uuid,
       format('00000000-0000-4000-8002-%s', lpad((i % 2000)::text, 12, '0'))::uuid,
       CASE WHEN i >= :loans * 97 / 100 THEN 'active' WHEN i % 200 = 7 THEN 'lost' ELSE 'returned' END,
       out_at,
       format('00000000-0000-4000-8002-%s', lpad('0', 12, '0'))::uuid,
       out_at + interval '30 days', 0,
       CASE WHEN i >= :loans * 97 / 100 OR i % 200 = 7 THEN NULL ELSE out_at + (i % 41) * interval '1 day' END,
       CASE WHEN i >= :loans * 97 / 100 OR i % 200 = 7 THEN NULL WHEN i % 100 = 3 THEN 'damaged' ELSE 'intact' END,
       CASE WHEN i >= :loans * 97 / 100 OR i % 200 = 7 THEN NULL ELSE out_at + (i % 41) * interval '1 day' END,
       out_at
FROM (SELECT i, timestamp '2024-01-01' + i * interval '90 seconds' + (i % 72) * interval '1 hour' + interval '1 hour' AS out_at
      FROM n WHERE i < :loans) AS t;

ANALYZE;
