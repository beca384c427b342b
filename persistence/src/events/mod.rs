//! Where what happened becomes what it causes. A use case calls one function here for each thing
//! that happened in its transaction, and each function is the one home of that thing's
//! consequences: the audit row and the webhook deliveries it stands for, the loans an approval
//! opens, the request a freed archive passes to, the request that settles, the online loans and
//! sessions an account can no longer hold. Use cases never call each other; they meet here.
//! `docs/architecture.md` lists each event with what it causes.

mod online;
mod waiting_line;

use dangan_domain::{
    audit::NewAuditEvent, loan::OnlineEnd, policy::LoanType, request::RequestStatus,
    voucher::VoucherKey, UserStatus,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    store::{
        loans::StoredLoan,
        outbox,
        requests::{self, StoredRequest},
        rollups, sessions,
        users::{self, User},
    },
    Conn, PersistenceError,
};

/// An audited change: its row in the audit trail, and the deliveries of the webhook events it
/// stands for, so that a delivery exists exactly when its change committed.
pub(crate) fn record(
    conn: &mut Conn,
    now: OffsetDateTime,
    event: NewAuditEvent,
) -> Result<(), PersistenceError> {
    outbox::append(conn, now, event)
}

/// A request is approved, by its last step (`approver`) or at once for want of steps: an online
/// request's loans open, readable from `opens_at`, from the request as it is now.
pub(crate) fn request_approved(
    conn: &mut Conn,
    now: OffsetDateTime,
    approver: Uuid,
    request: &StoredRequest,
    opens_at: OffsetDateTime,
    voucher_key: &VoucherKey,
) -> Result<(), PersistenceError> {
    if request.loan_type != LoanType::Online {
        return Ok(());
    }
    let approved = requests::load(conn, request.id)?;
    online::open(conn, now, approver, &approved, opens_at, voucher_key)
}

/// An archive is back on the shelf and free (returned sound, or its reservation withdrawn): the
/// oldest approved request waiting for it gets it, reserved, or it becomes available. Returns
/// the request it went to.
pub(crate) fn archive_freed(
    conn: &mut Conn,
    now: OffsetDateTime,
    archive_id: Uuid,
) -> Result<Option<Uuid>, PersistenceError> {
    waiting_line::pass_on(conn, now, archive_id)
}

/// Whatever of `archive_id` was reserved past its pickup window lapses, the archive passing on
/// each time. Returns the requests whose reservation lapsed.
pub(crate) fn pickup_window_ended(
    conn: &mut Conn,
    now: OffsetDateTime,
    archive_id: Uuid,
) -> Result<Vec<Uuid>, PersistenceError> {
    waiting_line::lapse_reservations(conn, now, archive_id)
}

/// Items of `request` moved (out, back, expired, lapsed): it settles as the domain says once
/// nothing of it is outstanding. `request` shows its items as they are now; returns its status.
pub(crate) fn request_items_moved(
    conn: &mut Conn,
    now: OffsetDateTime,
    request: &StoredRequest,
) -> Result<RequestStatus, PersistenceError> {
    waiting_line::settle(conn, now, request)
}

/// `request_items_moved` for a request not loaded yet.
pub(crate) fn items_of_request_moved(
    conn: &mut Conn,
    now: OffsetDateTime,
    request_id: Uuid,
) -> Result<RequestStatus, PersistenceError> {
    waiting_line::settle_request(conn, now, request_id)
}

/// An online loan ends for `reason` (given back, revoked, expired, or its account changed): it
/// is closed with its audit event and its request settles. Returns the loan as it is now.
pub(crate) fn online_loan_ends(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor: Option<Uuid>,
    before: &StoredLoan,
    reason: OnlineEnd,
    note: Option<&str>,
) -> Result<StoredLoan, PersistenceError> {
    online::end_loan(conn, now, actor, before, reason, note)
}

/// An account changes from `before` to `after`: a borrower disabled or cleared lower loses the
/// online loans the account no longer allows, an account that stops being active loses its
/// sessions, and the change is stored. Returns the user as stored.
pub(crate) fn account_changed(
    conn: &mut Conn,
    now: OffsetDateTime,
    before: &User,
    after: &User,
) -> Result<User, PersistenceError> {
    // Before any row is locked: ending a loan holds its archive, and a recount waits its turn
    // before that (`rollups::Hold::Dimensions`).
    if users::recounted(before, after) {
        rollups::hold(conn, rollups::Hold::Dimensions)?;
    }
    if after.status != UserStatus::Active {
        online::end_for_borrower(conn, now, None, before.id, None)?;
    } else if after.clearance < before.clearance {
        online::end_for_borrower(conn, now, None, before.id, Some(after.clearance))?;
    }
    let user = users::store_change(conn, before, after)?;
    if before.status == UserStatus::Active && after.status != UserStatus::Active {
        sessions::revoke_sessions_of(conn, now, before.id, "user_deactivated")?;
    }
    Ok(user)
}
