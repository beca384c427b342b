//! In-app notifications: every reminder and every notice lands here, in `/me/notifications`.

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    from_db_time, schema::notifications, sql_types::DbId, to_db_time, Conn, Page, PageRequest,
    PersistenceError,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub created_at: OffsetDateTime,
    pub read_at: Option<OffsetDateTime>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = notifications)]
struct NotificationRow {
    id: DbId,
    user_id: DbId,
    kind: String,
    subject: String,
    body: String,
    entity_type: String,
    entity_id: DbId,
    created_at: time::PrimitiveDateTime,
    read_at: Option<time::PrimitiveDateTime>,
}

impl From<NotificationRow> for Notification {
    fn from(row: NotificationRow) -> Self {
        Notification {
            id: row.id.0,
            user_id: row.user_id.0,
            kind: row.kind,
            subject: row.subject,
            body: row.body,
            entity_type: row.entity_type,
            entity_id: row.entity_id.0,
            created_at: from_db_time(row.created_at),
            read_at: row.read_at.map(from_db_time),
        }
    }
}

/// What a notification says, in Chinese and English.
pub(crate) struct Message {
    pub subject: String,
    pub body: String,
}

/// Tells `user_id` about `entity`, inside the caller's transaction.
pub(crate) fn notify(
    conn: &mut Conn,
    now: OffsetDateTime,
    user_id: Uuid,
    kind: &str,
    message: &Message,
    entity: (&str, Uuid),
) -> Result<(), PersistenceError> {
    diesel::insert_into(notifications::table)
        .values((
            notifications::id.eq(DbId(Uuid::now_v7())),
            notifications::user_id.eq(DbId(user_id)),
            notifications::kind.eq(kind),
            notifications::subject.eq(&message.subject),
            notifications::body.eq(&message.body),
            notifications::entity_type.eq(entity.0),
            notifications::entity_id.eq(DbId(entity.1)),
            notifications::created_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A user's notifications, newest first (ids are time-ordered UUIDv7), optionally unread only.
pub fn list(
    conn: &mut Conn,
    user_id: Uuid,
    unread_only: bool,
    page: &PageRequest<Uuid>,
) -> Result<Page<Notification, Uuid>, PersistenceError> {
    let mut query = notifications::table
        .filter(notifications::user_id.eq(DbId(user_id)))
        .select(NotificationRow::as_select())
        .order(notifications::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if unread_only {
        query = query.filter(notifications::read_at.is_null());
    }
    if let Some(after) = page.after {
        query = query.filter(notifications::id.lt(DbId(after)));
    }
    let rows = query.load::<NotificationRow>(conn)?;
    Ok(Page::from_rows(
        rows.into_iter().map(Notification::from).collect(),
        page.limit,
        |n: &Notification| n.id,
    ))
}

/// Marks one of the user's notifications read (reading it again keeps the first time).
pub fn mark_read(
    conn: &mut Conn,
    now: OffsetDateTime,
    user_id: Uuid,
    id: Uuid,
) -> Result<Notification, PersistenceError> {
    let mine = notifications::table
        .filter(notifications::id.eq(DbId(id)))
        .filter(notifications::user_id.eq(DbId(user_id)));
    diesel::update(mine.filter(notifications::read_at.is_null()))
        .set(notifications::read_at.eq(Some(to_db_time(now))))
        .execute(conn)?;
    Ok(mine
        .select(NotificationRow::as_select())
        .first::<NotificationRow>(conn)?
        .into())
}

/// Marks all of the user's notifications read; returns how many were unread.
pub fn mark_all_read(
    conn: &mut Conn,
    now: OffsetDateTime,
    user_id: Uuid,
) -> Result<usize, PersistenceError> {
    Ok(diesel::update(
        notifications::table
            .filter(notifications::user_id.eq(DbId(user_id)))
            .filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(Some(to_db_time(now))))
    .execute(conn)?)
}
