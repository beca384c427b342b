//! The classification scale (密级) of archives, which is also the scale of a user's clearance.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Ordered low → high: the derived `Ord` follows declaration order, which is the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Classification {
    Public,
    Internal,
    Secret,
    Confidential,
    TopSecret,
}

impl Classification {
    pub const ALL: [Classification; 5] = [
        Classification::Public,
        Classification::Internal,
        Classification::Secret,
        Classification::Confidential,
        Classification::TopSecret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Public => "public",
            Classification::Internal => "internal",
            Classification::Secret => "secret",
            Classification::Confidential => "confidential",
            Classification::TopSecret => "top_secret",
        }
    }

    /// A holder of `clearance` may see (and so request) an archive of this classification.
    pub fn visible_to(self, clearance: Classification) -> bool {
        self <= clearance
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Classification {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Classification::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| DomainError::UnknownValue(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_is_ordered_low_to_high() {
        assert!(Classification::Public < Classification::Internal);
        assert!(Classification::Internal < Classification::Secret);
        assert!(Classification::Secret < Classification::Confidential);
        assert!(Classification::Confidential < Classification::TopSecret);
    }

    #[test]
    fn visible_only_up_to_clearance() {
        for archive in Classification::ALL {
            for clearance in Classification::ALL {
                let expected = Classification::ALL.iter().position(|c| *c == archive)
                    <= Classification::ALL.iter().position(|c| *c == clearance);
                assert_eq!(
                    archive.visible_to(clearance),
                    expected,
                    "{archive} vs {clearance}"
                );
            }
        }
    }

    #[test]
    fn parses_its_own_names_only() {
        for c in Classification::ALL {
            assert_eq!(c.as_str().parse::<Classification>(), Ok(c));
        }
        assert!("TopSecret".parse::<Classification>().is_err());
    }
}
