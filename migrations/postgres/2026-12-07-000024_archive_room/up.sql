-- The archive room's model (issue 27): fonds, categories with their 档号 rule, and where each
-- archive is filed. The site's own fonds is made at the first start after this migration, from
-- DANGAN_FONDS_NUMBER and DANGAN_FONDS_NAME, and every archive without a fonds moves into it.

CREATE TABLE fonds (
    id UUID PRIMARY KEY,
    number TEXT COLLATE "C" NOT NULL UNIQUE,
    name TEXT NOT NULL,
    formed_by TEXT,
    start_year INTEGER,
    end_year INTEGER,
    -- The fonds an archive created without one is filed in; exactly one row has it.
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX fonds_default_key ON fonds (is_default) WHERE is_default;

CREATE TABLE archive_categories (
    code TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    -- The 档号 rule as a template (domain::archival::CodeRule); NULL: codes are given, not built.
    rule TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);

-- The last number given in each group (a 档号 without its number): the row is locked by the
-- transaction that takes the next one, so numbers are consecutive and never given twice.
CREATE TABLE archive_code_counters (
    group_key TEXT COLLATE "C" PRIMARY KEY,
    last_number INTEGER NOT NULL
);

ALTER TABLE archives ADD COLUMN fonds_id UUID REFERENCES fonds (id);
ALTER TABLE archives ADD COLUMN category_code TEXT COLLATE "C" REFERENCES archive_categories (code);
ALTER TABLE archives ADD COLUMN retention TEXT;
-- ISO dates (YYYY-MM-DD), which compare as text.
ALTER TABLE archives ADD COLUMN retention_ends_on TEXT COLLATE "C";
ALTER TABLE archives ADD COLUMN opening TEXT NOT NULL DEFAULT 'controlled';
ALTER TABLE archives ADD COLUMN opens_on TEXT;
ALTER TABLE archives ADD COLUMN kind TEXT NOT NULL DEFAULT 'item';
ALTER TABLE archives ADD COLUMN volume_id UUID REFERENCES archives (id);
ALTER TABLE archives ADD COLUMN org_code TEXT;
ALTER TABLE archives ADD COLUMN series_code TEXT;
CREATE INDEX archives_fonds_idx ON archives (fonds_id);
CREATE INDEX archives_category_code_idx ON archives (category_code);
CREATE INDEX archives_retention_ends_idx ON archives (retention_ends_on) WHERE retention_ends_on IS NOT NULL;
CREATE INDEX archives_volume_idx ON archives (volume_id) WHERE volume_id IS NOT NULL;

-- The categories in common use, each with the 档号 rule DA/T 13-2022 gives its arrangement:
-- by item (按件) for 文书 and the media, by volume (按卷) for the technical, accounting and
-- personnel files. Sites rename, add and change them through /archive-categories.
INSERT INTO archive_categories (code, name, rule, created_at, updated_at, version) VALUES
    ('WS', '文书档案', 'fonds-category·year-retention-item', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('KJ', '科技档案', 'fonds-category·project-volume', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('KY', '科研档案', 'fonds-category·project-volume', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('JJ', '基建档案', 'fonds-category·project-volume', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('SB', '设备档案', 'fonds-category·project-volume', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('CP', '产品档案', 'fonds-category·project-volume', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('KU', '会计档案', 'fonds-category·year-retention-volume', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('RS', '人事档案', 'fonds-category·catalogue-volume', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('ZP', '照片档案', 'fonds-category·year-retention-item', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('LY', '录音档案', 'fonds-category·year-retention-item', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('LX', '录像档案', 'fonds-category·year-retention-item', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('SW', '实物档案', 'fonds-category·year-retention-item', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('SJ', '业务数据档案', 'fonds-category·year-retention-item', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('YJ', '公务电子邮件档案', 'fonds-category·year-retention-item', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1),
    ('WY', '网页信息档案', 'fonds-category·year-retention-item', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1);

-- An existing archive whose category label is a seeded code or name ('文书', '文书档案', 'WS')
-- is filed under that category; any other label stays a label with no category behind it
-- until an archivist files it. Codes already given stay as they are: a 档号, once given,
-- does not change (DA/T 13-2022 4.3).
UPDATE archives SET category_code = (
    SELECT c.code FROM archive_categories c
    WHERE archives.category IN (c.code, c.name, replace(c.name, '档案', ''))
    LIMIT 1)
WHERE EXISTS (
    SELECT 1 FROM archive_categories c
    WHERE archives.category IN (c.code, c.name, replace(c.name, '档案', '')));
