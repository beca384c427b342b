//! Dangan's business rules. Pure: no I/O, no database, no HTTP, no clock reads — `now` is an argument.

/// An enum stored and sent as its snake_case name: `as_str`, `Display`, `FromStr` and serde agree.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::DomainError::UnknownValue(s.to_owned()))
            }
        }
    };
}

pub mod access;
pub mod archival;
pub mod archive;
pub mod audit;
pub mod checkpoint;
pub mod classification;
pub mod department;
pub mod error;
pub mod file;
pub mod form;
pub mod loan;
pub mod login_throttle;
pub mod mail;
pub mod policy;
pub mod reminder;
pub mod request;
pub mod scim;
pub mod search;
pub mod shelf;
pub mod sso;
pub mod user;
pub mod voucher;
pub mod webhook;

pub use classification::Classification;
pub use error::{DomainError, FieldError};
pub use user::{Role, UserStatus};
