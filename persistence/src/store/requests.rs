//! Loan requests: their rows, a load, a read within clearance, and a decision stored.

use crate::{
    from_db_time,
    schema::{
        archives as archives_table, loan_requests, request_items, request_steps, step_approvers,
    },
    sql_types::DbId,
    store::{
        delegations,
        rollups::{self, Hold, Scope},
        users::{self, User},
    },
    to_db_time, Conn, PersistenceError,
};
use dangan_domain::{
    access::{ceiling, Principal},
    loan::LoanRules,
    policy::LoanType,
    request::{Deciders, ItemStatus, LoanRequest, RequestStatus, Step},
    Classification, DomainError,
};
use diesel::prelude::*;
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// One archive of a request, with what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestItem {
    pub position: i32,
    pub archive_id: Uuid,
    pub archive_code: String,
    pub title: String,
    pub classification: Classification,
    pub status: ItemStatus,
    pub reserved_until: Option<OffsetDateTime>,
    pub loan_id: Option<Uuid>,
}

/// A request as stored, with its items and its approval timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRequest {
    pub id: Uuid,
    pub number: String,
    pub borrower_id: Uuid,
    pub purpose: String,
    pub loan_type: LoanType,
    pub days: i32,
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub status: RequestStatus,
    pub rules: LoanRules,
    pub items: Vec<RequestItem>,
    pub steps: Vec<Step>,
    pub approved_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

impl StoredRequest {
    /// The highest classification among its archives.
    pub fn ceiling(&self) -> Classification {
        ceiling(self.items.iter().map(|i| i.classification))
    }

    /// The state the domain's request machine works on.
    pub fn machine(&self) -> LoanRequest {
        LoanRequest {
            borrower_id: self.borrower_id,
            ceiling: self.ceiling(),
            status: self.status,
            steps: self.steps.clone(),
        }
    }

    pub fn current_step(&self) -> Option<usize> {
        self.machine().current_step()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = loan_requests)]
pub(crate) struct RequestRow {
    pub(crate) id: DbId,
    pub(crate) number: String,
    pub(crate) borrower_id: DbId,
    pub(crate) purpose: String,
    pub(crate) loan_type: String,
    pub(crate) days: i32,
    pub(crate) fields: String,
    pub(crate) status: String,
    pub(crate) rules: String,
    pub(crate) approved_at: Option<time::PrimitiveDateTime>,
    pub(crate) created_at: time::PrimitiveDateTime,
    pub(crate) updated_at: time::PrimitiveDateTime,
    pub(crate) version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = request_steps)]
pub(crate) struct StepRow {
    pub(crate) request_id: DbId,
    pub(crate) step_index: i32,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) decided_by: Option<DbId>,
    pub(crate) on_behalf_of: Option<DbId>,
    pub(crate) comment: Option<String>,
    pub(crate) decided_at: Option<time::PrimitiveDateTime>,
    pub(crate) approver_role: Option<String>,
}

pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> PersistenceError {
    PersistenceError::Corrupt(format!("{what}: {detail}"))
}

pub(crate) fn parse<T: std::str::FromStr<Err = DomainError>>(
    what: &str,
    text: &str,
) -> Result<T, PersistenceError> {
    text.parse().map_err(|e| corrupt(what, e))
}

/// An item of a request as read: request, position, archive (code, title, classification),
/// status, reserved until, loan.
type ItemRow = (
    DbId,
    i32,
    DbId,
    String,
    String,
    String,
    String,
    Option<time::PrimitiveDateTime>,
    Option<DbId>,
);

/// The columns of an `ItemRow`, from `request_items` joined with `archives`.
macro_rules! item_columns {
    () => {
        (
            request_items::request_id,
            request_items::position,
            request_items::archive_id,
            archives_table::archive_code,
            archives_table::title,
            archives_table::classification,
            request_items::status,
            request_items::reserved_until,
            request_items::loan_id,
        )
    };
}

/// Loads the items and steps of the given request rows, keeping the rows' order.
pub(crate) fn assemble(
    conn: &mut Conn,
    rows: Vec<RequestRow>,
) -> Result<Vec<StoredRequest>, PersistenceError> {
    let ids: Vec<DbId> = rows.iter().map(|r| r.id).collect();
    let item_rows = request_items::table
        .inner_join(archives_table::table)
        .filter(request_items::request_id.eq_any(&ids))
        .order((request_items::request_id, request_items::position))
        .select(item_columns!())
        .load::<ItemRow>(conn)?;
    assemble_with(conn, rows, item_rows)
}

/// `assemble` for rows whose items are read already.
fn assemble_with(
    conn: &mut Conn,
    rows: Vec<RequestRow>,
    item_rows: Vec<ItemRow>,
) -> Result<Vec<StoredRequest>, PersistenceError> {
    let ids: Vec<DbId> = rows.iter().map(|r| r.id).collect();
    // Each step with its approvers, in one statement: a step's rows follow each other.
    let step_rows = request_steps::table
        .left_join(
            step_approvers::table.on(step_approvers::request_id
                .eq(request_steps::request_id)
                .and(step_approvers::step_index.eq(request_steps::step_index))),
        )
        .filter(request_steps::request_id.eq_any(&ids))
        .order((
            request_steps::request_id,
            request_steps::step_index,
            step_approvers::user_id,
        ))
        .select((StepRow::as_select(), step_approvers::user_id.nullable()))
        .load::<(StepRow, Option<DbId>)>(conn)?;

    let mut items: HashMap<Uuid, Vec<RequestItem>> = HashMap::new();
    for (request_id, position, archive_id, code, title, classification, status, until, loan) in
        item_rows
    {
        items.entry(request_id.0).or_default().push(RequestItem {
            position,
            archive_id: archive_id.0,
            archive_code: code,
            title,
            classification: parse("archives.classification", &classification)?,
            status: parse("request_items.status", &status)?,
            reserved_until: until.map(from_db_time),
            loan_id: loan.map(Uuid::from),
        });
    }
    let mut steps: HashMap<Uuid, Vec<Step>> = HashMap::new();
    let mut step_rows = step_rows.into_iter().peekable();
    while let Some((row, approver)) = step_rows.next() {
        let mut approver_ids: Vec<Uuid> = approver.map(Uuid::from).into_iter().collect();
        while let Some((_, next)) = step_rows.next_if(|(next, _)| {
            next.request_id == row.request_id && next.step_index == row.step_index
        }) {
            approver_ids.extend(next.map(Uuid::from));
        }
        steps.entry(row.request_id.0).or_default().push(Step {
            name: row.name,
            approver_ids,
            role: row
                .approver_role
                .as_deref()
                .map(|r| parse("request_steps.approver_role", r))
                .transpose()?,
            status: parse("request_steps.status", &row.status)?,
            decided_by: row.decided_by.map(Uuid::from),
            on_behalf_of: row.on_behalf_of.map(Uuid::from),
            comment: row.comment,
            decided_at: row.decided_at.map(from_db_time),
        });
    }
    rows.into_iter()
        .map(|row| {
            let id = row.id.0;
            Ok(StoredRequest {
                id,
                number: row.number,
                borrower_id: row.borrower_id.0,
                purpose: row.purpose,
                loan_type: parse("loan_requests.loan_type", &row.loan_type)?,
                days: row.days,
                fields: serde_json::from_str(&row.fields)
                    .map_err(|e| corrupt("loan_requests.fields", e))?,
                status: parse("loan_requests.status", &row.status)?,
                rules: serde_json::from_str(&row.rules)
                    .map_err(|e| corrupt("loan_requests.rules", e))?,
                items: items.remove(&id).unwrap_or_default(),
                steps: steps.remove(&id).unwrap_or_default(),
                approved_at: row.approved_at.map(from_db_time),
                created_at: from_db_time(row.created_at),
                updated_at: from_db_time(row.updated_at),
                version: row.version,
            })
        })
        .collect()
}

/// A request whoever asks may or may not see; visibility is the caller's business.
pub(crate) fn load(conn: &mut Conn, id: Uuid) -> Result<StoredRequest, PersistenceError> {
    // The request and its items in one statement: a request has one item at least.
    let joined = request_items::table
        .inner_join(loan_requests::table)
        .inner_join(archives_table::table)
        .filter(request_items::request_id.eq(DbId(id)))
        .order(request_items::position)
        .select((RequestRow::as_select(), item_columns!()))
        .load::<(RequestRow, ItemRow)>(conn)?;
    let row = joined
        .first()
        .map(|(row, _)| row.clone())
        .ok_or(PersistenceError::NotFound)?;
    let items = joined.into_iter().map(|(_, item)| item).collect();
    assemble_with(conn, vec![row], items)?
        .pop()
        .ok_or(PersistenceError::NotFound)
}

/// The people `user` decides for right now: themself and whoever delegated to them.
pub(crate) fn acting_for(
    conn: &mut Conn,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<Uuid>, PersistenceError> {
    let mut ids: Vec<Uuid> = delegations::active_for_delegate(conn, user_id, now)?
        .into_iter()
        .map(|d| d.delegator_id)
        .collect();
    ids.push(user_id);
    Ok(ids)
}

/// Whether `viewer` may see the request: its borrower, staff, and anyone it asks a decision of
/// (or their delegate), each only when cleared for every archive of it.
pub(crate) fn visible(
    conn: &mut Conn,
    request: &StoredRequest,
    viewer: &User,
    now: OffsetDateTime,
) -> Result<bool, PersistenceError> {
    let viewer = viewer.principal();
    let ceiling = request.ceiling();
    if !viewer.may_see(ceiling) {
        return Ok(false);
    }
    // The borrower and staff need no look-up of whom they stand in for (a check-out asks this).
    if viewer.may_see_request(request.borrower_id, ceiling, false) {
        return Ok(true);
    }
    let acting = acting_for(conn, viewer.id, now)?;
    let asks_viewer = request
        .steps
        .iter()
        .any(|s| s.approver_ids.iter().any(|a| acting.contains(a)));
    Ok(viewer.may_see_request(request.borrower_id, ceiling, asks_viewer))
}

/// The ids of the requests that include an archive of one of the given classifications.
pub(crate) type RequestsWith = diesel::helper_types::Select<
    diesel::helper_types::Filter<
        diesel::helper_types::InnerJoin<request_items::table, archives_table::table>,
        diesel::helper_types::EqAny<archives_table::classification, Vec<&'static str>>,
    >,
    request_items::request_id,
>;

/// The requests that include an archive above `viewer`'s clearance: they do not exist for them.
/// `None` when nothing is above it.
pub(crate) fn requests_above(viewer: &Principal) -> Option<RequestsWith> {
    let hidden: Vec<&'static str> = Classification::ALL
        .into_iter()
        .filter(|c| !viewer.may_see(*c))
        .map(Classification::as_str)
        .collect();
    (!hidden.is_empty()).then(|| {
        request_items::table
            .inner_join(archives_table::table)
            .filter(archives_table::classification.eq_any(hidden))
            .select(request_items::request_id)
    })
}

/// A request as `viewer` may see it; one they may not see does not exist for them.
pub fn get(
    conn: &mut Conn,
    viewer: &User,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<StoredRequest, PersistenceError> {
    let request = load(conn, id)?;
    if visible(conn, &request, viewer, now)? {
        Ok(request)
    } else {
        Err(PersistenceError::NotFound)
    }
}

/// Writes what a decision changed: the request's status and the steps whose state moved.
pub(crate) fn store_decision(
    conn: &mut Conn,
    now: OffsetDateTime,
    before: &StoredRequest,
    after: &LoanRequest,
) -> Result<(), PersistenceError> {
    let approved_now =
        after.status == RequestStatus::Approved && before.status != RequestStatus::Approved;
    let recounted = rollups::request_recounted(before.status, after.status);
    if recounted {
        let asked: Vec<Uuid> = before.items.iter().map(|i| i.archive_id).collect();
        rollups::hold(conn, Hold::Archives(&asked))?;
        rollups::uncount(conn, Scope::Request(before.id))?;
    }
    let updated = diesel::update(
        loan_requests::table
            .find(DbId(before.id))
            .filter(loan_requests::version.eq(before.version)),
    )
    .set((
        loan_requests::status.eq(after.status.as_str()),
        loan_requests::updated_at.eq(to_db_time(now)),
        loan_requests::version.eq(before.version + 1),
        loan_requests::approved_at.eq(approved_now
            .then_some(now)
            .or(before.approved_at)
            .map(to_db_time)),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Err(PersistenceError::VersionMismatch);
    }
    if recounted {
        rollups::count(conn, Scope::Request(before.id))?;
    }
    for (index, (old, new)) in (0..).zip(before.steps.iter().zip(&after.steps)) {
        if old == new {
            continue;
        }
        diesel::update(
            request_steps::table
                .filter(request_steps::request_id.eq(DbId(before.id)))
                .filter(request_steps::step_index.eq(index)),
        )
        .set((
            request_steps::status.eq(new.status.as_str()),
            request_steps::decided_by.eq(new.decided_by.map(DbId)),
            request_steps::on_behalf_of.eq(new.on_behalf_of.map(DbId)),
            request_steps::comment.eq(new.comment.clone()),
            request_steps::decided_at.eq(new.decided_at.map(to_db_time)),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// The caller's active delegations and the people a decision by them involves, as they are now.
pub(crate) fn deciders(
    conn: &mut Conn,
    actor: &User,
    now: OffsetDateTime,
) -> Result<Deciders, PersistenceError> {
    let delegations = delegations::active_for_delegate(conn, actor.id, now)?;
    let delegators: Vec<Uuid> = delegations.iter().map(|d| d.delegator_id).collect();
    let mut people = users::principals(conn, &delegators)?;
    people.insert(actor.id, actor.principal());
    Ok(Deciders {
        delegations,
        people,
    })
}
