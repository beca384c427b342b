//! The catalogue: create, read within clearance, edit, retire, search, and all-or-nothing import.

use std::collections::{HashMap, HashSet};

use dangan_domain::{
    archival::{
        check_filing, item_in_volume, read_item_in_volume, ArchiveKind, CodeParts, CodeRule,
        Opening, Retention,
    },
    archive::{check_retire, check_status_edit, ArchiveFields, ArchiveStatus, Filing, Medium},
    audit::NewAuditEvent,
    search::QueryTerm,
    shelf::PATH_SEPARATOR,
    Classification, FieldError,
};
use diesel::{
    dsl::sql,
    expression::BoxableExpression,
    prelude::*,
    sql_types::{BigInt, Bool, Integer, Text},
};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::{
    archives::{date_text, get, retention_ends_on, visible, Archive, ArchiveRow},
    categories::{self, Category},
    codes,
    fonds::{self, Fonds},
    locations,
};
use crate::{
    db::{write_transaction, MultiBackend},
    events,
    import::{ImportCounts, ImportMode, ImportOutcome, ImportRequest, ImportRow, RowError, CHUNK},
    schema::{archives, departments as departments_table},
    sql_types::{DbId, SearchVector},
    store::{
        departments,
        rollups::{self, Hold, Scope},
    },
    AnyConnection, Conflict, Conn, Page, PageRequest, PersistenceError,
};

/// Who is changing the catalogue: the clearance bounds what they may see and write.
#[derive(Debug, Clone, Copy)]
pub struct Cataloguer {
    pub id: Uuid,
    pub clearance: Classification,
}

/// A new archive as PostgreSQL's bulk import writes it: with its search vector, which the store
/// otherwise derives from `search_text` itself (see `index_text_since`). The fields of
/// `ArchiveRow` are listed again because diesel's COPY takes flat rows only (an embedded row
/// nests its columns), and `ArchiveRow` cannot hold the vector: SQLite has no such column.
#[derive(Insertable)]
#[diesel(table_name = archives, treat_none_as_default_value = false)]
struct IndexedArchiveRow<'a> {
    id: DbId,
    archive_code: &'a str,
    barcode: &'a str,
    title: &'a str,
    description: Option<&'a str>,
    category: &'a str,
    classification: &'a str,
    medium: &'a str,
    department_id: Option<DbId>,
    location: &'a str,
    year: Option<i32>,
    pages: Option<i32>,
    status: &'a str,
    search_text: &'a str,
    search_vector: SearchVector<'a>,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
    version: i32,
    fonds_id: Option<DbId>,
    category_code: Option<&'a str>,
    retention: Option<&'a str>,
    retention_ends_on: Option<&'a str>,
    opening: &'a str,
    opens_on: Option<&'a str>,
    kind: &'a str,
    volume_id: Option<DbId>,
    org_code: Option<&'a str>,
    series_code: Option<&'a str>,
    location_id: Option<DbId>,
}

impl<'a> From<&'a ArchiveRow> for IndexedArchiveRow<'a> {
    fn from(row: &'a ArchiveRow) -> Self {
        IndexedArchiveRow {
            id: row.id,
            archive_code: &row.archive_code,
            barcode: &row.barcode,
            title: &row.title,
            description: row.description.as_deref(),
            category: &row.category,
            classification: &row.classification,
            medium: &row.medium,
            department_id: row.department_id,
            location: &row.location,
            year: row.year,
            pages: row.pages,
            status: &row.status,
            search_text: &row.search_text,
            search_vector: SearchVector(&row.search_text),
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
            fonds_id: row.fonds_id,
            category_code: row.category_code.as_deref(),
            retention: row.retention.as_deref(),
            retention_ends_on: row.retention_ends_on.as_deref(),
            opening: &row.opening,
            opens_on: row.opens_on.as_deref(),
            kind: &row.kind,
            volume_id: row.volume_id,
            org_code: row.org_code.as_deref(),
            series_code: row.series_code.as_deref(),
            location_id: row.location_id,
        }
    }
}

/// Unique violations name the column on both stores (PostgreSQL's constraint, SQLite's message).
fn on_duplicate(error: diesel::result::Error) -> PersistenceError {
    use diesel::result::{DatabaseErrorKind, Error};
    match &error {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            let names = format!(
                "{} {}",
                info.constraint_name().unwrap_or_default(),
                info.message()
            );
            if names.contains("barcode") {
                PersistenceError::Conflict(Conflict::DuplicateBarcode)
            } else {
                PersistenceError::Conflict(Conflict::DuplicateArchiveCode)
            }
        }
        _ => error.into(),
    }
}

fn audit_view(f: &ArchiveFields) -> serde_json::Value {
    json!({
        "archive_code": f.archive_code,
        "barcode": f.barcode,
        "title": f.title,
        "category": f.category,
        "classification": f.classification,
        "location": f.location,
    })
}

/// The newest archive's `seq` (0 for an empty catalogue): archives inserted after this call, in
/// the same transaction, are the ones with a greater `seq`.
fn last_seq(conn: &mut Conn) -> Result<i64, PersistenceError> {
    Ok(archives::table
        .select(diesel::dsl::max(archives::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Adds the archives inserted after `seq` to the store's full-text index, in one statement: on
/// SQLite the FTS5 table, on PostgreSQL the search vector. Migration 000010 says why neither is
/// a trigger or a generated column; a change of `search_text` still reaches the index by trigger.
fn index_text_since(conn: &mut Conn, seq: i64) -> Result<(), PersistenceError> {
    match conn {
        AnyConnection::Sqlite(sqlite) => diesel::sql_query(
            "INSERT INTO archives_fts (rowid, search_text) \
             SELECT seq, search_text FROM archives WHERE seq > ?",
        )
        .bind::<BigInt, _>(seq)
        .execute(sqlite)?,
        AnyConnection::Postgresql(pg) => diesel::sql_query(
            "UPDATE archives SET search_vector = archive_search_vector(search_text) WHERE seq > $1",
        )
        .bind::<BigInt, _>(seq)
        .execute(pg)?,
    };
    Ok(())
}

/// The fonds and categories archives are filed under, read once for a create or a whole
/// import (a site keeps a handful of each).
struct Frame {
    fonds: Vec<Fonds>,
    categories: Vec<Category>,
}

impl Frame {
    fn read(conn: &mut Conn) -> Result<Frame, PersistenceError> {
        Ok(Frame {
            fonds: fonds::all(conn)?,
            categories: categories::all(conn)?,
        })
    }
}

/// Where a new or changed archive is filed: its fonds, its category (if a category stands
/// behind its label) and the volume it sits in.
struct Placement<'f> {
    fonds: &'f Fonds,
    category: Option<&'f Category>,
    volume: Option<Archive>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> PersistenceError {
    PersistenceError::Invalid(vec![FieldError::new(field, message)])
}

/// Finds the fonds, category and volume the fields name, and files the fields under them: no
/// fonds is the site's own, and a category named by its label alone is filed under too (the
/// label kept as written; a category the archivist `stated` by code labels it with its name).
/// The volumes and shelves a create or an import has read, each once.
#[derive(Default)]
struct Seen {
    volumes: HashMap<Uuid, Archive>,
    shelves: HashMap<Uuid, String>,
}

fn place<'f>(
    conn: &mut Conn,
    frame: &'f Frame,
    seen: &mut Seen,
    fields: &mut ArchiveFields,
    clearance: Classification,
    stated: bool,
) -> Result<Placement<'f>, PersistenceError> {
    let filed = &mut fields.filing;
    let fonds = match filed.fonds_id {
        Some(id) => frame.fonds.iter().find(|f| f.id == id),
        None => frame.fonds.iter().find(|f| f.is_default),
    }
    .ok_or(PersistenceError::MissingReference("fonds_id"))?;
    filed.fonds_id = Some(fonds.id);
    let category = match &filed.category_code {
        Some(code) => Some(
            frame
                .categories
                .iter()
                .find(|c| c.code == *code)
                .ok_or_else(|| {
                    invalid(
                "category_code",
                format!("{code:?} is not a category (GET /api/v1/archive-categories lists them)"),
            )
                })?,
        ),
        None => frame
            .categories
            .iter()
            .find(|c| c.labelled(&fields.category)),
    };
    if let Some(category) = category {
        // A label the archivist wrote stays theirs; a category named by its code alone is
        // labelled with its name.
        if stated || fields.category.is_empty() {
            fields.category = category.name.clone();
        }
        filed.category_code = Some(category.code.clone());
    }
    let volume = match filed.volume_id {
        None => None,
        Some(id) => {
            let volume = match seen.volumes.get(&id) {
                Some(volume) => volume.clone(),
                None => {
                    let volume = get(conn, id, clearance).map_err(|e| match e {
                        PersistenceError::NotFound => {
                            PersistenceError::MissingReference("volume_id")
                        }
                        other => other,
                    })?;
                    seen.volumes.insert(id, volume.clone());
                    volume
                }
            };
            if volume.fields.filing.kind != ArchiveKind::Volume {
                return Err(invalid("volume_id", "is an item, not a volume"));
            }
            if volume.fields.filing.fonds_id != filed.fonds_id
                || volume.fields.filing.category_code != filed.category_code
            {
                return Err(invalid(
                    "volume_id",
                    "is a volume of another fonds or category",
                ));
            }
            Some(volume)
        }
    };
    if let Some(id) = filed.location_id {
        // The shelf's path is the archive's location label.
        fields.location = match seen.shelves.get(&id) {
            Some(path) => path.clone(),
            None => {
                let path = locations::get(conn, id)
                    .map_err(|e| match e {
                        PersistenceError::NotFound => {
                            PersistenceError::MissingReference("location_id")
                        }
                        other => other,
                    })?
                    .path;
                seen.shelves.insert(id, path.clone());
                path
            }
        };
    }
    Ok(Placement {
        fonds,
        category,
        volume,
    })
}

/// What giving an archive its 档号 asks of the store.
enum CodePlan {
    /// The code stands as given, outside any rule.
    Kept,
    /// A code given by hand, read by the rule: its number is taken in its group.
    Given { group: String, number: u32 },
    /// The next number of the group, written as `Numbering` says.
    Next { group: String, numbering: Numbering },
}

enum Numbering {
    Rule(CodeRule),
    InVolume,
}

impl Numbering {
    fn code(&self, group: &str, number: u32) -> Result<String, PersistenceError> {
        match self {
            Numbering::Rule(rule) => rule.numbered(group, number),
            Numbering::InVolume => item_in_volume(group, number),
        }
        .map_err(|e| PersistenceError::Invalid(vec![e]))
    }
}

/// How the archive gets its 档号: built by its category's rule when it has none, or, when the
/// archivist `stated` the category, the one given checked against the rule (taking from it the
/// year, retention, 机构 and 类别号 the fields leave open); a code given with a category label
/// alone is taken as given, as the catalogue before the model and its clients wrote codes.
fn plan_code(
    fields: &mut ArchiveFields,
    placed: &Placement,
    stated: bool,
) -> Result<CodePlan, PersistenceError> {
    let rule = placed.category.and_then(|c| c.rule.as_ref());
    // A number alone is a code given by its number: the rule writes the rest around it.
    let number = fields.filing.number.take();
    let given = !fields.archive_code.is_empty() || number.is_some();
    let kept = !stated && !fields.archive_code.is_empty();
    let Some(rule) = rule.filter(|_| !kept) else {
        if fields.archive_code.is_empty() {
            return Err(invalid(
                "archive_code",
                "is required: the category has no 档号 rule to build it",
            ));
        }
        return Ok(CodePlan::Kept);
    };
    let filed = &mut fields.filing;
    let errors = check_filing(Some(rule.arrangement()), filed.kind, filed.volume_id);
    if !errors.is_empty() {
        return Err(PersistenceError::Invalid(errors));
    }
    let one = |e| PersistenceError::Invalid(vec![e]);
    if let Some(volume) = &placed.volume {
        let group = volume.fields.archive_code.clone();
        if let (Some(number), true) = (number, fields.archive_code.is_empty()) {
            fields.archive_code = item_in_volume(&group, number).map_err(one)?;
        }
        return Ok(if given {
            let number = read_item_in_volume(&group, &fields.archive_code).map_err(one)?;
            CodePlan::Given { group, number }
        } else {
            CodePlan::Next {
                group,
                numbering: Numbering::InVolume,
            }
        });
    }
    let parts = CodeParts {
        fonds: &placed.fonds.number,
        category: placed.category.map(|c| c.code.as_str()).unwrap_or_default(),
        year: fields.year,
        retention: filed.retention,
        org: filed.org_code.as_deref(),
        series: filed.series_code.as_deref(),
    };
    if let (Some(number), true) = (number, fields.archive_code.is_empty()) {
        let group = rule.group(&parts).map_err(PersistenceError::Invalid)?;
        fields.archive_code = rule.numbered(&group, number).map_err(one)?;
        return Ok(CodePlan::Given { group, number });
    }
    if given {
        let read = rule.read(&fields.archive_code, &parts).map_err(one)?;
        fields.year = fields.year.or(read.year);
        filed.retention = filed.retention.or(read.retention);
        filed.org_code = filed.org_code.take().or(read.org);
        filed.series_code = filed.series_code.take().or(read.series);
        Ok(CodePlan::Given {
            group: read.group,
            number: read.number,
        })
    } else {
        Ok(CodePlan::Next {
            group: rule.group(&parts).map_err(PersistenceError::Invalid)?,
            numbering: Numbering::Rule(rule.clone()),
        })
    }
}

/// Files one archive and gives it its 档号 (see `plan_code`).
fn file_one(
    conn: &mut Conn,
    fields: &mut ArchiveFields,
    clearance: Classification,
    stated: bool,
) -> Result<(), PersistenceError> {
    let frame = Frame::read(conn)?;
    let placed = place(
        conn,
        &frame,
        &mut Seen::default(),
        fields,
        clearance,
        stated,
    )?;
    match plan_code(fields, &placed, stated)? {
        CodePlan::Kept => {}
        CodePlan::Given { group, number } => codes::given(conn, &group, number)?,
        CodePlan::Next { group, numbering } => {
            let number = codes::take(conn, &group, 1)?;
            fields.archive_code = numbering.code(&group, number)?;
        }
    }
    Ok(())
}

/// Files every row of an import and gives each its 档号 (see `plan_code`): the frame read once,
/// each volume once, and one counter update per group, however many rows it numbers. A dry
/// run takes no number. A row filed wrongly gets its errors.
fn file_rows(
    conn: &mut Conn,
    rows: &mut [ImportRow<ArchiveFields>],
    clearance: Classification,
    dry_run: bool,
) -> Result<Vec<RowError>, PersistenceError> {
    let frame = Frame::read(conn)?;
    let mut seen = Seen::default();
    let mut errors = Vec::new();
    let mut next: Vec<(String, Numbering, Vec<usize>)> = Vec::new();
    let mut next_of: HashMap<String, usize> = HashMap::new();
    let mut given: HashMap<String, u32> = HashMap::new();
    let refused = |errors: &mut Vec<RowError>, row: i64, error: PersistenceError| match error {
        PersistenceError::Invalid(fields) => {
            errors.extend(
                fields
                    .into_iter()
                    .map(|e| RowError::new(row, &e.field, e.message)),
            );
            Ok(())
        }
        PersistenceError::MissingReference(field) => {
            errors.push(RowError::new(row, field, "does not exist"));
            Ok(())
        }
        other => Err(other),
    };
    for (i, r) in rows.iter_mut().enumerate() {
        let stated = r.fields.filing.category_code.is_some();
        let plan = place(conn, &frame, &mut seen, &mut r.fields, clearance, stated)
            .and_then(|placed| plan_code(&mut r.fields, &placed, stated));
        match plan {
            Ok(CodePlan::Kept) => {}
            Ok(CodePlan::Given { group, number }) => {
                let highest = given.entry(group).or_default();
                *highest = (*highest).max(number);
            }
            Ok(CodePlan::Next { group, numbering }) => match next_of.get(&group) {
                Some(&k) => next[k].2.push(i),
                None => {
                    next_of.insert(group.clone(), next.len());
                    next.push((group, numbering, vec![i]));
                }
            },
            Err(error) => refused(&mut errors, r.row, error)?,
        }
    }
    if !errors.is_empty() || dry_run {
        return Ok(errors);
    }
    for (group, number) in given {
        codes::given(conn, &group, number)?;
    }
    for (group, numbering, indexes) in next {
        let count = i32::try_from(indexes.len()).unwrap_or(i32::MAX);
        let first = codes::take(conn, &group, count)?;
        for (number, i) in (first..).zip(indexes) {
            match numbering.code(&group, number) {
                Ok(code) => rows[i].fields.archive_code = code,
                Err(error) => refused(&mut errors, rows[i].row, error)?,
            }
        }
    }
    Ok(errors)
}

pub fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    by: Cataloguer,
    mut fields: ArchiveFields,
) -> Result<Archive, PersistenceError> {
    let errors = fields.check(by.clearance);
    if !errors.is_empty() {
        return Err(PersistenceError::Invalid(errors));
    }
    write_transaction(conn, |conn| {
        if let Some(department_id) = fields.department_id {
            departments::ensure_exists(conn, department_id, "department_id")?;
        }
        let stated = fields.filing.category_code.is_some();
        file_one(conn, &mut fields, by.clearance, stated)?;
        let fields = fields;
        let archive = Archive {
            id: Uuid::now_v7(),
            fields,
            status: ArchiveStatus::Available,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let before = last_seq(conn)?;
        diesel::insert_into(archives::table)
            .values(ArchiveRow::from_archive(&archive))
            .execute(conn)
            .map_err(on_duplicate)?;
        index_text_since(conn, before)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("archive.created", "archive")
                .by(Some(by.id))
                .on(archive.id)
                .with(audit_view(&archive.fields)),
        )?;
        Ok(archive)
    })
}

/// A partial edit; `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default)]
pub struct ArchivePatch {
    pub archive_code: Option<String>,
    pub barcode: Option<String>,
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub category: Option<String>,
    pub classification: Option<Classification>,
    pub medium: Option<Medium>,
    pub department_id: Option<Option<Uuid>>,
    pub location: Option<String>,
    pub year: Option<Option<i32>>,
    pub pages: Option<Option<i32>>,
    pub status: Option<ArchiveStatus>,
    pub fonds_id: Option<Uuid>,
    pub category_code: Option<Option<String>>,
    pub retention: Option<Option<Retention>>,
    pub opening: Option<Opening>,
    pub opens_on: Option<Option<time::Date>>,
    pub kind: Option<ArchiveKind>,
    pub volume_id: Option<Option<Uuid>>,
    pub org_code: Option<Option<String>>,
    pub series_code: Option<Option<String>>,
    pub location_id: Option<Option<Uuid>>,
}

impl ArchivePatch {
    fn apply(self, f: &ArchiveFields) -> ArchiveFields {
        let filed = &f.filing;
        ArchiveFields {
            archive_code: self.archive_code.unwrap_or_else(|| f.archive_code.clone()),
            barcode: self.barcode.unwrap_or_else(|| f.barcode.clone()),
            title: self.title.unwrap_or_else(|| f.title.clone()),
            description: self.description.unwrap_or_else(|| f.description.clone()),
            category: self.category.unwrap_or_else(|| f.category.clone()),
            classification: self.classification.unwrap_or(f.classification),
            medium: self.medium.unwrap_or(f.medium),
            department_id: self.department_id.unwrap_or(f.department_id),
            location: self.location.unwrap_or_else(|| f.location.clone()),
            year: self.year.unwrap_or(f.year),
            pages: self.pages.unwrap_or(f.pages),
            filing: Filing {
                fonds_id: self.fonds_id.or(filed.fonds_id),
                category_code: self
                    .category_code
                    .unwrap_or_else(|| filed.category_code.clone()),
                retention: self.retention.unwrap_or(filed.retention),
                opening: self.opening.unwrap_or(filed.opening),
                opens_on: self.opens_on.unwrap_or(filed.opens_on),
                kind: self.kind.unwrap_or(filed.kind),
                volume_id: self.volume_id.unwrap_or(filed.volume_id),
                org_code: self.org_code.unwrap_or_else(|| filed.org_code.clone()),
                series_code: self
                    .series_code
                    .unwrap_or_else(|| filed.series_code.clone()),
                location_id: self.location_id.unwrap_or(filed.location_id),
                number: None,
            },
        }
    }
}

/// Whether the change moves the archive's loans and requests to other counters.
fn recounted(before: &Archive, after: &Archive) -> bool {
    before.fields.classification != after.fields.classification
        || before.fields.category != after.fields.category
}

/// Writes `after` over `before` if nobody changed the row in between.
fn store_change(
    conn: &mut Conn,
    before: &Archive,
    after: &Archive,
) -> Result<(), PersistenceError> {
    let recounted = recounted(before, after);
    if recounted {
        rollups::hold(conn, Hold::Dimensions)?;
        rollups::hold(conn, Hold::Archives(&[before.id]))?;
        rollups::uncount(conn, Scope::Archive(before.id))?;
    }
    let updated = diesel::update(
        archives::table
            .find(DbId(before.id))
            .filter(archives::version.eq(before.version)),
    )
    .set(ArchiveRow::from_archive(after))
    .execute(conn)
    .map_err(on_duplicate)?;
    if updated == 0 {
        return Err(PersistenceError::VersionMismatch);
    }
    if recounted {
        rollups::count(conn, Scope::Archive(before.id))?;
    }
    Ok(())
}

pub fn update(
    conn: &mut Conn,
    now: OffsetDateTime,
    by: Cataloguer,
    id: Uuid,
    patch: ArchivePatch,
    expected_version: Option<i32>,
) -> Result<Archive, PersistenceError> {
    write_transaction(conn, |conn| {
        if patch.classification.is_some() || patch.category.is_some() {
            rollups::hold(conn, Hold::Dimensions)?;
        }
        // Taken before reading, so a loan of it changing meanwhile is waited for, not refused
        // as an edit of a stale read.
        rollups::hold(conn, Hold::Archives(&[id]))?;
        let before = get(conn, id, by.clearance)?;
        if expected_version.is_some_and(|v| v != before.version) {
            return Err(PersistenceError::VersionMismatch);
        }
        let status = patch.status.unwrap_or(before.status);
        check_status_edit(before.status, status)?;
        let stated = matches!(patch.category_code, Some(Some(_)));
        let refiled = patch.archive_code.is_some()
            || patch.location_id.is_some()
            || patch.fonds_id.is_some()
            || patch.category_code.is_some()
            || patch.volume_id.is_some()
            || patch.kind.is_some();
        let mut fields = patch.apply(&before.fields);
        let errors = fields.check(by.clearance);
        if !errors.is_empty() {
            return Err(PersistenceError::Invalid(errors));
        }
        if refiled {
            file_one(conn, &mut fields, by.clearance, stated)?;
        }
        if let Some(department_id) = fields.department_id {
            departments::ensure_exists(conn, department_id, "department_id")?;
        }
        let after = Archive {
            fields,
            status,
            updated_at: now,
            version: before.version + 1,
            ..before.clone()
        };
        store_change(conn, &before, &after)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("archive.updated", "archive")
                .by(Some(by.id))
                .on(id)
                .with(json!({
                    "before": audit_view(&before.fields),
                    "after": audit_view(&after.fields),
                    "status": after.status,
                })),
        )?;
        Ok(after)
    })
}

pub fn retire(
    conn: &mut Conn,
    now: OffsetDateTime,
    by: Cataloguer,
    id: Uuid,
) -> Result<Archive, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = get(conn, id, by.clearance)?;
        check_retire(before.status)?;
        let after = Archive {
            status: ArchiveStatus::Retired,
            updated_at: now,
            version: before.version + 1,
            ..before.clone()
        };
        store_change(conn, &before, &after)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("archive.retired", "archive")
                .by(Some(by.id))
                .on(id)
                .with(json!({"previous_status": before.status})),
        )?;
        Ok(after)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchiveSort {
    CreatedAt,
    #[default]
    CreatedAtDesc,
    ArchiveCode,
    Title,
}

/// Where a page of a sorted search ends: the sort key of its last archive (and the id where the
/// key is not unique). Creation order is the catalogue's `seq`, the order archives were written,
/// which every filter's index also ends in, so a newest-first page reads only what it returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveCursor {
    Catalogued(i64),
    ArchiveCode(String),
    Title(String, Uuid),
}

/// What `GET /archives` asks for; the caller's clearance always applies.
#[derive(Debug, Clone)]
pub struct ArchiveSearch {
    pub terms: Option<Vec<QueryTerm>>,
    pub category: Option<String>,
    pub classification: Option<Classification>,
    pub status: Option<ArchiveStatus>,
    pub department_id: Option<Uuid>,
    pub medium: Option<Medium>,
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
    pub location_prefix: Option<String>,
    /// A 档号 prefix (`J001-WS·2019-Y`).
    pub code_prefix: Option<String>,
    pub filing: FilingFilter,
    pub clearance: Classification,
    pub sort: ArchiveSort,
}

/// Where the archives searched for are filed.
#[derive(Debug, Clone, Default)]
pub struct FilingFilter {
    pub fonds_id: Option<Uuid>,
    pub category_code: Option<String>,
    pub retention: Option<String>,
    pub opening: Option<Opening>,
    pub kind: Option<ArchiveKind>,
    pub volume_id: Option<Uuid>,
    /// What sits on this shelf or beneath it.
    pub location_id: Option<Uuid>,
}

/// FTS5 syntax: `"word"*` for a prefix, `"a b c"` for a phrase; all terms must match.
fn fts5_match(terms: &[QueryTerm]) -> String {
    terms
        .iter()
        .map(|t| match t {
            QueryTerm::Prefix(p) => format!("\"{p}\"*"),
            QueryTerm::Phrase(tokens) => format!("\"{}\"", tokens.join(" ")),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// tsquery syntax: `'word':*` for a prefix, `'a' <-> 'b'` for a phrase, joined by `&`.
fn tsquery(terms: &[QueryTerm]) -> String {
    terms
        .iter()
        .map(|t| match t {
            QueryTerm::Prefix(p) => format!("'{p}':*"),
            QueryTerm::Phrase(tokens) => {
                let quoted: Vec<String> = tokens.iter().map(|t| format!("'{t}'")).collect();
                format!("({})", quoted.join(" <-> "))
            }
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

type SearchRow = (i64, ArchiveRow);
type SearchQuery<'a> = diesel::dsl::IntoBoxed<
    'a,
    diesel::dsl::Select<
        archives::table,
        (
            archives::seq,
            diesel::dsl::AsSelect<ArchiveRow, crate::db::MultiBackend>,
        ),
    >,
    crate::db::MultiBackend,
>;

/// `indexed`, or when the search walks a sort order's index, `column = value` written so that no
/// index serves it (see `filtered`).
fn shared_value<E>(walked: bool, indexed: E, column: &str, value: &str) -> Condition
where
    E: BoxableExpression<archives::table, MultiBackend, SqlType = Bool> + 'static,
{
    if walked {
        Box::new(sql::<Bool>(&format!("({column} || '') = ")).bind::<Text, _>(value.to_owned()))
    } else {
        Box::new(indexed)
    }
}

/// Every condition of a search but the full-text one, and no order or limit.
///
/// Sorted by code or title, the conditions on a few values shared by many archives (category,
/// classification and the reader's clearance, status, department, medium) are written so that
/// no index serves them: walking that order's index and testing each row finds a page after a
/// few hundred rows, where both stores otherwise chose the condition's index and sorted every
/// archive of the category (SQLite: 254 ms at 1,000,000 archives; a clearance and a category,
/// 357 ms). A year has its own indexes in both orders (migration 000017).
///
/// `shelf` is the path of `filing.location_id`, which `search` reads first.
fn filtered(search: &ArchiveSearch, shelf: Option<&str>) -> SearchQuery<'static> {
    let mut query = archives::table
        .select((archives::seq, ArchiveRow::as_select()))
        .into_boxed();
    let walked = matches!(search.sort, ArchiveSort::ArchiveCode | ArchiveSort::Title);
    if search.clearance != Classification::TopSecret {
        let visible = visible(search.clearance);
        query = if walked {
            query.filter(sql::<Bool>(&format!(
                "(archives.classification || '') IN ({})",
                rollups::literals(visible.into_iter())
            )))
        } else {
            query.filter(archives::classification.eq_any(visible))
        };
    }
    if let Some(category) = &search.category {
        let indexed = archives::category.eq(category.clone());
        query = query.filter(shared_value(walked, indexed, "archives.category", category));
    }
    if let Some(classification) = search.classification {
        let value = classification.as_str();
        let indexed = archives::classification.eq(value);
        query = query.filter(shared_value(
            walked,
            indexed,
            "archives.classification",
            value,
        ));
    }
    if let Some(status) = search.status {
        let indexed = archives::status.eq(status.as_str());
        query = query.filter(shared_value(
            walked,
            indexed,
            "archives.status",
            status.as_str(),
        ));
    }
    if let Some(department_id) = search.department_id {
        // Only filtered on: an archive of no department (NULL) is no match either way.
        let indexed = archives::department_id
            .eq(DbId(department_id))
            .assume_not_null();
        let column = "CAST(archives.department_id AS TEXT)";
        let id = department_id.hyphenated().to_string();
        query = query.filter(shared_value(walked, indexed, column, &id));
    }
    if let Some(medium) = search.medium {
        let indexed = archives::medium.eq(medium.as_str());
        query = query.filter(shared_value(
            walked,
            indexed,
            "archives.medium",
            medium.as_str(),
        ));
    }
    match (search.year_from, search.year_to) {
        (Some(from), Some(to)) if from == to => query = query.filter(archives::year.eq(from)),
        (from, to) => {
            // `+year` is not indexable: for a range, walking newest-first and testing the year
            // reads far fewer rows than the year index followed by a sort of the whole range.
            if let Some(from) = from {
                query = query.filter(sql::<Bool>("+archives.year >= ").bind::<Integer, _>(from));
            }
            if let Some(to) = to {
                query = query.filter(sql::<Bool>("+archives.year <= ").bind::<Integer, _>(to));
            }
        }
    }
    if let Some(prefix) = search.location_prefix.as_deref().filter(|p| !p.is_empty()) {
        // Locations compare bytewise on both stores; U+10FFFF sorts after every continuation.
        query = query
            .filter(archives::location.ge(prefix.to_owned()))
            .filter(archives::location.lt(format!("{prefix}\u{10FFFF}")));
    }
    if let Some(prefix) = search.code_prefix.as_deref().filter(|p| !p.is_empty()) {
        // The unique index on the code serves the range, in 档号 order.
        query = query
            .filter(archives::archive_code.ge(prefix.to_owned()))
            .filter(archives::archive_code.lt(format!("{prefix}\u{10FFFF}")));
    }
    let filed = &search.filing;
    if let Some(fonds_id) = filed.fonds_id {
        let indexed = archives::fonds_id.eq(DbId(fonds_id)).assume_not_null();
        let id = fonds_id.hyphenated().to_string();
        query = query.filter(shared_value(
            walked,
            indexed,
            "CAST(archives.fonds_id AS TEXT)",
            &id,
        ));
    }
    if let Some(code) = &filed.category_code {
        let indexed = archives::category_code.eq(code.clone()).assume_not_null();
        query = query.filter(shared_value(
            walked,
            indexed,
            "archives.category_code",
            code,
        ));
    }
    if let Some(retention) = &filed.retention {
        query = query.filter(archives::retention.eq(retention.clone()));
    }
    if let Some(opening) = filed.opening {
        query = query.filter(archives::opening.eq(opening.as_str()));
    }
    if let Some(kind) = filed.kind {
        query = query.filter(archives::kind.eq(kind.as_str()));
    }
    if let Some(volume_id) = filed.volume_id {
        query = query.filter(archives::volume_id.eq(DbId(volume_id)));
    }
    if let Some(path) = shelf {
        // The archives on a shelf carry its path: the place and what is beneath it is one
        // range of the location index.
        let below = format!("{path}{PATH_SEPARATOR}");
        query = query
            .filter(
                archives::location.eq(path.to_owned()).or(archives::location
                    .ge(below.clone())
                    .and(archives::location.lt(format!("{below}\u{10FFFF}")))),
            )
            .filter(archives::location_id.is_not_null());
    }
    query
}

/// The archives after `(title, id)` in title order.
fn after_title(title: &str, id: Uuid) -> Condition {
    Box::new(
        archives::title.gt(title.to_owned()).or(archives::title
            .eq(title.to_owned())
            .and(archives::id.gt(DbId(id)))),
    )
}

/// Continues after the cursor, in the search's order, one more row than a page.
fn ordered(
    mut query: SearchQuery<'static>,
    sort: ArchiveSort,
    after: Option<&ArchiveCursor>,
    limit: i64,
) -> Result<SearchQuery<'static>, PersistenceError> {
    query = match (sort, after) {
        (ArchiveSort::CreatedAtDesc, Some(ArchiveCursor::Catalogued(seq))) => {
            query.filter(archives::seq.lt(*seq))
        }
        (ArchiveSort::CreatedAt, Some(ArchiveCursor::Catalogued(seq))) => {
            query.filter(archives::seq.gt(*seq))
        }
        (ArchiveSort::ArchiveCode, Some(ArchiveCursor::ArchiveCode(code))) => {
            query.filter(archives::archive_code.gt(code.clone()))
        }
        (ArchiveSort::Title, Some(ArchiveCursor::Title(title, id))) => {
            query.filter(after_title(title, *id))
        }
        (_, None) => query,
        (_, Some(_)) => {
            return Err(PersistenceError::Invalid(vec![FieldError::new(
                "cursor",
                "belongs to another sort",
            )]))
        }
    };
    Ok(match sort {
        ArchiveSort::CreatedAtDesc => query.order(archives::seq.desc()),
        ArchiveSort::CreatedAt => query.order(archives::seq.asc()),
        ArchiveSort::ArchiveCode => query.order(archives::archive_code.asc()),
        ArchiveSort::Title => query.order((archives::title.asc(), archives::id.asc())),
    }
    .limit(limit))
}

#[derive(QueryableByName)]
struct FtsHit {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rowid: i64,
}

/// Rows the SQLite full-text index matches read this many at a time, in catalogue order.
const FTS_BATCH: i64 = 512;

/// A newest-first (or oldest-first) keyword search on SQLite, streamed from the full-text index
/// in catalogue order: a common word then reads one batch instead of materialising every match,
/// and a rare one reads its few matches.
fn search_sqlite_fts(
    conn: &mut Conn,
    search: &ArchiveSearch,
    shelf: Option<&str>,
    matches: &str,
    page: &PageRequest<ArchiveCursor>,
) -> Result<Vec<SearchRow>, PersistenceError> {
    let descending = search.sort == ArchiveSort::CreatedAtDesc;
    let mut bound = match &page.after {
        Some(ArchiveCursor::Catalogued(seq)) => Some(*seq),
        _ => None,
    };
    let wanted = page.limit + 1;
    let mut rows: Vec<SearchRow> = Vec::new();
    loop {
        let (comparison, direction) = if descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let hits = diesel::sql_query(format!(
            "SELECT rowid FROM archives_fts WHERE archives_fts MATCH ? AND rowid {comparison} ? \
             ORDER BY rowid {direction} LIMIT ?"
        ))
        .bind::<Text, _>(matches)
        .bind::<diesel::sql_types::BigInt, _>(bound.unwrap_or(if descending {
            i64::MAX
        } else {
            i64::MIN
        }))
        .bind::<diesel::sql_types::BigInt, _>(FTS_BATCH)
        .load::<FtsHit>(conn)?;
        let Some(last) = hits.last().map(|h| h.rowid) else {
            break;
        };
        let seqs: Vec<i64> = hits.iter().map(|h| h.rowid).collect();
        let missing = wanted - i64::try_from(rows.len()).unwrap_or(wanted);
        let query = ordered(
            filtered(search, shelf).filter(archives::seq.eq_any(seqs)),
            search.sort,
            None,
            missing,
        )?;
        rows.extend(query.load::<SearchRow>(conn)?);
        if i64::try_from(rows.len()).unwrap_or(wanted) >= wanted
            || i64::try_from(hits.len()).unwrap_or(0) < FTS_BATCH
        {
            break;
        }
        bound = Some(last);
    }
    Ok(rows)
}

type Condition = Box<dyn BoxableExpression<archives::table, MultiBackend, SqlType = Bool>>;

/// The full-text condition of a search on either store. Tokens hold only letters and digits
/// (domain::search), so quoting them is safe. `indexed: false` writes PostgreSQL's test so the
/// GIN index cannot serve it (see `search_postgres_fts`).
fn full_text(sqlite: bool, terms: &[QueryTerm], indexed: bool) -> Condition {
    if sqlite {
        return Box::new(
            sql::<Bool>(
                "archives.seq IN (SELECT rowid FROM archives_fts WHERE archives_fts MATCH ",
            )
            .bind::<Text, _>(fts5_match(terms))
            .sql(")"),
        );
    }
    let vector = if indexed {
        "archives.search_vector"
    } else {
        "coalesce(archives.search_vector, ''::tsvector)"
    };
    Box::new(
        sql::<Bool>(&format!("{vector} @@ CAST("))
            .bind::<Text, _>(tsquery(terms))
            .sql(" AS tsquery)"),
    )
}

/// How many archives, in the page's sort order, a PostgreSQL keyword search checks row by row
/// before it asks the full-text index for the rest.
const PG_WINDOW: i64 = 20_000;

/// The sort key of the archive `PG_WINDOW` places after `after` in `sort` order, matching or
/// not; `None` when fewer archives are left.
fn window_edge(
    conn: &mut Conn,
    sort: ArchiveSort,
    after: Option<&ArchiveCursor>,
) -> Result<Option<ArchiveCursor>, PersistenceError> {
    let descending = sort == ArchiveSort::CreatedAtDesc;
    // Only the sort key is read, from its index: whole rows cost a heap page each (120 ms).
    match (sort, after) {
        (ArchiveSort::ArchiveCode, after) => {
            let mut edge_query = archives::table.select(archives::archive_code).into_boxed();
            if let Some(ArchiveCursor::ArchiveCode(code)) = after {
                edge_query = edge_query.filter(archives::archive_code.gt(code.clone()));
            }
            return Ok(edge_query
                .order(archives::archive_code.asc())
                .offset(PG_WINDOW)
                .first::<String>(conn)
                .optional()?
                .map(ArchiveCursor::ArchiveCode));
        }
        (ArchiveSort::Title, after) => {
            let mut edge_query = archives::table
                .select((archives::title, archives::id))
                .into_boxed();
            if let Some(ArchiveCursor::Title(title, id)) = after {
                edge_query = edge_query.filter(after_title(title, *id));
            }
            return Ok(edge_query
                .order((archives::title.asc(), archives::id.asc()))
                .offset(PG_WINDOW)
                .first::<(String, DbId)>(conn)
                .optional()?
                .map(|(title, id)| ArchiveCursor::Title(title, id.0)));
        }
        (ArchiveSort::CreatedAt | ArchiveSort::CreatedAtDesc, _) => {}
    }
    // Catalogue order reads only `seq`, from its index.
    let mut edge_query = archives::table.select(archives::seq).into_boxed();
    if let Some(ArchiveCursor::Catalogued(seq)) = after {
        edge_query = if descending {
            edge_query.filter(archives::seq.lt(*seq))
        } else {
            edge_query.filter(archives::seq.gt(*seq))
        };
    }
    edge_query = if descending {
        edge_query.order(archives::seq.desc())
    } else {
        edge_query.order(archives::seq.asc())
    };
    Ok(edge_query
        .offset(PG_WINDOW)
        .limit(1)
        .first(conn)
        .optional()?
        .map(ArchiveCursor::Catalogued))
}

/// Only the archives up to `edge` (included) in `sort` order.
fn up_to(
    query: SearchQuery<'static>,
    sort: ArchiveSort,
    edge: &ArchiveCursor,
) -> SearchQuery<'static> {
    match (sort, edge) {
        (ArchiveSort::CreatedAtDesc, ArchiveCursor::Catalogued(seq)) => {
            query.filter(archives::seq.ge(*seq))
        }
        (ArchiveSort::CreatedAt, ArchiveCursor::Catalogued(seq)) => {
            query.filter(archives::seq.le(*seq))
        }
        (ArchiveSort::ArchiveCode, ArchiveCursor::ArchiveCode(code)) => {
            query.filter(archives::archive_code.le(code.clone()))
        }
        (ArchiveSort::Title, ArchiveCursor::Title(title, id)) => query.filter(
            archives::title.lt(title.clone()).or(archives::title
                .eq(title.clone())
                .and(archives::id.le(DbId(*id)))),
        ),
        _ => query,
    }
}

/// A keyword search on PostgreSQL, in two steps: the `PG_WINDOW` archives after the cursor, in
/// the page's order, are checked row by row (cheap when the words are common); only if they
/// hold too few matches does the GIN index find the rest, which are then sorted. PostgreSQL
/// left to itself assumes matches are spread evenly: it underestimates phrases and several words
/// badly enough to fetch and sort tens of thousands of matches, and, sorted by code or title,
/// walked a whole index of 1,000,000 archives (3–15 s) when the matches sat at its far end.
fn search_postgres_fts(
    conn: &mut Conn,
    search: &ArchiveSearch,
    shelf: Option<&str>,
    terms: &[QueryTerm],
    page: &PageRequest<ArchiveCursor>,
) -> Result<Vec<SearchRow>, PersistenceError> {
    let matching = |indexed: bool| filtered(search, shelf).filter(full_text(false, terms, indexed));
    let after = page.after.as_ref();
    let Some(edge) = window_edge(conn, search.sort, after)? else {
        return Ok(ordered(matching(true), search.sort, after, page.limit + 1)?.load(conn)?);
    };
    let near = up_to(matching(false), search.sort, &edge);
    let mut rows: Vec<SearchRow> = ordered(near, search.sort, after, page.limit + 1)?.load(conn)?;
    let missing = page.limit + 1 - i64::try_from(rows.len()).unwrap_or(0);
    if missing > 0 {
        let far = ordered(matching(true), search.sort, Some(&edge), missing)?;
        // Sorted by code or title, an expression keeps PostgreSQL from walking that index
        // again. Newest first keeps the planner's choice: forcing the GIN index there made
        // keyword + filter searches sort thousands of matches (p99 41 → 160 ms).
        let far = match search.sort {
            ArchiveSort::ArchiveCode => far.order(archives::archive_code.concat("")),
            ArchiveSort::Title => far.order((archives::title.concat(""), archives::id.asc())),
            ArchiveSort::CreatedAt | ArchiveSort::CreatedAtDesc => far,
        };
        rows.extend(far.load::<SearchRow>(conn)?);
    }
    Ok(rows)
}

/// The cursor that continues a page after `row`.
fn cursor_of(sort: ArchiveSort, (seq, row): &SearchRow) -> ArchiveCursor {
    match sort {
        ArchiveSort::CreatedAt | ArchiveSort::CreatedAtDesc => ArchiveCursor::Catalogued(*seq),
        ArchiveSort::ArchiveCode => ArchiveCursor::ArchiveCode(row.archive_code.clone()),
        ArchiveSort::Title => ArchiveCursor::Title(row.title.clone(), row.id.0),
    }
}

/// The archives of the catalogue that match, within the caller's clearance, one page at a time.
pub fn search(
    conn: &mut Conn,
    search: &ArchiveSearch,
    page: &PageRequest<ArchiveCursor>,
) -> Result<Page<Archive, ArchiveCursor>, PersistenceError> {
    let shelf = match search.filing.location_id {
        None => None,
        Some(id) => Some(
            locations::get(conn, id)
                .map_err(|e| match e {
                    PersistenceError::NotFound => PersistenceError::MissingReference("location_id"),
                    other => other,
                })?
                .path,
        ),
    };
    let catalogue_order = matches!(
        search.sort,
        ArchiveSort::CreatedAt | ArchiveSort::CreatedAtDesc
    );
    let sqlite = matches!(conn, AnyConnection::Sqlite(_));
    let rows = match &search.terms {
        Some(terms) if catalogue_order && sqlite => {
            search_sqlite_fts(conn, search, shelf.as_deref(), &fts5_match(terms), page)?
        }
        Some(terms) if !sqlite => search_postgres_fts(conn, search, shelf.as_deref(), terms, page)?,
        terms => {
            let mut query = filtered(search, shelf.as_deref());
            if let Some(terms) = terms {
                query = query.filter(full_text(sqlite, terms, true));
            }
            ordered(query, search.sort, page.after.as_ref(), page.limit + 1)?
                .load::<SearchRow>(conn)?
        }
    };
    let sort = search.sort;
    let page = Page::from_rows(rows, page.limit, move |row: &SearchRow| {
        cursor_of(sort, row)
    });
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|(_, row)| row.into_archive())
            .collect(),
        next: page.next,
    })
}

fn existing_by_code(
    conn: &mut Conn,
    codes: &[&str],
) -> Result<HashMap<String, Archive>, PersistenceError> {
    let mut found = HashMap::new();
    for chunk in codes.chunks(CHUNK) {
        let rows = archives::table
            .filter(archives::archive_code.eq_any(chunk))
            .select(ArchiveRow::as_select())
            .load::<ArchiveRow>(conn)?;
        for row in rows {
            let archive = row.into_archive();
            found.insert(archive.fields.archive_code.clone(), archive);
        }
    }
    Ok(found)
}

fn barcode_owners(
    conn: &mut Conn,
    barcodes: &[&str],
) -> Result<HashMap<String, String>, PersistenceError> {
    let mut owners = HashMap::new();
    for chunk in barcodes.chunks(CHUNK) {
        let rows = archives::table
            .filter(archives::barcode.eq_any(chunk))
            .select((archives::barcode, archives::archive_code))
            .load::<(String, String)>(conn)?;
        owners.extend(rows);
    }
    Ok(owners)
}

fn existing_departments(conn: &mut Conn, ids: &[Uuid]) -> Result<HashSet<Uuid>, PersistenceError> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        let chunk: Vec<DbId> = chunk.iter().copied().map(DbId).collect();
        let rows = departments_table::table
            .filter(departments_table::id.eq_any(chunk))
            .select(departments_table::id)
            .load::<DbId>(conn)?;
        found.extend(rows.into_iter().map(Uuid::from));
    }
    Ok(found)
}

/// After a bulk write the planner's statistics (and PostgreSQL's cached plans, made while the
/// table was small) no longer fit: a second 100,000-row import otherwise ran its look-ups as
/// full scans. On PostgreSQL only the columns those look-ups read are sampled (0.07 s at
/// 100,000 rows where the whole table took 0.30 s, most of it the search vectors); autovacuum
/// analyzes the rest once a tenth of the table has changed.
fn refresh_statistics(conn: &mut Conn) -> Result<(), PersistenceError> {
    match conn {
        AnyConnection::Postgresql(pg) => {
            diesel::sql_query("ANALYZE archives (archive_code, barcode)").execute(pg)?
        }
        AnyConnection::Sqlite(sqlite) => diesel::sql_query("PRAGMA optimize").execute(sqlite)?,
    };
    Ok(())
}

/// Imports rows all-or-nothing in one transaction: every row is checked against the file and
/// the catalogue first; one bad row writes nothing. One audit event records the whole import.
pub fn import(
    conn: &mut Conn,
    now: OffsetDateTime,
    by: Cataloguer,
    rows: Vec<ImportRow<ArchiveFields>>,
    request: &ImportRequest,
) -> Result<ImportOutcome, PersistenceError> {
    // A large import's pages outgrow SQLite's 2 MiB default cache, which then spills to the
    // WAL again and again; give the import room, then hand the pool its connection back as it was.
    let sqlite_cache = |conn: &mut Conn, kib: i64| match conn {
        AnyConnection::Sqlite(sqlite) => diesel::sql_query(format!("PRAGMA cache_size = -{kib}"))
            .execute(sqlite)
            .map(drop),
        AnyConnection::Postgresql(_) => Ok(()),
    };
    sqlite_cache(conn, 262_144)?;
    let outcome = import_rows(conn, now, by, rows, request);
    sqlite_cache(conn, 2_000)?;
    outcome
}

fn import_rows(
    conn: &mut Conn,
    now: OffsetDateTime,
    by: Cataloguer,
    rows: Vec<ImportRow<ArchiveFields>>,
    request: &ImportRequest,
) -> Result<ImportOutcome, PersistenceError> {
    write_transaction(conn, |conn| {
        let mut rows = rows;
        let mut errors = file_rows(conn, &mut rows, by.clearance, request.dry_run)?;
        let mut first_code: HashMap<&str, i64> = HashMap::new();
        let mut first_barcode: HashMap<&str, i64> = HashMap::new();
        for r in &rows {
            // A code a dry run would build is not known yet; it cannot repeat another.
            let repeated = if r.fields.archive_code.is_empty() {
                None
            } else {
                first_code.insert(&r.fields.archive_code, r.row)
            };
            if let Some(first) = repeated {
                errors.push(RowError::new(
                    r.row,
                    "archive_code",
                    format!("repeats row {first}"),
                ));
                first_code.insert(&r.fields.archive_code, first);
            }
            if let Some(first) = first_barcode.insert(&r.fields.barcode, r.row) {
                errors.push(RowError::new(
                    r.row,
                    "barcode",
                    format!("repeats row {first}"),
                ));
                first_barcode.insert(&r.fields.barcode, first);
            }
        }
        let codes: Vec<&str> = rows
            .iter()
            .map(|r| r.fields.archive_code.as_str())
            .collect();
        let barcodes: Vec<&str> = rows.iter().map(|r| r.fields.barcode.as_str()).collect();
        let mut department_ids: Vec<Uuid> =
            rows.iter().filter_map(|r| r.fields.department_id).collect();
        department_ids.sort();
        department_ids.dedup();
        let existing = existing_by_code(conn, &codes)?;
        let owners = barcode_owners(conn, &barcodes)?;
        let departments_found = existing_departments(conn, &department_ids)?;

        let mut inserts = Vec::new();
        let mut updates = Vec::new();
        let mut counts = ImportCounts::default();
        for r in rows {
            if r.fields
                .department_id
                .is_some_and(|d| !departments_found.contains(&d))
            {
                errors.push(RowError::new(r.row, "department_id", "does not exist"));
            }
            // Never which archive holds it: that one may be above the caller's clearance.
            if owners
                .get(&r.fields.barcode)
                .is_some_and(|o| *o != r.fields.archive_code)
            {
                errors.push(RowError::new(r.row, "barcode", "already in use"));
            }
            match existing.get(&r.fields.archive_code) {
                None => {
                    counts.created += 1;
                    inserts.push(ArchiveRow::from(Archive {
                        id: Uuid::now_v7(),
                        fields: r.fields,
                        status: ArchiveStatus::Available,
                        created_at: now,
                        updated_at: now,
                        version: 1,
                    }));
                }
                Some(_) if request.mode == ImportMode::Insert => {
                    errors.push(RowError::new(
                        r.row,
                        "archive_code",
                        "already exists (mode=insert)",
                    ));
                }
                Some(before) if !before.fields.classification.visible_to(by.clearance) => {
                    errors.push(RowError::new(r.row, "archive_code", "already exists"));
                }
                Some(before) if before.fields == r.fields => counts.unchanged += 1,
                Some(before) => {
                    counts.updated += 1;
                    updates.push((
                        before.clone(),
                        Archive {
                            fields: r.fields,
                            updated_at: now,
                            version: before.version + 1,
                            ..before.clone()
                        },
                    ));
                }
            }
        }
        // A refused or dry run writes no archive, but it is still a probe of the catalogue: who
        // asked what (the payload's digest) and what they learnt is audited like an import.
        let probe = |action: &'static str, outcome: serde_json::Value| {
            NewAuditEvent::new(action, "archive")
                .by(Some(by.id))
                .with(json!({
                    "outcome": outcome,
                    "mode": request.mode.as_str(),
                    "format": request.format,
                    "sha256": request.payload_sha256,
                }))
        };
        if !errors.is_empty() {
            errors.sort_by(|a, b| a.row.cmp(&b.row).then_with(|| a.field.cmp(&b.field)));
            events::record(
                conn,
                now,
                probe(
                    "archive.import_refused",
                    json!({"dry_run": request.dry_run, "errors": errors.len()}),
                ),
            )?;
            return Ok(ImportOutcome::Refused(errors));
        }
        if request.dry_run {
            events::record(
                conn,
                now,
                probe(
                    "archive.import_checked",
                    json!({"created": counts.created, "updated": counts.updated, "unchanged": counts.unchanged}),
                ),
            )?;
            return Ok(ImportOutcome::Done(counts));
        }
        let catalogued = last_seq(conn)?;
        // PostgreSQL takes the rows with their search vectors as one binary COPY. SQLite is
        // fastest with one cached single-row statement per row, then one statement for the
        // full-text index.
        match conn {
            AnyConnection::Postgresql(pg) => {
                let rows: Vec<IndexedArchiveRow> =
                    inserts.iter().map(IndexedArchiveRow::from).collect();
                diesel::copy_from(archives::table)
                    .from_insertable(&rows)
                    .execute(pg)
            }
            AnyConnection::Sqlite(sqlite) => inserts.iter().try_fold(0, |n, row| {
                diesel::insert_into(archives::table)
                    .values(row)
                    .execute(sqlite)
                    .map(|k| n + k)
            }),
        }
        .map_err(on_duplicate)?;
        if let AnyConnection::Sqlite(_) = conn {
            index_text_since(conn, catalogued)?;
        }
        if updates
            .iter()
            .any(|(before, after)| recounted(before, after))
        {
            rollups::hold(conn, Hold::Dimensions)?;
        }
        for (before, after) in &updates {
            store_change(conn, before, after)?;
        }
        refresh_statistics(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("archive.imported", "archive")
                .by(Some(by.id))
                .with(json!({
                    "created": counts.created,
                    "updated": counts.updated,
                    "unchanged": counts.unchanged,
                    "mode": request.mode.as_str(),
                    "format": request.format,
                    "sha256": request.payload_sha256,
                })),
        )?;
        Ok(ImportOutcome::Done(counts))
    })
}

/// Where a page of the retention report ends: the last archive's end date and 档号.
pub type RetentionCursor = (String, String);

/// The archives whose retention period ends before `before`, within clearance, soonest first
/// and in 档号 order within a day: what an appraisal (鉴定) goes through.
pub fn retention_due(
    conn: &mut Conn,
    before: time::Date,
    clearance: Classification,
    page: &PageRequest<RetentionCursor>,
) -> Result<Page<Archive, RetentionCursor>, PersistenceError> {
    let mut query = archives::table
        .select(ArchiveRow::as_select())
        .filter(archives::retention_ends_on.lt(date_text(before)))
        .filter(archives::classification.eq_any(visible(clearance)))
        .into_boxed();
    if let Some((ends_on, code)) = &page.after {
        query = query.filter(
            archives::retention_ends_on
                .gt(ends_on.clone())
                .or(archives::retention_ends_on
                    .eq(ends_on.clone())
                    .and(archives::archive_code.gt(code.clone()))),
        );
    }
    let rows = query
        .order((
            archives::retention_ends_on.asc(),
            archives::archive_code.asc(),
        ))
        .limit(page.limit + 1)
        .load::<ArchiveRow>(conn)?;
    let items = rows.into_iter().map(ArchiveRow::into_archive).collect();
    Ok(Page::from_rows(items, page.limit, |a: &Archive| {
        (
            retention_ends_on(&a.fields)
                .map(date_text)
                .unwrap_or_default(),
            a.fields.archive_code.clone(),
        )
    }))
}
