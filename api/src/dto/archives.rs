//! A new archive as `POST /archives` and the JSON import take it.

use dangan_domain::{
    archive::{ArchiveFields, Medium},
    Classification,
};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A new archive. Required: `archive_code`, `barcode`, `title`, `category`, `classification`,
/// `medium`, `location`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "archive_code": "WS-2019-Y-0042", "barcode": "B000042", "title": "2019年劳动合同",
    "description": "人事处 2019 年度劳动合同汇编", "category": "人事", "classification": "internal",
    "medium": "paper", "location": "A-03-12-05", "year": 2019, "pages": 120
}))]
pub struct CreateArchiveRequest {
    #[schema(max_length = 64, pattern = "^[^\\s\\x00-\\x1F\\x7F-\\x9F]+$")]
    pub archive_code: String,
    #[schema(max_length = 64, pattern = "^[^\\s\\x00-\\x1F\\x7F-\\x9F]+$")]
    pub barcode: String,
    #[schema(max_length = 500, pattern = "\\S")]
    pub title: String,
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    #[schema(max_length = 64, pattern = "\\S")]
    pub category: String,
    pub classification: Classification,
    pub medium: Medium,
    pub department_id: Option<Uuid>,
    #[schema(max_length = 100, pattern = "\\S")]
    pub location: String,
    #[schema(minimum = 1, maximum = 9999)]
    pub year: Option<i32>,
    #[schema(minimum = 0, maximum = 1000000)]
    pub pages: Option<i32>,
}

impl CreateArchiveRequest {
    pub fn into_fields(self) -> ArchiveFields {
        ArchiveFields {
            archive_code: self.archive_code.trim().to_owned(),
            barcode: self.barcode.trim().to_owned(),
            title: self.title.trim().to_owned(),
            description: self.description.filter(|d| !d.trim().is_empty()),
            category: self.category.trim().to_owned(),
            classification: self.classification,
            medium: self.medium,
            department_id: self.department_id,
            location: self.location.trim().to_owned(),
            year: self.year,
            pages: self.pages,
        }
    }
}
