//! Circulation: check-out by barcode, the signed receipt and its voucher, renewals, returns
//! with inspection, the second sign-off, losses.

use actix_web::{get, http::StatusCode, post, web, FromRequest, HttpRequest, HttpResponse};
use dangan_domain::{
    access::Capability,
    loan::LoanStatus,
    voucher::{normalise_code, Voucher},
};
use dangan_persistence::{
    cases::{
        checkouts, identities, logins, online,
        photos::{self, Photo},
        renewals::{self, PendingRenewal, Renewed},
        returns::{self, Inspection},
    },
    store::{
        loans::{self, LoanFilter, StoredLoan},
        users,
    },
    Page,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::{self, AccessToken, CurrentUser},
    dto::loans::{loan_response, LoanDto, ReturnBody, SignatureDto, VoucherDto},
    error::{ApiError, ErrorCode, Problem},
    extract::{OptionalJson, ValidJson},
    files::return_form,
    routes::{accepts, created, uuid_cursor, Paging},
    sign_in,
    state::{blocking, AppState},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct LoanList {
    pub items: Vec<LoanDto>,
    pub next_cursor: Option<String>,
}

impl LoanList {
    fn new(page: Page<StoredLoan, Uuid>, now: OffsetDateTime) -> Self {
        LoanList {
            items: page
                .items
                .into_iter()
                .map(|l| LoanDto::new(l, now))
                .collect(),
            next_cursor: page.next.map(|id| id.to_string()),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"request_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2d01", "barcode": "DA0000042"}))]
pub struct CheckoutBody {
    pub request_id: Uuid,
    /// What the scanner read off the archive.
    #[schema(min_length = 1, max_length = 64)]
    pub barcode: String,
}

/// Hand an archive over for an approved request (a barcode scan).
#[utoipa::path(post, path = "/api/v1/checkouts", operation_id = "checkOut", tag = "circulation", request_body = CheckoutBody,
    responses(
        (status = 201, description = "Checked out; `due_at` is now plus the request's days", body = LoanDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist", body = Problem),
        (status = 404, description = "No such request visible to you", body = Problem),
        (status = 409, description = "`barcode_mismatch`, `request_not_approved`, `archive_unavailable`, `already_checked_out`", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[post("/checkouts")]
pub async fn check_out(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<CheckoutBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Circulate)?;
    let body = body.accept()?;
    let now = state.clock.now();
    let voucher_key = state.voucher_key.clone();
    let loan = state
        .db(move |conn| {
            checkouts::check_out(
                conn,
                now,
                &caller.user,
                body.request_id,
                body.barcode.trim(),
                &voucher_key,
            )
        })
        .await?;
    let location = format!("/api/v1/loans/{}", loan.id);
    Ok(created(
        loan_response(StatusCode::CREATED, loan, now),
        location,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LoanQuery {
    pub status: Option<LoanStatus>,
    pub borrower_id: Option<Uuid>,
    pub archive_id: Option<Uuid>,
    /// `true`: open loans past due; `false`: the others.
    pub overdue: Option<bool>,
    /// Loans due before this instant (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub due_before: Option<OffsetDateTime>,
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// Loans, newest first: archivists, admins and auditors see all within their clearance,
/// everyone else their own.
#[utoipa::path(get, path = "/api/v1/loans", operation_id = "listLoans", tag = "circulation", params(LoanQuery),
    responses(
        (status = 200, description = "A page of loans", body = LoanList),
        (status = 400, description = "Bad query", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
    ))]
#[get("/loans")]
pub async fn list(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<LoanQuery>,
) -> Result<web::Json<LoanList>, ApiError> {
    list_for(state, caller, query.into_inner()).await
}

/// Your own loans, newest first, with the filters of `GET /loans` (`borrower_id` is you).
#[utoipa::path(get, path = "/api/v1/me/loans", operation_id = "listMyLoans", tag = "me", params(LoanQuery),
    responses(
        (status = 200, description = "A page of your loans", body = LoanList),
        (status = 400, description = "Bad query", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
    ))]
#[get("/me/loans")]
pub async fn list_mine(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<LoanQuery>,
) -> Result<web::Json<LoanList>, ApiError> {
    let mut query = query.into_inner();
    query.borrower_id = Some(caller.id());
    list_for(state, caller, query).await
}

async fn list_for(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: LoanQuery,
) -> Result<web::Json<LoanList>, ApiError> {
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request(uuid_cursor)?;
    let filter = LoanFilter {
        status: query.status,
        borrower_id: query.borrower_id,
        archive_id: query.archive_id,
        overdue: query.overdue,
        due_before: query.due_before,
    };
    let now = state.clock.now();
    let page = state
        .db(move |conn| loans::list(conn, &caller.user, &filter, &page, now))
        .await?;
    Ok(web::Json(LoanList::new(page, now)))
}

/// The loan history of an archive, newest first.
#[utoipa::path(get, path = "/api/v1/archives/{id}/loans", operation_id = "listArchiveLoans", tag = "archives",
    params(("id" = Uuid, Path, description = "Archive id"), Paging),
    responses(
        (status = 200, description = "A page of its loans", body = LoanList),
        (status = 400, description = "Bad query", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist, admin or auditor", body = Problem),
        (status = 404, description = "No such archive within your clearance", body = Problem),
    ))]
#[get("/archives/{id}/loans")]
pub async fn archive_history(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    query: web::Query<Paging>,
) -> Result<web::Json<LoanList>, ApiError> {
    caller.require(Capability::ReadAllLending)?;
    let page = query.request(uuid_cursor)?;
    let (id, now) = (id.into_inner(), state.clock.now());
    let page = state
        .db(move |conn| loans::for_archive(conn, &caller.user, id, &page, now))
        .await?;
    Ok(web::Json(LoanList::new(page, now)))
}

/// Read a loan.
#[utoipa::path(get, path = "/api/v1/loans/{id}", operation_id = "getLoan", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id")),
    responses(
        (status = 200, description = "The loan, with its ETag", body = LoanDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such loan visible to you", body = Problem),
    ))]
#[get("/loans/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    token: AccessToken,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (id, now) = (id.into_inner(), state.clock.now());
    let loan = state
        .db_as(token, move |conn, caller| {
            loans::get(conn, &caller.user, id)
        })
        .await?;
    Ok(loan_response(StatusCode::OK, loan, now))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"password": "correct horse battery"}))]
pub struct PasswordBody {
    /// The caller's own password, entered again.
    #[schema(min_length = 1, max_length = 128)]
    pub password: Option<String>,
    /// Instead of a password: the one-time code of a sign-in at the caller's OpenID provider
    /// made just now (`GET /auth/oidc/login?prompt=login`, two minutes), for users who sign in
    /// there.
    #[schema(min_length = 1, max_length = 256)]
    pub sso_code: Option<String>,
}

/// How the caller proved again who they are, for the record.
enum Proof {
    Password,
    Provider,
}

impl Proof {
    fn method(&self) -> &'static str {
        match self {
            Proof::Password => "password",
            Proof::Provider => "oidc",
        }
    }
}

/// Re-authenticates the caller by their password or by a fresh sign-in at their provider.
async fn reauthenticate(
    state: &AppState,
    req: &HttpRequest,
    user_id: Uuid,
    password: Option<String>,
    sso_code: Option<String>,
) -> Result<Proof, ApiError> {
    match (password, sso_code) {
        (Some(password), None) => {
            check_password(state, req, user_id, password).await?;
            Ok(Proof::Password)
        }
        (None, Some(code)) => {
            let (now, code_hash) = (state.clock.now(), auth::hash_token(&code));
            let proved = state
                .db(move |conn| identities::reauthenticate(conn, now, &code_hash, user_id))
                .await?;
            if proved {
                Ok(Proof::Provider)
            } else {
                Err(ApiError::new(
                    ErrorCode::InvalidSsoCode,
                    "the sign-in code is unknown, spent, expired or someone else's: sign in at \
                     the provider again",
                ))
            }
        }
        (None, None) => Err(ApiError::field(
            "password",
            "is required (or sso_code, from a sign-in at your provider just now)",
        )),
        (Some(_), Some(_)) => Err(ApiError::field(
            "sso_code",
            "send a password or an sso_code, not both",
        )),
    }
}

/// Re-authenticates the caller: their password must match. A stolen access token must not
/// buy unlimited guesses at its owner's password, so each try is admitted and counted by the
/// same throttle as a login, against the owner's name and the caller's address.
async fn check_password(
    state: &AppState,
    req: &HttpRequest,
    user_id: Uuid,
    password: String,
) -> Result<(), ApiError> {
    let (username, hash) = state
        .db(move |conn| users::credentials_of(conn, user_id))
        .await?;
    let (name, address) = (username.to_lowercase(), sign_in::client_address(req));
    let now = state.clock.now();
    let attempt = sign_in::admit(state, &name, &address).await?;
    let matches = blocking(move || Ok(auth::verify_password(&password, &hash))).await?;
    if matches {
        state
            .db(move |conn| logins::forget_attempt(conn, &name, &attempt))
            .await?;
        Ok(())
    } else {
        state
            .db(move |conn| {
                logins::record_failure(conn, now, &name, &address, Some(user_id), &attempt)
            })
            .await?;
        Err(ApiError::new(
            ErrorCode::InvalidPassword,
            "the password does not match",
        ))
    }
}

/// The borrower signs the receipt with their password, or with a sign-in at their provider
/// made just now (`sso_code`).
#[utoipa::path(post, path = "/api/v1/loans/{id}/sign", operation_id = "signLoan", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id")), request_body = PasswordBody,
    responses(
        (status = 200, description = "Signed: the loan is active and carries the signature", body = LoanDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not the borrower (`forbidden`), `invalid_password`, or `invalid_sso_code`", body = Problem),
        (status = 429, description = "Too many wrong passwords for this account or address, as for a login; see Retry-After", body = Problem),
        (status = 404, description = "No such loan visible to you", body = Problem),
        (status = 409, description = "`invalid_transition`: signed already or over", body = Problem),
        (status = 422, description = "Neither a password nor an `sso_code`, or both", body = Problem),
    ))]
#[post("/loans/{id}/sign")]
pub async fn sign(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    body: ValidJson<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    let (id, now) = (id.into_inner(), state.clock.now());
    let viewer = caller.user.clone();
    let loan = state
        .db(move |conn| loans::held_by(conn, &viewer, id))
        .await?;
    if loan.loan.borrower_id != caller.id() {
        return Err(ApiError::forbidden("only the borrower signs the receipt"));
    }
    let PasswordBody { password, sso_code } = body.accept()?;
    let proof = reauthenticate(&state, &req, caller.id(), password, sso_code).await?;
    let loan = state
        .db(move |conn| checkouts::sign(conn, now, &caller.user, id, proof.method()))
        .await?;
    Ok(loan_response(StatusCode::OK, loan, now))
}

/// The loan voucher (借阅凭证); `Accept: text/html` gives a printable page with a QR code.
#[utoipa::path(get, path = "/api/v1/loans/{id}/voucher", operation_id = "getLoanVoucher", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id")),
    responses(
        (status = 200, description = "The voucher as JSON, or with `Accept: text/html` a printable page with a QR code of the verification code",
            content((VoucherDto = "application/json"), (String = "text/html"))),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such loan visible to you", body = Problem),
    ))]
#[get("/loans/{id}/voucher")]
pub async fn voucher(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (loan, voucher, evidence) = state
        .db(move |conn| {
            let (loan, voucher) = checkouts::voucher(conn, &caller.user, id)?;
            let evidence = Evidence::of(conn, &caller.user, &loan)?;
            Ok((loan, voucher, evidence))
        })
        .await?;
    let dto = voucher_dto(&state, loan, voucher, evidence);
    if accepts(&request, "text/html") {
        let page = crate::voucher_page::render(&dto)?;
        return Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(page));
    }
    Ok(HttpResponse::Ok().json(dto))
}

/// What a voucher lists beside what was signed: the photos of the return, the copies handed out.
struct Evidence {
    photos: Vec<Photo>,
    copies: Vec<online::Copy>,
}

impl Evidence {
    fn of(
        conn: &mut dangan_persistence::Conn,
        viewer: &users::User,
        loan: &StoredLoan,
    ) -> Result<Evidence, dangan_persistence::PersistenceError> {
        let photos = photos::of_loans(conn, &[loan.id])?.remove(&loan.id);
        Ok(Evidence {
            photos: photos.unwrap_or_default(),
            copies: online::copies(conn, viewer, loan.id)?,
        })
    }
}

fn voucher_dto(
    state: &AppState,
    loan: StoredLoan,
    as_signed: Voucher,
    evidence: Evidence,
) -> VoucherDto {
    VoucherDto {
        return_photos: evidence.photos.into_iter().map(Into::into).collect(),
        copies: evidence.copies.into_iter().map(Into::into).collect(),
        end_reason: loan.end_reason,
        verification_code: state.voucher_key.code_for(loan.id),
        status: loan.loan.status,
        signature: loan.signature.map(SignatureDto::from),
        voucher: as_signed,
    }
}

/// The front desk checks a printed voucher: the loan its verification code belongs to, as the
/// store keeps it, to compare with the paper. Case and dashes do not matter.
#[utoipa::path(get, path = "/api/v1/vouchers/{verification_code}", operation_id = "findVoucher", tag = "circulation",
    params(("verification_code" = String, Path, description = "The code printed on the voucher (case and dashes do not matter)",
        pattern = "^[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}$", example = "3F2A-9C1B-0011-2233")),
    responses(
        (status = 200, description = "The voucher the code was printed on", body = VoucherDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not staff (archivist, auditor, admin)", body = Problem),
        (status = 404, description = "No voucher with this code that you may see", body = Problem),
    ))]
#[get("/vouchers/{verification_code}")]
pub async fn find_voucher(
    state: web::Data<AppState>,
    caller: CurrentUser,
    code: web::Path<String>,
) -> Result<web::Json<VoucherDto>, ApiError> {
    caller.require(Capability::ReadAllLending)?;
    let code = normalise_code(&code).ok_or_else(ApiError::not_found)?;
    let (loan, as_signed, evidence) = state
        .db(move |conn| {
            let (loan, as_signed) = checkouts::voucher_by_code(conn, &caller.user, &code)?;
            let evidence = Evidence::of(conn, &caller.user, &loan)?;
            Ok((loan, as_signed, evidence))
        })
        .await?;
    Ok(web::Json(voucher_dto(&state, loan, as_signed, evidence)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"days": 7, "reason": "审计延期 / audit extended"}))]
pub struct RenewBody {
    /// Days added to the current due date, 1 to the policy's `max_days`.
    #[schema(minimum = 1, maximum = 3650)]
    pub days: i32,
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PendingRenewalDto {
    pub id: Uuid,
    pub loan_id: Uuid,
    pub days: i32,
    pub reason: Option<String>,
    /// `pending` until decided.
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
}

impl From<PendingRenewal> for PendingRenewalDto {
    fn from(r: PendingRenewal) -> Self {
        PendingRenewalDto {
            id: r.id,
            loan_id: r.loan_id,
            days: r.days,
            reason: r.reason,
            status: "pending".to_owned(),
            requested_at: r.requested_at,
        }
    }
}

/// The borrower renews a loan within the policy.
#[utoipa::path(post, path = "/api/v1/loans/{id}/renew", operation_id = "renewLoan", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id")), request_body = RenewBody,
    responses(
        (status = 200, description = "Renewed: the new `due_at`", body = LoanDto),
        (status = 202, description = "The policy wants the renewal approved: a pending renewal", body = PendingRenewalDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not the borrower, or `borrower_blocked` while overdue", body = Problem),
        (status = 404, description = "No such loan visible to you", body = Problem),
        (status = 409, description = "`renewal_limit_reached`, `archive_requested`, `renewal_pending`, `invalid_transition`", body = Problem),
        (status = 422, description = "Days outside the policy", body = Problem),
    ))]
#[post("/loans/{id}/renew")]
pub async fn renew(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    body: ValidJson<RenewBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.accept()?;
    let (id, now) = (id.into_inner(), state.clock.now());
    let renewed = state
        .db(move |conn| renewals::renew(conn, now, &caller.user, id, body.days, body.reason))
        .await?;
    Ok(match renewed {
        Renewed::Granted(loan) => loan_response(StatusCode::OK, loan, now),
        Renewed::Pending(_, pending) => {
            HttpResponse::Accepted().json(PendingRenewalDto::from(pending))
        }
    })
}

/// Take an archive back by its barcode, with the inspection.
///
/// As JSON, or as `multipart/form-data` with the same fields as parts and up to 10 `photo` parts
/// (PNG, JPEG, TIFF, WebP): photos taken at the desk as evidence of the archive's condition,
/// sealed into the file store, listed with their SHA-256 on the voucher and in the compliance
/// report, and named in the return's audit event (and its incident, if it opens one).
#[utoipa::path(post, path = "/api/v1/returns", operation_id = "takeBack", tag = "circulation",
    request_body(content((ReturnBody = "application/json"), (return_form::ReturnForm = "multipart/form-data"))),
    responses(
        (status = 200, description = "`returned`, or `return_pending` when the policy wants a second sign-off; a damaged or incomplete archive opens an incident", body = LoanDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist", body = Problem),
        (status = 404, description = "`no_open_loan` for this barcode", body = Problem),
        (status = 413, description = "A photo larger than `DANGAN_FILES_MAX_BYTES`", body = Problem),
        (status = 415, description = "Neither JSON nor a form, or a photo that is no image", body = Problem),
        (status = 422, description = "Invalid fields, another part, or more than 10 photos", body = Problem),
        (status = 503, description = "The file store did not take the photos", body = Problem),
    ))]
#[post("/returns")]
pub async fn take_back(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: CurrentUser,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Circulate)?;
    let (body, photos) = if return_form::is_multipart(&req) {
        return_form::read_return(&state, &req, payload).await?
    } else {
        let mut payload = payload.into_inner();
        let body = ValidJson::<ReturnBody>::from_request(&req, &mut payload).await?;
        (body.accept()?, Vec::new())
    };
    let inspection = Inspection {
        barcode: body.barcode.trim().to_owned(),
        condition: body.condition,
        notes: body.notes,
    };
    let now = state.clock.now();
    let taken = photos.clone();
    let returned = state
        .db(move |conn| returns::take_back(conn, now, &caller.user, inspection, &taken))
        .await;
    if returned.is_err() {
        return_form::forget(&state.files, &photos).await;
    }
    Ok(loan_response(StatusCode::OK, returned?, now))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"password": "correct horse battery"}))]
pub struct ConfirmBody {
    /// Required when the borrower confirms (or `sso_code`); a second archivist sends none.
    #[schema(min_length = 1, max_length = 128)]
    pub password: Option<String>,
    /// Instead of the borrower's password: the one-time code of a sign-in at their provider
    /// made just now.
    #[schema(min_length = 1, max_length = 256)]
    pub sso_code: Option<String>,
}

/// The second sign-off of a return: the borrower with their password (or `sso_code`), or an
/// archivist other than the inspector.
#[utoipa::path(post, path = "/api/v1/loans/{id}/confirm-return", operation_id = "confirmReturn", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id")), request_body = ConfirmBody,
    responses(
        (status = 200, description = "Returned", body = LoanDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The inspector, neither borrower nor archivist, `invalid_password`, or `invalid_sso_code`", body = Problem),
        (status = 429, description = "Too many wrong passwords for this account or address, as for a login; see Retry-After", body = Problem),
        (status = 404, description = "No such loan visible to you", body = Problem),
        (status = 409, description = "`invalid_transition`: no return awaits sign-off", body = Problem),
        (status = 422, description = "The borrower sent neither a password nor an `sso_code`, or both", body = Problem),
    ))]
#[post("/loans/{id}/confirm-return")]
pub async fn confirm_return(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    body: OptionalJson<ConfirmBody>,
) -> Result<HttpResponse, ApiError> {
    let (id, now) = (id.into_inner(), state.clock.now());
    let viewer = caller.user.clone();
    let loan = state.db(move |conn| loans::get(conn, &viewer, id)).await?;
    let body = body.accept()?;
    if loan.loan.borrower_id == caller.id() {
        reauthenticate(&state, &req, caller.id(), body.password, body.sso_code).await?;
    }
    let loan = state
        .db(move |conn| returns::confirm_return(conn, now, &caller.user, id))
        .await?;
    Ok(loan_response(StatusCode::OK, loan, now))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"notes": "借阅人报告遗失 / reported lost by the borrower"}))]
pub struct LostBody {
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
}

/// Record a loaned archive as lost.
#[utoipa::path(post, path = "/api/v1/loans/{id}/report-lost", operation_id = "reportLoanLost", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id")), request_body = LostBody,
    responses(
        (status = 200, description = "The loan and the archive are `lost`; an incident is open", body = LoanDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist", body = Problem),
        (status = 404, description = "No such loan visible to you", body = Problem),
        (status = 409, description = "`invalid_transition`: returned or lost already", body = Problem),
    ))]
#[post("/loans/{id}/report-lost")]
pub async fn report_lost(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    body: OptionalJson<LostBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Circulate)?;
    let notes = body.accept()?.notes;
    let (id, now) = (id.into_inner(), state.clock.now());
    let loan = state
        .db(move |conn| returns::report_lost(conn, now, &caller.user, id, notes))
        .await?;
    Ok(loan_response(StatusCode::OK, loan, now))
}

async fn decide_renewal(
    state: web::Data<AppState>,
    caller: CurrentUser,
    path: web::Path<(Uuid, Uuid)>,
    grant: bool,
) -> Result<HttpResponse, ApiError> {
    let ((loan_id, renewal_id), now) = (path.into_inner(), state.clock.now());
    let loan = state
        .db(move |conn| {
            renewals::decide_renewal(conn, now, &caller.user, loan_id, renewal_id, grant)
        })
        .await?;
    Ok(loan_response(StatusCode::OK, loan, now))
}

/// Grant a renewal that awaits approval (the approvers of the request's last step, or their delegates).
#[utoipa::path(post, path = "/api/v1/loans/{id}/renewals/{renewal_id}/approve", operation_id = "approveRenewal", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id"), ("renewal_id" = Uuid, Path, description = "Pending renewal id")),
    responses(
        (status = 200, description = "Granted: the loan with its new `due_at`", body = LoanDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "`not_your_step`: not an approver of the request's last step", body = Problem),
        (status = 404, description = "No such loan or renewal visible to you", body = Problem),
        (status = 409, description = "`request_not_pending`: decided already; `invalid_transition`: the loan is over", body = Problem),
    ))]
#[post("/loans/{id}/renewals/{renewal_id}/approve")]
pub async fn approve_renewal(
    state: web::Data<AppState>,
    caller: CurrentUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    decide_renewal(state, caller, path, true).await
}

/// Refuse a renewal that awaits approval.
#[utoipa::path(post, path = "/api/v1/loans/{id}/renewals/{renewal_id}/reject", operation_id = "rejectRenewal", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id"), ("renewal_id" = Uuid, Path, description = "Pending renewal id")),
    responses(
        (status = 200, description = "Refused: the loan as it was", body = LoanDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "`not_your_step`: not an approver of the request's last step", body = Problem),
        (status = 404, description = "No such loan or renewal visible to you", body = Problem),
        (status = 409, description = "`request_not_pending`: decided already", body = Problem),
    ))]
#[post("/loans/{id}/renewals/{renewal_id}/reject")]
pub async fn reject_renewal(
    state: web::Data<AppState>,
    caller: CurrentUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    decide_renewal(state, caller, path, false).await
}
