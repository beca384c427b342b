//! Reminders: due-soon reminders, overdue notices and escalations of loans, reminders and
//! escalations of waiting approval steps (the scheduler's tick is `api/src/scheduler.rs`).
//! Which reminders are due is `dangan_domain::reminder`'s rule; that each is sent once, however
//! many schedulers run, is the `reminders` table's primary key: a reminder, its notifications
//! and its audit event commit together, and a second scheduler inserting the same key finds it
//! taken.

use std::collections::HashSet;

use dangan_domain::{
    access::ceiling,
    audit::NewAuditEvent,
    loan::days_overdue,
    reminder::{Audience, Reminder, ReminderKind, ReminderSchedule},
    request::{RequestStatus, StepStatus},
    Classification, Role,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    db::write_transaction,
    events, from_db_time,
    schema::{
        archives, loan_requests, loans as loans_table, reminders, request_items, request_steps,
        step_approvers,
    },
    sql_types::DbId,
    store::{
        loans,
        notifications::{notify, Message},
        users,
    },
    to_db_time, AnyConnection, Conn, PersistenceError,
};

/// Sends the reminders and escalations due at `now`, each once; returns how many were sent and
/// to how many people.
pub fn send_due(
    conn: &mut Conn,
    now: OffsetDateTime,
    schedule: &ReminderSchedule,
) -> Result<(usize, usize), PersistenceError> {
    let (mut reminders, mut notifications) = (0, 0);
    for due in due_reminders(conn, now, schedule)? {
        if let Some(sent) = send_once(conn, now, &due)? {
            reminders += 1;
            notifications += sent;
        }
    }
    Ok((reminders, notifications))
}

/// A reminder that is due, with what it is about.
struct Due {
    reminder: Reminder,
    /// The loan id, or "<request id>/<step index>".
    key: String,
    subject: Subject,
}

enum Subject {
    Loan {
        id: Uuid,
        borrower_id: Uuid,
        due_at: OffsetDateTime,
        archive_code: String,
        title: String,
        classification: Classification,
    },
    Step {
        request_id: Uuid,
        number: String,
        step_index: i32,
        name: String,
        /// The highest classification among the request's archives.
        ceiling: Classification,
    },
}

impl Subject {
    /// What a recipient must be cleared for to be told about it.
    fn classification(&self) -> Classification {
        match self {
            Subject::Loan { classification, .. } => *classification,
            Subject::Step { ceiling, .. } => *ceiling,
        }
    }
}

fn due_reminders(
    conn: &mut Conn,
    now: OffsetDateTime,
    schedule: &ReminderSchedule,
) -> Result<Vec<Due>, PersistenceError> {
    let mut due = Vec::new();
    let open_loans = loans_table::table
        .inner_join(archives::table)
        .filter(loans_table::status.eq_any(loans::out_statuses()))
        .filter(loans_table::due_at.le(to_db_time(schedule.horizon(now))))
        .select((
            loans_table::id,
            loans_table::borrower_id,
            loans_table::due_at,
            archives::archive_code,
            archives::title,
            archives::classification,
        ))
        .load::<(DbId, DbId, time::PrimitiveDateTime, String, String, String)>(conn)?;
    for (id, borrower_id, due_at, archive_code, title, classification) in open_loans {
        let classification: Classification = classification
            .parse()
            .map_err(|e| PersistenceError::Corrupt(format!("archives.classification: {e}")))?;
        let due_at = from_db_time(due_at);
        for reminder in schedule.for_loan(due_at, now) {
            due.push(Due {
                reminder,
                key: id.0.to_string(),
                subject: Subject::Loan {
                    id: id.0,
                    borrower_id: borrower_id.0,
                    due_at,
                    archive_code: archive_code.clone(),
                    title: title.clone(),
                    classification,
                },
            });
        }
    }

    let pending_steps = request_steps::table
        .inner_join(loan_requests::table)
        .filter(request_steps::status.eq(StepStatus::Pending.as_str()))
        .filter(loan_requests::status.eq(RequestStatus::Pending.as_str()))
        .select((
            request_steps::request_id,
            request_steps::step_index,
            request_steps::name,
            loan_requests::number,
            loan_requests::created_at,
        ))
        .load::<(DbId, i32, String, String, time::PrimitiveDateTime)>(conn)?;
    for (request_id, step_index, name, number, created_at) in pending_steps {
        // A step waits from the last decision before it, or from the request itself.
        let last_decision = request_steps::table
            .filter(request_steps::request_id.eq(request_id))
            .filter(request_steps::step_index.lt(step_index))
            .select(diesel::dsl::max(request_steps::decided_at))
            .first::<Option<time::PrimitiveDateTime>>(conn)?;
        let since = from_db_time(last_decision.unwrap_or(created_at).max(created_at));
        let classifications = request_items::table
            .inner_join(archives::table)
            .filter(request_items::request_id.eq(request_id))
            .select(archives::classification)
            .load::<String>(conn)?
            .iter()
            .map(|c| c.parse::<Classification>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PersistenceError::Corrupt(format!("archives.classification: {e}")))?;
        for reminder in schedule.for_step(since, now) {
            due.push(Due {
                reminder,
                key: format!("{}/{step_index}", request_id.0),
                subject: Subject::Step {
                    request_id: request_id.0,
                    number: number.clone(),
                    step_index,
                    name: name.clone(),
                    ceiling: ceiling(classifications.iter().copied()),
                },
            });
        }
    }

    let sent = already_sent(conn, &due)?;
    due.retain(|d| {
        !sent.contains(&(
            d.reminder.kind.as_str().to_owned(),
            d.key.clone(),
            d.reminder.rung,
        ))
    });
    Ok(due)
}

/// Which of the due reminders went out in an earlier run, looked up in batches so a run over
/// many open loans stays a handful of queries.
fn already_sent(
    conn: &mut Conn,
    due: &[Due],
) -> Result<HashSet<(String, String, i64)>, PersistenceError> {
    let mut sent = HashSet::new();
    let keys: Vec<&str> = due.iter().map(|d| d.key.as_str()).collect();
    for chunk in keys.chunks(500) {
        sent.extend(
            reminders::table
                .filter(reminders::entity_key.eq_any(chunk))
                .select((reminders::kind, reminders::entity_key, reminders::rung))
                .load::<(String, String, i64)>(conn)?,
        );
    }
    Ok(sent)
}

/// Sends one reminder unless someone already has: returns how many people it reached.
fn send_once(
    conn: &mut Conn,
    now: OffsetDateTime,
    due: &Due,
) -> Result<Option<usize>, PersistenceError> {
    write_transaction(conn, |conn| {
        if !claim(conn, now, due)? {
            return Ok(None);
        }
        let recipients = recipients(conn, due)?;
        let message = message(due, now);
        let entity = match &due.subject {
            Subject::Loan { id, .. } => ("loan", *id),
            Subject::Step { request_id, .. } => ("loan_request", *request_id),
        };
        for user_id in &recipients {
            notify(
                conn,
                now,
                *user_id,
                due.reminder.kind.as_str(),
                &message,
                entity,
                Some(due.subject.classification()),
            )?;
        }
        diesel::update(
            reminders::table
                .filter(reminders::kind.eq(due.reminder.kind.as_str()))
                .filter(reminders::entity_key.eq(&due.key))
                .filter(reminders::rung.eq(due.reminder.rung)),
        )
        .set(reminders::recipients.eq(i32::try_from(recipients.len()).unwrap_or(i32::MAX)))
        .execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("reminder.sent", entity.0)
                .on(entity.1)
                .about(due.subject.classification())
                .with(json!({
                    "kind": due.reminder.kind,
                    "rung": due.reminder.rung,
                    "recipients": recipients,
                })),
        )?;
        Ok(Some(recipients.len()))
    })
}

/// Takes the reminder's key; false when another run already holds it.
fn claim(conn: &mut Conn, now: OffsetDateTime, due: &Due) -> Result<bool, PersistenceError> {
    let row = (
        reminders::kind.eq(due.reminder.kind.as_str()),
        reminders::entity_key.eq(&due.key),
        reminders::rung.eq(due.reminder.rung),
        reminders::sent_at.eq(to_db_time(now)),
        reminders::recipients.eq(0),
    );
    let inserted = match conn {
        AnyConnection::Postgresql(pg) => diesel::insert_into(reminders::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(pg)?,
        AnyConnection::Sqlite(sqlite) => diesel::insert_into(reminders::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(sqlite)?,
    };
    Ok(inserted == 1)
}

fn recipients(conn: &mut Conn, due: &Due) -> Result<Vec<Uuid>, PersistenceError> {
    let mut people = match (&due.subject, due.reminder.kind.audience()) {
        (Subject::Loan { borrower_id, .. }, Audience::Borrower) => vec![*borrower_id],
        (Subject::Loan { borrower_id, .. }, Audience::DepartmentHeadAndArchivists) => {
            let mut people = users::active_with_role(conn, Role::Archivist)?;
            people.extend(users::department_head_of(conn, *borrower_id)?);
            people
        }
        (_, Audience::Admins) => users::active_with_role(conn, Role::Admin)?,
        (
            Subject::Step {
                request_id,
                step_index,
                ..
            },
            Audience::StepApprovers,
        ) => step_approvers::table
            .filter(step_approvers::request_id.eq(DbId(*request_id)))
            .filter(step_approvers::step_index.eq(*step_index))
            .select(step_approvers::user_id)
            .load::<DbId>(conn)?
            .into_iter()
            .map(Uuid::from)
            .collect(),
        (subject, audience) => {
            return Err(PersistenceError::Corrupt(format!(
                "a reminder for {audience:?} about {}",
                match subject {
                    Subject::Loan { .. } => "a loan",
                    Subject::Step { .. } => "an approval step",
                }
            )))
        }
    };
    people.sort();
    people.dedup();
    // The clearance wall: a reminder names its archive or request, so it reaches only those
    // cleared for it (an escalation of a secret loan skips an archivist cleared for internal).
    let classification = Some(due.subject.classification());
    let cleared = users::principals(conn, &people)?;
    people.retain(|id| {
        cleared
            .get(id)
            .is_some_and(|p| p.may_be_told(classification))
    });
    Ok(people)
}

fn message(due: &Due, now: OffsetDateTime) -> Message {
    match &due.subject {
        Subject::Loan {
            due_at,
            archive_code,
            title,
            ..
        } => {
            let date = due_at.date();
            let late = days_overdue(*due_at, now);
            match due.reminder.kind {
                ReminderKind::DueSoon => Message {
                    subject: format!("借阅即将到期 / Loan due soon: {archive_code}"),
                    body: format!(
                        "《{title}》({archive_code}) 应于 {date} 归还。\n\
                         \"{title}\" ({archive_code}) is due back on {date}."
                    ),
                },
                ReminderKind::OverdueEscalation => Message {
                    subject: format!("逾期上报 / Overdue for {late} days: {archive_code}"),
                    body: format!(
                        "《{title}》({archive_code}) 应于 {date} 归还，已逾期 {late} 天，请跟进。\n\
                         \"{title}\" ({archive_code}) was due on {date} and is {late} days overdue; please follow up."
                    ),
                },
                _ => Message {
                    subject: format!("借阅已逾期 / Loan overdue: {archive_code}"),
                    body: format!(
                        "《{title}》({archive_code}) 应于 {date} 归还，已逾期 {late} 天。归还前不能提交新的借阅申请或续借。\n\
                         \"{title}\" ({archive_code}) was due on {date} and is {late} days overdue. \
                         Until it is back you cannot make new requests or renew."
                    ),
                },
            }
        }
        Subject::Step { number, name, .. } => match due.reminder.kind {
            ReminderKind::ApprovalEscalation => Message {
                subject: format!("审批超时 / Approval overdue: {number}"),
                body: format!(
                    "借阅申请 {number} 的审批步骤“{name}”超时未决，请督办或改派。\n\
                     Step \"{name}\" of request {number} has waited for a decision too long; please follow up."
                ),
            },
            _ => Message {
                subject: format!("待审批提醒 / Waiting for your approval: {number}"),
                body: format!(
                    "借阅申请 {number} 的审批步骤“{name}”正在等待您的决定。\n\
                     Step \"{name}\" of request {number} is waiting for your decision."
                ),
            },
        },
    }
}
