//! Loan requests: made by a borrower under the strictest policy of their archives, decided step
//! by step by the approvers the chain resolved to (or their delegates), withdrawn by the borrower.

use std::collections::HashMap;

use dangan_domain::{
    access::{ceiling, Principal},
    archive::{check_online, check_requestable},
    audit::NewAuditEvent,
    form::check_answers,
    loan::{borrower_blocked, LoanRules},
    policy::{applicable, combine, resolve_chain, LoanPolicy, LoanType},
    request::{
        opening, Command, Deciders, Draft, Event, ItemStatus, LoanRequest, RequestStatus, Step,
        StepStatus, MAX_ITEMS,
    },
    voucher::VoucherKey,
    Classification, DomainError, FieldError,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    archives, audit,
    db::write_transaction,
    delegations, files, forms, from_db_time, loans, online, policies, reservations,
    rollups::{self, Hold, Scope},
    schema::{
        archives as archives_table, loan_requests, request_items, request_steps, step_approvers,
    },
    sql_types::DbId,
    to_db_time,
    users::{self, User},
    AnyConnection, Conflict, Conn, Page, PageRequest, PersistenceError,
};

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

/// What a borrower sends to ask for archives.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub archive_ids: Vec<Uuid>,
    pub purpose: String,
    pub loan_type: LoanType,
    pub days: i32,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = loan_requests)]
struct RequestRow {
    id: DbId,
    number: String,
    borrower_id: DbId,
    purpose: String,
    loan_type: String,
    days: i32,
    fields: String,
    status: String,
    rules: String,
    approved_at: Option<time::PrimitiveDateTime>,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
    version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = request_steps)]
struct StepRow {
    request_id: DbId,
    step_index: i32,
    name: String,
    status: String,
    decided_by: Option<DbId>,
    on_behalf_of: Option<DbId>,
    comment: Option<String>,
    decided_at: Option<time::PrimitiveDateTime>,
    approver_role: Option<String>,
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> PersistenceError {
    PersistenceError::Corrupt(format!("{what}: {detail}"))
}

fn parse<T: std::str::FromStr<Err = DomainError>>(
    what: &str,
    text: &str,
) -> Result<T, PersistenceError> {
    text.parse().map_err(|e| corrupt(what, e))
}

/// Loads the items and steps of the given request rows, keeping the rows' order.
fn assemble(
    conn: &mut Conn,
    rows: Vec<RequestRow>,
) -> Result<Vec<StoredRequest>, PersistenceError> {
    let ids: Vec<DbId> = rows.iter().map(|r| r.id).collect();
    let item_rows = request_items::table
        .inner_join(archives_table::table)
        .filter(request_items::request_id.eq_any(&ids))
        .order((request_items::request_id, request_items::position))
        .select((
            request_items::request_id,
            request_items::position,
            request_items::archive_id,
            archives_table::archive_code,
            archives_table::title,
            archives_table::classification,
            request_items::status,
            request_items::reserved_until,
            request_items::loan_id,
        ))
        .load::<(
            DbId,
            i32,
            DbId,
            String,
            String,
            String,
            String,
            Option<time::PrimitiveDateTime>,
            Option<DbId>,
        )>(conn)?;
    let step_rows = request_steps::table
        .filter(request_steps::request_id.eq_any(&ids))
        .order((request_steps::request_id, request_steps::step_index))
        .select(StepRow::as_select())
        .load::<StepRow>(conn)?;
    let approver_rows = step_approvers::table
        .filter(step_approvers::request_id.eq_any(&ids))
        .order((
            step_approvers::request_id,
            step_approvers::step_index,
            step_approvers::user_id,
        ))
        .select((
            step_approvers::request_id,
            step_approvers::step_index,
            step_approvers::user_id,
        ))
        .load::<(DbId, i32, DbId)>(conn)?;

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
    let mut approvers: HashMap<(Uuid, i32), Vec<Uuid>> = HashMap::new();
    for (request_id, index, user_id) in approver_rows {
        approvers
            .entry((request_id.0, index))
            .or_default()
            .push(user_id.0);
    }
    let mut steps: HashMap<Uuid, Vec<Step>> = HashMap::new();
    for row in step_rows {
        let approver_ids = approvers
            .remove(&(row.request_id.0, row.step_index))
            .unwrap_or_default();
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
    let row = loan_requests::table
        .find(DbId(id))
        .select(RequestRow::as_select())
        .first::<RequestRow>(conn)?;
    assemble(conn, vec![row])?
        .pop()
        .ok_or(PersistenceError::NotFound)
}

/// The people `user` decides for right now: themself and whoever delegated to them.
fn acting_for(
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
fn visible(
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
type RequestsWith = diesel::helper_types::Select<
    diesel::helper_types::Filter<
        diesel::helper_types::InnerJoin<request_items::table, archives_table::table>,
        diesel::helper_types::EqAny<archives_table::classification, Vec<&'static str>>,
    >,
    request_items::request_id,
>;

/// The requests that include an archive above `viewer`'s clearance: they do not exist for them.
/// `None` when nothing is above it.
fn requests_above(viewer: &Principal) -> Option<RequestsWith> {
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

/// The next number of `year`, made unique by the store (an upsert on the year's counter row).
fn next_number(conn: &mut Conn, year: i32) -> Result<i32, PersistenceError> {
    use crate::schema::request_numbers::dsl as n;
    let insert =
        diesel::insert_into(n::request_numbers).values((n::year.eq(year), n::last_number.eq(1)));
    Ok(match conn {
        AnyConnection::Postgresql(pg) => insert
            .on_conflict(n::year)
            .do_update()
            .set(n::last_number.eq(n::last_number + 1))
            .returning(n::last_number)
            .get_result(pg)?,
        AnyConnection::Sqlite(sqlite) => insert
            .on_conflict(n::year)
            .do_update()
            .set(n::last_number.eq(n::last_number + 1))
            .returning(n::last_number)
            .get_result(sqlite)?,
    })
}

fn audit_items(request: &StoredRequest) -> serde_json::Value {
    json!(request
        .items
        .iter()
        .map(|i| json!({"archive_id": i.archive_id, "archive_code": i.archive_code}))
        .collect::<Vec<_>>())
}

/// Makes a request: every archive visible to the borrower and requestable, the borrower not
/// blocked, the draft within the combined policy and the custom fields answered; then resolves
/// the approval chain for this borrower and numbers the request.
pub fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    borrower: &User,
    new: NewRequest,
    voucher_key: &VoucherKey,
) -> Result<StoredRequest, PersistenceError> {
    write_transaction(conn, |conn| {
        let mut archives = Vec::with_capacity(new.archive_ids.len());
        for id in &new.archive_ids {
            archives.push(archives::get(conn, *id, borrower.clearance)?);
        }
        if borrower_blocked(loans::count_overdue(conn, borrower.id, now)?) {
            return Err(DomainError::BorrowerBlocked.into());
        }
        for archive in &archives {
            check_requestable(archive.status, new.loan_type)?;
        }
        // Before anything refers to them: a new row referring to an archive holds it too.
        let asked: Vec<Uuid> = archives.iter().map(|a| a.id).collect();
        rollups::hold(conn, Hold::Archives(&asked))?;
        let stored_policies = policies::list(conn)?;
        let domain_policies: Vec<LoanPolicy> =
            stored_policies.iter().map(|p| p.policy.clone()).collect();
        let mut governing = Vec::with_capacity(archives.len());
        for archive in &archives {
            governing.push(
                applicable(
                    &domain_policies,
                    archive.fields.classification,
                    &archive.fields.category,
                    new.loan_type,
                )
                .ok_or(PersistenceError::Conflict(Conflict::NoPolicy))?,
            );
        }
        let draft = Draft {
            archive_ids: &new.archive_ids,
            purpose: &new.purpose,
            loan_type: new.loan_type,
            days: new.days,
        };
        // No archive, no policy: the draft's own check says what is wrong with the list.
        let Some(effective) = combine(&governing) else {
            return Err(PersistenceError::Invalid(vec![FieldError::new(
                "archive_ids",
                format!("must list 1 to {MAX_ITEMS} archives"),
            )]));
        };
        let mut errors = draft.check(&effective);
        let categories: Vec<String> = archives.iter().map(|a| a.fields.category.clone()).collect();
        let form: Vec<_> = forms::list(conn)?.into_iter().map(|f| f.field).collect();
        errors.extend(check_answers(&form, &categories, &new.fields));
        if new.loan_type == LoanType::Online {
            for archive in &archives {
                let files = files::count_live(conn, archive.id)?;
                if let Err(why) =
                    check_online(&archive.fields.archive_code, archive.fields.medium, files)
                {
                    errors.push(FieldError::new("loan_type", why));
                }
            }
        }
        if !errors.is_empty() {
            return Err(PersistenceError::Invalid(errors));
        }
        let org = policies::organisation(conn, borrower.department_id)?;
        let ceiling = ceiling(archives.iter().map(|a| a.fields.classification));
        let chain = resolve_chain(&effective.approval_steps, borrower.id, ceiling, &org)?;
        let machine = LoanRequest::new(borrower.id, ceiling, chain);
        let year = now.year();
        let number = format!("JY-{year}-{:06}", next_number(conn, year)?);
        let id = Uuid::now_v7();
        let approved_at = (machine.status == RequestStatus::Approved).then_some(now);
        diesel::insert_into(loan_requests::table)
            .values(RequestRow {
                id: DbId(id),
                number: number.clone(),
                borrower_id: DbId(borrower.id),
                purpose: new.purpose.trim().to_owned(),
                loan_type: new.loan_type.as_str().to_owned(),
                days: new.days,
                fields: serde_json::Value::Object(new.fields.clone()).to_string(),
                status: machine.status.as_str().to_owned(),
                rules: json!(LoanRules::from(&effective)).to_string(),
                approved_at: approved_at.map(to_db_time),
                created_at: to_db_time(now),
                updated_at: to_db_time(now),
                version: 1,
            })
            .execute(conn)?;
        for (position, archive) in (1..).zip(&archives) {
            diesel::insert_into(request_items::table)
                .values((
                    request_items::request_id.eq(DbId(id)),
                    request_items::position.eq(position),
                    request_items::archive_id.eq(DbId(archive.id)),
                    request_items::status.eq(ItemStatus::Waiting.as_str()),
                ))
                .execute(conn)?;
        }
        rollups::count(conn, Scope::Request(id))?;
        for (index, step) in (0..).zip(&machine.steps) {
            diesel::insert_into(request_steps::table)
                .values(StepRow {
                    request_id: DbId(id),
                    step_index: index,
                    name: step.name.clone(),
                    status: step.status.as_str().to_owned(),
                    decided_by: None,
                    on_behalf_of: None,
                    comment: None,
                    decided_at: None,
                    approver_role: step.role.map(|r| r.as_str().to_owned()),
                })
                .execute(conn)?;
            for user_id in &step.approver_ids {
                diesel::insert_into(step_approvers::table)
                    .values((
                        step_approvers::request_id.eq(DbId(id)),
                        step_approvers::step_index.eq(index),
                        step_approvers::user_id.eq(DbId(*user_id)),
                    ))
                    .execute(conn)?;
            }
        }
        let stored = load(conn, id)?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new("request.created", "loan_request")
                .by(Some(borrower.id))
                .on(id)
                .about(stored.ceiling())
                .with(json!({
                    "number": number,
                    "items": audit_items(&stored),
                    "loan_type": new.loan_type,
                    "days": new.days,
                    "status": stored.status,
                    "approvers": stored.steps.iter().map(|s| &s.approver_ids).collect::<Vec<_>>(),
                })),
        )?;
        if stored.status == RequestStatus::Approved && stored.loan_type == LoanType::Online {
            online::open(conn, now, borrower.id, &stored, now, voucher_key)?;
            return load(conn, id);
        }
        Ok(stored)
    })
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
    let recounted = after.status != before.status;
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
    ))
    .execute(conn)?;
    if updated == 0 {
        return Err(PersistenceError::VersionMismatch);
    }
    if approved_now {
        diesel::update(loan_requests::table.find(DbId(before.id)))
            .set(loan_requests::approved_at.eq(Some(to_db_time(now))))
            .execute(conn)?;
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

/// The caller's decision on the current step of a request.
#[derive(Debug, Clone)]
pub enum Decision {
    Approve {
        comment: Option<String>,
        /// When the online loans this approval opens become readable (else at once).
        opens_at: Option<OffsetDateTime>,
    },
    Reject {
        comment: String,
    },
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

/// Approves or rejects the current step; the domain checks the caller may decide it now (as an
/// eligible approver or the eligible delegate of one) and moves the request on.
pub fn decide(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor: &User,
    id: Uuid,
    decision: Decision,
    voucher_key: &VoucherKey,
) -> Result<StoredRequest, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = get(conn, actor, id, now)?;
        let deciders = deciders(conn, actor, now)?;
        let opens_at = match &decision {
            Decision::Approve { opens_at, .. } => *opens_at,
            Decision::Reject { .. } => None,
        };
        let command = match decision {
            Decision::Approve { comment, .. } => Command::Approve {
                actor: actor.id,
                comment,
            },
            Decision::Reject { comment } => Command::Reject {
                actor: actor.id,
                comment,
            },
        };
        let (after, events) = before.machine().decide(command, &deciders, now)?;
        store_decision(conn, now, &before, &after)?;
        let (action, index, on_behalf_of) = match events.as_slice() {
            [Event::StepApproved {
                index,
                on_behalf_of,
                ..
            }, Event::Approved] => ("request.approved", *index, *on_behalf_of),
            [Event::StepApproved {
                index,
                on_behalf_of,
                ..
            }] => ("request.step_approved", *index, *on_behalf_of),
            [Event::StepRejected {
                index,
                on_behalf_of,
                ..
            }, ..] => ("request.rejected", *index, *on_behalf_of),
            _ => return Err(corrupt("decision", "unexpected events")),
        };
        let approves = action == "request.approved";
        let opens_at = opening(before.loan_type, approves, opens_at, now)
            .map_err(|e| PersistenceError::Invalid(vec![e]))?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new(action, "loan_request")
                .by(Some(actor.id))
                .on(id)
                .about(before.ceiling())
                .with(json!({
                    "number": before.number,
                    "step": index,
                    "step_name": after.steps[index].name,
                    "on_behalf_of": on_behalf_of,
                    "comment": after.steps[index].comment,
                })),
        )?;
        if approves && before.loan_type == LoanType::Online {
            let approved = load(conn, id)?;
            online::open(conn, now, actor.id, &approved, opens_at, voucher_key)?;
        }
        load(conn, id)
    })
}

/// The borrower withdraws a request nothing of which is out; reservations it held pass on.
pub fn withdraw(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor: &User,
    id: Uuid,
) -> Result<StoredRequest, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = get(conn, actor, id, now)?;
        let items_out = before
            .items
            .iter()
            .any(|i| i.status == ItemStatus::CheckedOut);
        let (after, _) = before.machine().decide(
            Command::Withdraw {
                actor: actor.id,
                items_out,
            },
            &Deciders::none(),
            now,
        )?;
        store_decision(conn, now, &before, &after)?;
        diesel::update(
            request_items::table
                .filter(request_items::request_id.eq(DbId(id)))
                .filter(request_items::status.eq(ItemStatus::Waiting.as_str())),
        )
        .set(request_items::status.eq(ItemStatus::Withdrawn.as_str()))
        .execute(conn)?;
        let mut passed_on = Vec::new();
        for item in before
            .items
            .iter()
            .filter(|i| i.status == ItemStatus::Reserved)
        {
            diesel::update(
                request_items::table
                    .filter(request_items::request_id.eq(DbId(id)))
                    .filter(request_items::position.eq(item.position)),
            )
            .set((
                request_items::status.eq(ItemStatus::Withdrawn.as_str()),
                request_items::reserved_until.eq(None::<time::PrimitiveDateTime>),
            ))
            .execute(conn)?;
            passed_on.push(reservations::pass_on(conn, now, item.archive_id)?);
        }
        audit::append(
            conn,
            now,
            NewAuditEvent::new("request.withdrawn", "loan_request")
                .by(Some(actor.id))
                .on(id)
                .about(before.ceiling())
                .with(json!({"number": before.number, "previous_status": before.status, "reservations_passed_on": passed_on})),
        )?;
        load(conn, id)
    })
}

/// `GET /loan-requests` filters.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    pub borrower_id: Option<Uuid>,
}

/// Requests `viewer` may see, newest first: staff all, others their own and those that ask (or
/// asked) a decision of them or of whom they stand in for; everyone only those within clearance.
pub fn list(
    conn: &mut Conn,
    viewer: &User,
    filter: &RequestFilter,
    page: &PageRequest<Uuid>,
    now: OffsetDateTime,
) -> Result<Page<StoredRequest, Uuid>, PersistenceError> {
    let mut query = loan_requests::table
        .select(RequestRow::as_select())
        .order(loan_requests::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    let principal = viewer.principal();
    if let Some(above) = requests_above(&principal) {
        query = query.filter(diesel::dsl::not(loan_requests::id.eq_any(above)));
    }
    if !principal.is_staff() {
        let acting: Vec<DbId> = acting_for(conn, viewer.id, now)?
            .into_iter()
            .map(DbId)
            .collect();
        let asked = step_approvers::table
            .filter(step_approvers::user_id.eq_any(acting))
            .select(step_approvers::request_id);
        query = query.filter(
            loan_requests::borrower_id
                .eq(DbId(viewer.id))
                .or(loan_requests::id.eq_any(asked)),
        );
    }
    if let Some(status) = filter.status {
        query = query.filter(loan_requests::status.eq(status.as_str()));
    }
    if let Some(borrower_id) = filter.borrower_id {
        query = query.filter(loan_requests::borrower_id.eq(DbId(borrower_id)));
    }
    if let Some(after) = page.after {
        query = query.filter(loan_requests::id.lt(DbId(after)));
    }
    let rows = query.load::<RequestRow>(conn)?;
    let requests = assemble(conn, rows)?;
    Ok(Page::from_rows(requests, page.limit, |r| r.id))
}

/// A pending step someone may decide, with whom they would decide it for.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalTask {
    pub request: StoredRequest,
    /// The approver a delegate would decide for; `None` for the caller's own task.
    pub on_behalf_of: Option<Uuid>,
}

/// The caller's pending approval tasks, delegated ones included, oldest request first: only those
/// they may decide now (within clearance, holding the step's role, not a second step of theirs).
pub fn approval_tasks(
    conn: &mut Conn,
    user: &User,
    page: &PageRequest<Uuid>,
    now: OffsetDateTime,
) -> Result<Page<ApprovalTask, Uuid>, PersistenceError> {
    let acting: Vec<DbId> = acting_for(conn, user.id, now)?
        .into_iter()
        .map(DbId)
        .collect();
    let pending = request_steps::table
        .inner_join(
            step_approvers::table.on(step_approvers::request_id
                .eq(request_steps::request_id)
                .and(step_approvers::step_index.eq(request_steps::step_index))),
        )
        .filter(request_steps::status.eq(StepStatus::Pending.as_str()))
        .filter(step_approvers::user_id.eq_any(acting))
        .select(request_steps::request_id);
    let mut query = loan_requests::table
        .filter(loan_requests::id.eq_any(pending))
        .filter(loan_requests::status.eq(RequestStatus::Pending.as_str()))
        .filter(loan_requests::borrower_id.ne(DbId(user.id)))
        .select(RequestRow::as_select())
        .order(loan_requests::id.asc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(above) = requests_above(&user.principal()) {
        query = query.filter(diesel::dsl::not(loan_requests::id.eq_any(above)));
    }
    if let Some(after) = page.after {
        query = query.filter(loan_requests::id.gt(DbId(after)));
    }
    let rows = query.load::<RequestRow>(conn)?;
    let deciders = deciders(conn, user, now)?;
    let tasks = assemble(conn, rows)?
        .into_iter()
        .filter_map(|request| {
            let on_behalf_of = request
                .machine()
                .deciding_for(user.id, &deciders, now)
                .ok()?;
            Some(ApprovalTask {
                request,
                on_behalf_of,
            })
        })
        .collect();
    Ok(Page::from_rows(tasks, page.limit, |t| t.request.id))
}
