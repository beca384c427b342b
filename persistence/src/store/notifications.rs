//! In-app notifications: every reminder and every notice lands here, in `/me/notifications`.

use dangan_domain::{access::Principal, mail, Classification};
use diesel::prelude::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{
    db::write_transaction,
    from_db_time,
    schema::{notifications, users},
    sql_types::DbId,
    store::entities,
    to_db_time, Conn, Page, PageRequest, PersistenceError,
};

const MAIL_PENDING: &str = "pending";
/// How long a claimed e-mail is its sender's before another instance may try.
const MAIL_LEASE: Duration = Duration::minutes(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: Uuid,
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

/// Tells `user_id` about `entity`, inside the caller's transaction, when they may be told about
/// something of `classification` (the clearance wall: a notice names its archive); otherwise
/// nothing is written.
pub(crate) fn notify(
    conn: &mut Conn,
    now: OffsetDateTime,
    user_id: Uuid,
    kind: &str,
    message: &Message,
    entity: (&str, Uuid),
    classification: Option<Classification>,
) -> Result<(), PersistenceError> {
    let recipient = crate::store::users::get(conn, user_id)?;
    if !recipient.principal().may_be_told(classification) {
        return Ok(());
    }
    let address = recipient.email.filter(|a| !a.trim().is_empty());
    let email = address.map(|_| (MAIL_PENDING, to_db_time(now)));
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
            notifications::email_status.eq(email.map(|e| e.0)),
            notifications::email_next_at.eq(email.map(|e| e.1)),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a notice about an archive above its reader's clearance says instead of its text.
const WITHHELD: &str =
    "内容已隐藏：涉及超出您密级的档案 / Withheld: about an archive above your clearance";

/// Withholds the text of notices whose archives are now above `reader`'s clearance (lowered
/// since they were sent): the notice stays listed, its subject and body say it is withheld.
fn redact_for(
    conn: &mut Conn,
    reader: &Principal,
    notices: &mut [Notification],
) -> Result<(), PersistenceError> {
    if reader.sees_every_classification() {
        return Ok(());
    }
    let refs: Vec<_> = notices
        .iter()
        .map(|n| (n.entity_type.clone(), n.entity_id))
        .collect();
    let found = entities::classifications(conn, &refs)?;
    for notice in notices.iter_mut() {
        let about = found
            .get(&(notice.entity_type.clone(), notice.entity_id))
            .copied();
        if !reader.may_be_told(about) {
            notice.subject = WITHHELD.to_owned();
            notice.body = WITHHELD.to_owned();
        }
    }
    Ok(())
}

/// `reader`'s notifications, newest first (ids are time-ordered UUIDv7), optionally unread only.
pub fn list(
    conn: &mut Conn,
    reader: &Principal,
    unread_only: bool,
    page: &PageRequest<Uuid>,
) -> Result<Page<Notification, Uuid>, PersistenceError> {
    let mut query = notifications::table
        .filter(notifications::user_id.eq(DbId(reader.id)))
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
    let mut notices: Vec<Notification> = rows.into_iter().map(Notification::from).collect();
    redact_for(conn, reader, &mut notices)?;
    Ok(Page::from_rows(notices, page.limit, |n: &Notification| {
        n.id
    }))
}

/// Marks one of the user's notifications read (reading it again keeps the first time); another
/// user's notification does not exist for them.
pub fn mark_read(
    conn: &mut Conn,
    now: OffsetDateTime,
    user_id: Uuid,
    id: Uuid,
) -> Result<(), PersistenceError> {
    let mine = notifications::table
        .filter(notifications::id.eq(DbId(id)))
        .filter(notifications::user_id.eq(DbId(user_id)));
    diesel::update(mine.filter(notifications::read_at.is_null()))
        .set(notifications::read_at.eq(Some(to_db_time(now))))
        .execute(conn)?;
    mine.select(notifications::id).first::<DbId>(conn)?;
    Ok(())
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

/// A notification to send by e-mail.
#[derive(Debug, Clone)]
pub struct Mail {
    pub notification_id: Uuid,
    pub to_name: String,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    /// The number of this attempt (1 = the first).
    pub attempt: i32,
}

/// Claims up to `limit` e-mails due now. Notices too old to be news are expired first.
pub fn claim_mail(
    conn: &mut Conn,
    now: OffsetDateTime,
    limit: i64,
) -> Result<Vec<Mail>, PersistenceError> {
    diesel::update(
        notifications::table
            .filter(notifications::email_status.eq(MAIL_PENDING))
            .filter(notifications::created_at.lt(to_db_time(now - mail::FRESH_FOR))),
    )
    .set((
        notifications::email_status.eq("expired"),
        notifications::email_next_at.eq(None::<time::PrimitiveDateTime>),
    ))
    .execute(conn)?;
    let due = notifications::table
        .inner_join(users::table)
        .filter(notifications::email_status.eq(MAIL_PENDING))
        .filter(notifications::email_next_at.le(to_db_time(now)))
        .order(notifications::email_next_at.asc())
        .limit(limit)
        .select((
            notifications::id,
            users::display_name,
            users::email,
            notifications::subject,
            notifications::body,
            notifications::email_attempts,
        ))
        .load::<(DbId, String, Option<String>, String, String, i32)>(conn)?;
    let mut claimed = Vec::new();
    for (id, to_name, address, subject, body, attempts) in due {
        let taken = diesel::update(
            notifications::table
                .find(id)
                .filter(notifications::email_status.eq(MAIL_PENDING))
                .filter(notifications::email_attempts.eq(attempts)),
        )
        .set((
            notifications::email_attempts.eq(attempts + 1),
            notifications::email_next_at.eq(Some(to_db_time(now + MAIL_LEASE))),
        ))
        .execute(conn)?;
        if let (1, Some(to_address)) = (taken, address) {
            claimed.push(Mail {
                notification_id: id.0,
                to_name,
                to_address,
                subject,
                body,
                attempt: attempts + 1,
            });
        }
    }
    Ok(claimed)
}

/// Records how sending went: sent, or tried again later (1, 2, 4, 8 minutes), or failed.
pub fn record_mail(
    conn: &mut Conn,
    now: OffsetDateTime,
    mail: &Mail,
    outcome: Result<(), String>,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        let (status, next, error) = match (&outcome, mail::retry_delay(mail.attempt)) {
            (Ok(()), _) => ("sent", None, None),
            (Err(e), Some(delay)) => (MAIL_PENDING, Some(to_db_time(now + delay)), Some(e.clone())),
            (Err(e), None) => ("failed", None, Some(e.clone())),
        };
        diesel::update(notifications::table.find(DbId(mail.notification_id)))
            .set((
                notifications::email_status.eq(status),
                notifications::email_next_at.eq(next),
                notifications::email_error.eq(error),
            ))
            .execute(conn)?;
        Ok(())
    })
}
