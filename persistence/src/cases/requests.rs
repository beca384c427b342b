//! Loan requests: made by a borrower under the strictest policy of their archives, decided step
//! by step by the approvers the chain resolved to (or their delegates), withdrawn by the borrower.

use dangan_domain::{
    access::ceiling,
    archive::{check_online, check_requestable},
    audit::NewAuditEvent,
    form::check_answers,
    loan::{borrower_blocked, LoanRules},
    policy::{applicable, combine, resolve_chain, LoanPolicy, LoanType, Subject},
    request::{
        opening, Command, Deciders, Draft, Event, ItemStatus, LoanRequest, RequestStatus,
        StepStatus, MAX_ITEMS,
    },
    voucher::VoucherKey,
    DomainError, FieldError,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::requests::{
    acting_for, assemble, corrupt, deciders, get, load, requests_above, store_decision, RequestRow,
    StepRow, StoredRequest,
};
use crate::{
    db::write_transaction,
    events,
    schema::{loan_requests, request_items, request_steps, step_approvers},
    sql_types::DbId,
    store::{
        archives, files, forms, loans, policies,
        rollups::{self, Hold, Scope},
        users::User,
    },
    to_db_time, AnyConnection, Conflict, Conn, Page, PageRequest, PersistenceError,
};

/// What a borrower sends to ask for archives.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub archive_ids: Vec<Uuid>,
    pub purpose: String,
    pub loan_type: LoanType,
    pub days: i32,
    pub fields: serde_json::Map<String, serde_json::Value>,
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
                    Subject::from(&archive.fields),
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
        events::record(
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
        if stored.status != RequestStatus::Approved {
            return Ok(stored);
        }
        events::request_approved(conn, now, borrower.id, &stored, now, voucher_key)?;
        load(conn, id)
    })
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
        events::record(
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
        if approves {
            events::request_approved(conn, now, actor.id, &before, opens_at, voucher_key)?;
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
            passed_on.push(events::archive_freed(conn, now, item.archive_id)?);
        }
        events::record(
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
