//! Serde helpers for request bodies.

use serde::{Deserialize, Deserializer};

/// Tells an absent field (`None`, via `#[serde(default)]`) from an explicit `null` (`Some(None)`),
/// which PATCH needs to clear a nullable field.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
