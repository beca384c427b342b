//! An approval step as requests and reports show it.

use dangan_domain::request::{Step, StepStatus};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct StepDto {
    pub index: usize,
    pub name: String,
    pub status: StepStatus,
    pub approver_ids: Vec<Uuid>,
    pub decided_by: Option<Uuid>,
    /// The approver a delegate decided for.
    pub on_behalf_of: Option<Uuid>,
    pub comment: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
}

impl StepDto {
    pub(crate) fn new(index: usize, s: Step) -> Self {
        StepDto {
            index,
            name: s.name,
            status: s.status,
            approver_ids: s.approver_ids,
            decided_by: s.decided_by,
            on_behalf_of: s.on_behalf_of,
            comment: s.comment,
            decided_at: s.decided_at,
        }
    }
}
