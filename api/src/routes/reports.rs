//! Reports for managers and auditors: the period's figures, loans grouped (JSON or CSV), the
//! overdue list and the compliance report of sensitive loans.

use actix_web::{get, web, HttpRequest, HttpResponse};
use dangan_domain::{
    access::Capability,
    loan::{hundredths, overdue_rate},
    Classification,
};
use dangan_persistence::cases::reports::{self, GroupBy, LoanGroup, Period, Slice, Source};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    dto::{
        loans::{LoanDto, PhotoDto, SignatureDto},
        requests::StepDto,
    },
    error::{ApiError, Problem},
    routes::accepts,
    state::AppState,
};

#[derive(Debug, Deserialize, IntoParams)]
pub struct PeriodQuery {
    /// Loans checked out and requests made at or after this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<OffsetDateTime>,
    /// … and before this time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<OffsetDateTime>,
}

impl PeriodQuery {
    fn period(&self) -> Period {
        Period {
            from: self.from,
            to: self.to,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SliceQuery {
    /// 1 to 500; default 100.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,15}$")]
    pub cursor: Option<String>,
}

impl SliceQuery {
    /// The cursor is the number of rows already read.
    fn slice(&self) -> Result<Slice, ApiError> {
        let limit = self.limit.unwrap_or(100);
        let offset = match self.cursor.as_deref() {
            None => 0,
            Some(c) => c
                .parse::<i64>()
                .ok()
                .filter(|o| *o >= 0)
                .ok_or_else(|| ApiError::bad_request("invalid cursor"))?,
        };
        Ok(Slice { limit, offset })
    }
}

/// The cursor after a page of `len` rows: none when the page was not full.
fn next_cursor(slice: Slice, len: usize) -> Option<String> {
    (len as i64 == slice.limit).then(|| (slice.offset + slice.limit).to_string())
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "requests": 120, "approved": 104, "rejected": 9, "loans": 98, "returned": 80,
    "overdue_now": 4, "overdue_rate": 0.12, "avg_approval_hours": 7.25, "avg_loan_days": 11.4,
    "damaged": 2, "lost": 1
}))]
pub struct SummaryDto {
    /// Requests made in the period.
    pub requests: i64,
    /// Of those, approved (whatever happened after).
    pub approved: i64,
    pub rejected: i64,
    /// Loans checked out in the period.
    pub loans: i64,
    /// Of those, back (inspected or returned).
    pub returned: i64,
    /// Of those, still out past their due time now.
    pub overdue_now: i64,
    /// Share of the period's loans that came back late or are out past due.
    pub overdue_rate: f64,
    /// From request to approval; null without approvals.
    pub avg_approval_hours: Option<f64>,
    /// From check-out to return, of the loans back; null without returns.
    pub avg_loan_days: Option<f64>,
    /// Returned damaged or incomplete.
    pub damaged: i64,
    pub lost: i64,
}

/// The period's headline figures, counted only over archives within your clearance (a request
/// counts when all of its archives are).
#[utoipa::path(get, path = "/api/v1/reports/summary", operation_id = "getSummaryReport", tag = "reports", params(PeriodQuery),
    responses(
        (status = 200, description = "The figures", body = SummaryDto),
        (status = 400, description = "Bad query", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an auditor, admin or archivist", body = Problem),
    ))]
#[get("/reports/summary")]
pub async fn summary(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<PeriodQuery>,
) -> Result<web::Json<SummaryDto>, ApiError> {
    caller.require(Capability::ReadReports)?;
    let (viewer, period, now) = (caller.principal(), query.period(), state.clock.now());
    let s = state
        .db(move |conn| reports::summary(conn, &viewer, &period, now, Source::Rollups))
        .await?;
    Ok(web::Json(SummaryDto {
        requests: s.requests,
        approved: s.approved,
        rejected: s.rejected,
        loans: s.loans,
        returned: s.returned,
        overdue_now: s.overdue_now,
        overdue_rate: overdue_rate(s.late, s.loans),
        avg_approval_hours: s.avg_approval_hours.map(hundredths),
        avg_loan_days: s.avg_loan_days.map(hundredths),
        damaged: s.damaged,
        lost: s.lost,
    }))
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupByParam {
    Department,
    Category,
    Classification,
    #[default]
    Month,
}

impl From<GroupByParam> for GroupBy {
    fn from(g: GroupByParam) -> Self {
        match g {
            GroupByParam::Department => GroupBy::Department,
            GroupByParam::Category => GroupBy::Category,
            GroupByParam::Classification => GroupBy::Classification,
            GroupByParam::Month => GroupBy::Month,
        }
    }
}

/// Read from the same query string as `PeriodQuery`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct GroupQuery {
    /// `department` (the borrower's), `category`, `classification` or `month` (the default).
    #[serde(default)]
    #[param(inline)]
    pub group_by: GroupByParam,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoanGroupDto {
    /// The department's name, the category, the classification or the month (`YYYY-MM`).
    pub key: String,
    pub loans: i64,
    pub returned: i64,
    /// Came back late or are out past due.
    pub overdue: i64,
    pub overdue_rate: f64,
}

impl From<LoanGroup> for LoanGroupDto {
    fn from(g: LoanGroup) -> Self {
        LoanGroupDto {
            overdue_rate: overdue_rate(g.late, g.loans),
            key: g.key,
            loans: g.loans,
            returned: g.returned,
            overdue: g.late,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"group_by": "classification", "rows": [
    {"key": "internal", "loans": 60, "returned": 52, "overdue": 5, "overdue_rate": 0.08},
    {"key": "secret", "loans": 12, "returned": 12, "overdue": 0, "overdue_rate": 0.0}
]}))]
pub struct LoansReport {
    pub group_by: GroupByParam,
    pub rows: Vec<LoanGroupDto>,
}

/// Loans of the period grouped, counted only over archives within your clearance; `Accept:
/// text/csv` gives the rows as CSV with a header.
#[utoipa::path(get, path = "/api/v1/reports/loans", operation_id = "getLoansReport", tag = "reports", params(PeriodQuery, GroupQuery),
    responses(
        (status = 200, description = "The groups as JSON, or with `Accept: text/csv` as CSV with the header key,loans,returned,overdue,overdue_rate",
            content((LoansReport = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad query", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an auditor, admin or archivist", body = Problem),
    ))]
#[get("/reports/loans")]
pub async fn loans(
    state: web::Data<AppState>,
    caller: CurrentUser,
    period: web::Query<PeriodQuery>,
    group: web::Query<GroupQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::ReadReports)?;
    let (viewer, period, group_by, now) = (
        caller.principal(),
        period.period(),
        group.group_by,
        state.clock.now(),
    );
    let rows: Vec<LoanGroupDto> = state
        .db(move |conn| {
            reports::loans_by(
                conn,
                &viewer,
                &period,
                group_by.into(),
                now,
                Source::Rollups,
            )
        })
        .await?
        .into_iter()
        .map(LoanGroupDto::from)
        .collect();
    if accepts(&request, "text/csv") {
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(["key", "loans", "returned", "overdue", "overdue_rate"])
            .map_err(ApiError::internal)?;
        for row in &rows {
            csv.write_record([
                spreadsheet_safe(&row.key),
                row.loans.to_string(),
                row.returned.to_string(),
                row.overdue.to_string(),
                row.overdue_rate.to_string(),
            ])
            .map_err(ApiError::internal)?;
        }
        let body = csv.into_inner().map_err(ApiError::internal)?;
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(body));
    }
    Ok(HttpResponse::Ok().json(LoansReport { group_by, rows }))
}

/// A cell a spreadsheet will not run: text starting with `=`, `+`, `-`, `@`, a tab or a carriage
/// return is a formula to Excel and LibreOffice, so it is prefixed with `'` (OWASP's advice on
/// CSV injection). Group keys are categories and department names, which users type.
fn spreadsheet_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueLoanDto {
    pub loan_id: Uuid,
    pub archive_id: Uuid,
    pub archive_code: String,
    pub title: String,
    pub classification: Classification,
    pub borrower_id: Uuid,
    /// The borrower's display name.
    pub borrower: String,
    /// The borrower's department's name.
    pub department: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub due_at: OffsetDateTime,
    pub days_overdue: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{
    "loan_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c20", "archive_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b40",
    "archive_code": "RS-2019-Y-0042", "title": "2019年度职工档案", "classification": "internal",
    "borrower_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b11", "borrower": "张三", "department": "人事处",
    "due_at": "2026-11-20T09:00:00Z", "days_overdue": 5
}], "next_cursor": null}))]
pub struct OverdueReport {
    pub items: Vec<OverdueLoanDto>,
    pub next_cursor: Option<String>,
}

/// Open loans past their due time within your clearance, longest overdue first.
#[utoipa::path(get, path = "/api/v1/reports/overdue", operation_id = "getOverdueReport", tag = "reports", params(SliceQuery),
    responses(
        (status = 200, description = "The overdue loans", body = OverdueReport),
        (status = 400, description = "Bad cursor", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an auditor, admin or archivist", body = Problem),
    ))]
#[get("/reports/overdue")]
pub async fn overdue(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<SliceQuery>,
) -> Result<web::Json<OverdueReport>, ApiError> {
    caller.require(Capability::ReadReports)?;
    let slice = query.slice()?;
    let (viewer, now) = (caller.principal(), state.clock.now());
    let items: Vec<OverdueLoanDto> = state
        .db(move |conn| reports::overdue(conn, &viewer, now, slice))
        .await?
        .into_iter()
        .map(|o| OverdueLoanDto {
            loan_id: o.loan_id,
            archive_id: o.archive_id,
            archive_code: o.archive_code,
            title: o.title,
            classification: o.classification,
            borrower_id: o.borrower_id,
            borrower: o.borrower,
            department: o.department,
            due_at: o.due_at,
            days_overdue: o.days_overdue,
        })
        .collect();
    Ok(web::Json(OverdueReport {
        next_cursor: next_cursor(slice, items.len()),
        items,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComplianceEntryDto {
    pub request_id: Uuid,
    pub request_number: String,
    pub classification: Classification,
    pub purpose: String,
    /// The approval chain as decided, step by step.
    pub approvals: Vec<StepDto>,
    /// The loan with its signature and return inspection (`condition`, `inspected_by`,
    /// `confirmed_by`, `returned_at`).
    pub loan: LoanDto,
    pub signature: Option<SignatureDto>,
    /// Photos taken at the desk when the archive came back, with their SHA-256.
    #[schema(max_items = 10)]
    pub return_photos: Vec<PhotoDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComplianceReport {
    pub items: Vec<ComplianceEntryDto>,
    pub next_cursor: Option<String>,
}

/// Every loan of `secret` and above in the period (within your clearance), oldest first, with
/// its approval chain, signature and return inspection.
#[utoipa::path(get, path = "/api/v1/reports/compliance", operation_id = "getComplianceReport", tag = "reports", params(PeriodQuery, SliceQuery),
    responses(
        (status = 200, description = "The sensitive loans", body = ComplianceReport),
        (status = 400, description = "Bad query", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an auditor or admin", body = Problem),
    ))]
#[get("/reports/compliance")]
pub async fn compliance(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<PeriodQuery>,
    paging: web::Query<SliceQuery>,
) -> Result<web::Json<ComplianceReport>, ApiError> {
    caller.require(Capability::ReadCompliance)?;
    let slice = paging.slice()?;
    let (period, viewer, now) = (query.period(), caller.principal(), state.clock.now());
    let (entries, mut photos) = state
        .db(move |conn| {
            let entries = reports::compliance(conn, &period, &viewer, slice)?;
            let ids: Vec<Uuid> = entries.iter().map(|e| e.loan.id).collect();
            Ok((
                entries,
                dangan_persistence::cases::photos::of_loans(conn, &ids)?,
            ))
        })
        .await?;
    let items: Vec<ComplianceEntryDto> = entries
        .into_iter()
        .map(|entry| ComplianceEntryDto {
            return_photos: photos
                .remove(&entry.loan.id)
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            request_id: entry.request.id,
            request_number: entry.request.number,
            classification: entry.loan.classification,
            purpose: entry.request.purpose,
            approvals: entry
                .request
                .steps
                .into_iter()
                .enumerate()
                .map(|(index, step)| StepDto::new(index, step))
                .collect(),
            signature: entry.loan.signature.clone().map(SignatureDto::from),
            loan: LoanDto::new(entry.loan, now),
        })
        .collect();
    Ok(web::Json(ComplianceReport {
        next_cursor: next_cursor(slice, items.len()),
        items,
    }))
}
