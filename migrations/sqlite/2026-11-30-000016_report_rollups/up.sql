-- Report rollups: per-day counters of loans and requests, so that whole-history reports read
-- thousands of rows instead of millions. A use case that changes what a report counts inserts
-- signed rows into a *_changes table in its own transaction (insert only: no shared row on the
-- write path); a background fold adds them into the *_days tables and deletes them. Reports read
-- both. The server fills the *_days tables from the loans and requests the first time it starts
-- on this schema (the settings key `report_rollups`), and `dangan rollups rebuild` refills them.
--
-- loan_days counts loans by the day (UTC, YYYY-MM-DD) they were checked out and the archive's
-- classification (so reports stay within the reader's clearance), once per dimension:
-- `department` (key: the borrower's department id, '' for none), `category` (key: the archive's
-- category) and `all` (key ''). Every counter of a loan that came back is final; the loans still
-- out past due are counted at read time, since that depends on the time of reading.
CREATE TABLE loan_days (
    dimension TEXT NOT NULL,
    key TEXT NOT NULL,
    day TEXT NOT NULL,
    classification TEXT NOT NULL,
    loans INTEGER NOT NULL,
    back INTEGER NOT NULL,
    late_back INTEGER NOT NULL,
    loan_seconds REAL NOT NULL,
    damaged INTEGER NOT NULL,
    lost INTEGER NOT NULL,
    PRIMARY KEY (dimension, day, key, classification)
);

CREATE TABLE loan_day_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dimension TEXT NOT NULL,
    key TEXT NOT NULL,
    day TEXT NOT NULL,
    classification TEXT NOT NULL,
    loans INTEGER NOT NULL,
    back INTEGER NOT NULL,
    late_back INTEGER NOT NULL,
    loan_seconds REAL NOT NULL,
    damaged INTEGER NOT NULL,
    lost INTEGER NOT NULL
);

-- request_days counts requests by the day they were made and their ceiling (the highest
-- classification among their archives).
CREATE TABLE request_days (
    day TEXT NOT NULL,
    ceiling TEXT NOT NULL,
    requests INTEGER NOT NULL,
    approved INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    approval_seconds REAL NOT NULL,
    PRIMARY KEY (day, ceiling)
);

CREATE TABLE request_day_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    day TEXT NOT NULL,
    ceiling TEXT NOT NULL,
    requests INTEGER NOT NULL,
    approved INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    approval_seconds REAL NOT NULL
);
