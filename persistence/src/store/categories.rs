//! Archive categories (门类) and the 档号 rule each builds its codes with.

use crate::{
    from_db_time, schema::archive_categories as categories, to_db_time, Conflict, Conn,
    PersistenceError,
};
use dangan_domain::archival::CodeRule;
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub code: String,
    pub name: String,
    /// None: the category's codes are given by archivists, not built.
    pub rule: Option<CodeRule>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = categories, treat_none_as_null = true)]
pub(crate) struct CategoryRow {
    code: String,
    name: String,
    rule: Option<String>,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
    version: i32,
}

impl CategoryRow {
    fn into_category(self) -> Category {
        Category {
            code: self.code,
            name: self.name,
            // Written from a parsed rule; one that no longer parses builds no code rather than
            // a wrong one.
            rule: self.rule.and_then(|r| r.parse().ok()),
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            version: self.version,
        }
    }

    fn from_category(c: &Category) -> Self {
        CategoryRow {
            code: c.code.clone(),
            name: c.name.clone(),
            rule: c.rule.as_ref().map(CodeRule::to_string),
            created_at: to_db_time(c.created_at),
            updated_at: to_db_time(c.updated_at),
            version: c.version,
        }
    }
}

impl Category {
    /// Whether a category label names this category: its code, its name, or its name without
    /// 档案 (`文书` for 文书档案), as catalogues kept before the model wrote it.
    pub fn labelled(&self, label: &str) -> bool {
        self.code == label || self.name == label || self.name.strip_suffix("档案") == Some(label)
    }
}

pub(crate) fn audit_view(c: &Category) -> serde_json::Value {
    json!({"code": c.code, "name": c.name, "rule": c.rule.as_ref().map(CodeRule::to_string)})
}

pub fn get(conn: &mut Conn, code: &str) -> Result<Category, PersistenceError> {
    Ok(categories::table
        .find(code)
        .select(CategoryRow::as_select())
        .first::<CategoryRow>(conn)?
        .into_category())
}

/// Every category, by code.
pub fn all(conn: &mut Conn) -> Result<Vec<Category>, PersistenceError> {
    Ok(categories::table
        .order(categories::code.asc())
        .select(CategoryRow::as_select())
        .load::<CategoryRow>(conn)?
        .into_iter()
        .map(CategoryRow::into_category)
        .collect())
}

pub(crate) fn insert(conn: &mut Conn, c: &Category) -> Result<(), PersistenceError> {
    diesel::insert_into(categories::table)
        .values(CategoryRow::from_category(c))
        .execute(conn)
        .map_err(|e| PersistenceError::on_unique(e, Conflict::DuplicateCode))?;
    Ok(())
}

/// Writes `after` over `before` if nobody changed the row in between.
pub(crate) fn store_change(
    conn: &mut Conn,
    before: &Category,
    after: &Category,
) -> Result<(), PersistenceError> {
    let updated = diesel::update(
        categories::table
            .find(&before.code)
            .filter(categories::version.eq(before.version)),
    )
    .set(CategoryRow::from_category(after))
    .execute(conn)?;
    if updated == 0 {
        return Err(PersistenceError::VersionMismatch);
    }
    Ok(())
}
