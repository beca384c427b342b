//! A user as the user routes and `/me` show one.

use dangan_domain::{Classification, Role, UserStatus};
use dangan_persistence::store::users::User;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A user as the API shows one: never a password or its hash.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b11", "username": "zhangsan", "display_name": "张三",
    "department_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b00", "roles": ["archivist"], "clearance": "secret",
    "email": "zhangsan@example.org", "phone": null, "status": "active",
    "created_at": "2026-11-24T08:00:00Z", "updated_at": "2026-11-24T08:00:00Z", "version": 1
}))]
pub struct UserDto {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub department_id: Option<Uuid>,
    pub roles: Vec<Role>,
    pub clearance: Classification,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub status: UserStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        UserDto {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            department_id: u.department_id,
            roles: u.roles.into_iter().collect(),
            clearance: u.clearance,
            email: u.email,
            phone: u.phone,
            status: u.status,
            created_at: u.created_at,
            updated_at: u.updated_at,
            version: u.version,
        }
    }
}
