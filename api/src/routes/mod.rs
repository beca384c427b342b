//! Every route of the API, one file per resource, registered in one place.

pub mod archive_room;
pub mod archives;
pub mod audit;
pub mod auth;
pub mod delegations;
pub mod departments;
pub mod files;
pub mod forms;
pub mod imports;
pub mod loans;
pub mod locations;
pub mod me;
pub mod oidc;
pub mod online;
pub mod photos;
pub mod policies;
pub mod reports;
pub mod requests;
pub mod scim_clients;
pub mod system;
pub mod users;
pub mod webhooks;

use actix_web::{middleware::from_fn, web};
use dangan_persistence::PageRequest;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// `?limit=&cursor=`, common to every list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct Paging {
    /// 1 to 500; default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

impl Paging {
    /// Decodes the opaque cursor with `decode`; `limit` is within 1..=`MAX_LIMIT`, as the
    /// document states it (`crate::shape::check_query`).
    pub fn request<C>(
        &self,
        decode: impl Fn(&str) -> Option<C>,
    ) -> Result<PageRequest<C>, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        let after = match self.cursor.as_deref() {
            None => None,
            Some(cursor) => {
                Some(decode(cursor).ok_or_else(|| ApiError::bad_request("invalid cursor"))?)
            }
        };
        Ok(PageRequest { limit, after })
    }
}

/// Whether the request's `Accept` header names `media_type`.
pub fn accepts(request: &actix_web::HttpRequest, media_type: &str) -> bool {
    request
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(media_type))
}

/// A 201 answer with the `Location` of what it created (RFC 9110 §10.2.2).
pub fn created(mut response: actix_web::HttpResponse, location: String) -> actix_web::HttpResponse {
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&location) {
        response
            .headers_mut()
            .insert(actix_web::http::header::LOCATION, value);
    }
    response
}

pub fn uuid_cursor(cursor: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::try_parse(cursor).ok()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(system::healthz)
        .service(system::readyz)
        .service(system::metrics)
        .service(system::docs)
        .service(
            web::scope("/api/v1")
                .wrap(from_fn(crate::idempotency::guard))
                .service(auth::login)
                .service(auth::refresh)
                .service(auth::logout)
                .service(oidc::login)
                .service(oidc::callback)
                .service(oidc::token)
                .service(me::me)
                .service(webhooks::create)
                .service(webhooks::list)
                .service(webhooks::remove)
                .service(webhooks::deliveries)
                .service(reports::summary)
                .service(reports::loans)
                .service(reports::overdue)
                .service(reports::compliance)
                .service(me::list_notifications)
                .service(me::read_all_notifications)
                .service(me::read_notification)
                .service(archive_room::create_fonds)
                .service(archive_room::list_fonds)
                .service(archive_room::get_fonds)
                .service(archive_room::update_fonds)
                .service(archive_room::create_category)
                .service(archive_room::list_categories)
                .service(archive_room::get_category)
                .service(archive_room::update_category)
                .service(archive_room::retention_due)
                .service(locations::create)
                .service(locations::list)
                .service(locations::by_barcode)
                .service(locations::get)
                .service(locations::update)
                .service(locations::move_archives)
                .service(departments::create)
                .service(departments::list)
                .service(departments::get)
                .service(departments::update)
                .service(imports::import_users)
                .service(users::create)
                .service(users::list)
                .service(users::get)
                .service(users::update)
                .service(users::deactivate)
                .service(users::activate)
                .service(users::remove_password)
                .service(users::sign_in_methods)
                .service(users::issue_sign_in_link)
                .service(users::revoke_sign_in_link)
                .service(users::unlink_identity)
                .service(scim_clients::create)
                .service(scim_clients::list)
                .service(scim_clients::revoke)
                .service(scim_clients::hand_over)
                .service(imports::import_archives)
                .service(archives::create)
                .service(archives::list)
                .service(archives::by_barcode)
                .service(archives::get)
                .service(archives::update)
                .service(archives::retire)
                .service(files::upload)
                .service(files::list)
                .service(files::read)
                .service(files::retire)
                .service(loans::archive_history)
                .service(policies::list)
                .service(policies::resolve)
                .service(policies::get)
                .service(policies::create)
                .service(policies::replace)
                .service(policies::remove)
                .service(requests::create)
                .service(requests::list)
                .service(requests::get)
                .service(requests::withdraw)
                .service(requests::approve)
                .service(requests::reject)
                .service(requests::approvals)
                .service(loans::check_out)
                .service(loans::list)
                .service(loans::list_mine)
                .service(loans::get)
                .service(loans::sign)
                .service(loans::voucher)
                .service(loans::find_voucher)
                .service(loans::renew)
                .service(loans::approve_renewal)
                .service(loans::reject_renewal)
                .service(loans::take_back)
                .service(photos::read)
                .service(loans::confirm_return)
                .service(loans::report_lost)
                .service(online::read)
                .service(online::copies)
                .service(online::identify)
                // Its other methods are that path's, not a digest for `trace` (405, not 422).
                .service(
                    web::resource("/loan-copies/identify")
                        .default_service(web::to(crate::methods::unrouted)),
                )
                .service(online::trace)
                .service(online::give_back)
                .service(online::revoke)
                .service(delegations::create)
                .service(delegations::list)
                .service(delegations::remove)
                .service(forms::list)
                .service(forms::create)
                .service(forms::replace)
                .service(forms::remove)
                .service(audit::list)
                .service(audit::verify)
                .service(audit::checkpoint),
        );
}
