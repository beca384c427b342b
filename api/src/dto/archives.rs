//! A new archive as `POST /archives` and the JSON import take it, and where it is filed.

use dangan_domain::{
    archival::{ArchiveKind, Opening},
    archive::{ArchiveFields, ArchiveStatus, Filing, Medium},
    Classification, FieldError,
};
use dangan_persistence::store::archives::{retention_ends_on, Archive};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

const ISO_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A date as the API writes it (`2029-12-31`).
pub fn date_text(date: Date) -> String {
    date.format(ISO_DATE).unwrap_or_default()
}

/// Reads a `YYYY-MM-DD` date, or says which field is not one.
pub fn read_date(field: &'static str, text: &str) -> Result<Date, FieldError> {
    Date::parse(text, ISO_DATE)
        .map_err(|_| FieldError::new(field, format!("{text:?} is not a date (YYYY-MM-DD)")))
}

/// A new archive. Required: `barcode`, `title`, `classification`, `medium`, `location`; a
/// `category` label or a `category_code`; and an `archive_code` (档号) unless `category_code`
/// names a category whose rule builds it. With `category_code` a given code is checked
/// against the category's rule; with a `category` label alone it is taken as given.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "barcode": "B000042", "title": "关于2019年劳动合同续签的通知",
    "description": "人事处 2019 年度劳动合同汇编", "category_code": "WS", "retention": "D30",
    "classification": "internal", "medium": "paper", "location": "A-03-12-05", "year": 2019,
    "pages": 12
}))]
pub struct CreateArchiveRequest {
    /// 档号: built by the category's rule when left out (`J001-WS·2019-D30-0042`).
    #[schema(max_length = 64, pattern = "^[^\\s\\x00-\\x1F\\x7F-\\x9F]+$")]
    pub archive_code: Option<String>,
    #[schema(max_length = 64, pattern = "^[^\\s\\x00-\\x1F\\x7F-\\x9F]+$")]
    pub barcode: String,
    #[schema(max_length = 500, pattern = "\\S")]
    pub title: String,
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    /// The category's label; the category's name when `category_code` is given.
    #[schema(max_length = 64, pattern = "\\S")]
    pub category: Option<String>,
    pub classification: Classification,
    pub medium: Medium,
    pub department_id: Option<Uuid>,
    /// Where it is kept, as free text (`A-03-12-05`); the shelf's path when `location_id` is given.
    #[schema(max_length = 100, pattern = "\\S")]
    pub location: Option<String>,
    #[schema(minimum = 1, maximum = 9999)]
    pub year: Option<i32>,
    #[schema(minimum = 0, maximum = 1000000)]
    pub pages: Option<i32>,
    /// The fonds (全宗); the site's own when left out.
    pub fonds_id: Option<Uuid>,
    /// The category (门类) whose 档号 rule builds or checks the code (`WS`, `KU·01`).
    #[schema(max_length = 16, pattern = "^[A-Z]{2}(·[A-Z0-9]{1,4}){0,2}$")]
    pub category_code: Option<String>,
    /// 保管期限: `Y` (永久), `D30`, `D10` or another period of years a site keeps (`D5`).
    #[schema(pattern = "^(Y|D[1-9][0-9]{0,2})$", example = "D30")]
    pub retention: Option<String>,
    /// `controlled` when left out.
    pub opening: Option<Opening>,
    /// The date a `delayed` archive opens.
    #[schema(format = Date, example = "2045-01-01")]
    pub opens_on: Option<String>,
    /// `item` when left out.
    pub kind: Option<ArchiveKind>,
    /// The volume (案卷) an item sits in.
    pub volume_id: Option<Uuid>,
    /// 机构(问题)代码, where the category's rule has it (`BGS`).
    #[schema(max_length = 8, pattern = "^[A-Z0-9]{1,8}$")]
    pub org_code: Option<String>,
    /// 类别号, 项目号 or 目录号, where the category's rule has one (`001`).
    #[schema(max_length = 8, pattern = "^[A-Z0-9]{1,8}$")]
    pub series_code: Option<String>,
    /// The shelf (`/api/v1/locations`) it sits on.
    pub location_id: Option<Uuid>,
    /// 件号 (or a volume's 案卷号) without the 档号: the category's rule writes the code around it.
    #[schema(minimum = 1, maximum = 9999)]
    pub number: Option<u32>,
}

impl CreateArchiveRequest {
    fn filing(&self) -> Result<Filing, ApiError> {
        let mut errors = Vec::new();
        let retention = self.retention.as_deref().and_then(|r| {
            r.parse()
                .map_err(|_| {
                    errors.push(FieldError::new(
                        "retention",
                        format!("{r:?} is not Y, D30, D10 or another Dn"),
                    ))
                })
                .ok()
        });
        let opens_on = self
            .opens_on
            .as_deref()
            .and_then(|d| read_date("opens_on", d).map_err(|e| errors.push(e)).ok());
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let trimmed = |v: &Option<String>| v.as_ref().map(|c| c.trim().to_owned());
        Ok(Filing {
            fonds_id: self.fonds_id,
            category_code: trimmed(&self.category_code),
            retention,
            opening: self.opening.unwrap_or_default(),
            opens_on,
            kind: self.kind.unwrap_or_default(),
            volume_id: self.volume_id,
            org_code: trimmed(&self.org_code),
            series_code: trimmed(&self.series_code),
            location_id: self.location_id,
            number: self.number,
        })
    }

    pub fn into_fields(self) -> Result<ArchiveFields, ApiError> {
        let filing = self.filing()?;
        Ok(ArchiveFields {
            archive_code: self
                .archive_code
                .map(|c| c.trim().to_owned())
                .unwrap_or_default(),
            barcode: self.barcode.trim().to_owned(),
            title: self.title.trim().to_owned(),
            description: self.description.filter(|d| !d.trim().is_empty()),
            category: self
                .category
                .map(|c| c.trim().to_owned())
                .unwrap_or_default(),
            classification: self.classification,
            medium: self.medium,
            department_id: self.department_id,
            location: self
                .location
                .map(|l| l.trim().to_owned())
                .unwrap_or_default(),
            year: self.year,
            pages: self.pages,
            filing,
        })
    }
}

/// An archive as the API sends it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b42", "archive_code": "WS-2019-Y-0042", "barcode": "B000042",
    "title": "2019年劳动合同", "description": "人事处 2019 年度劳动合同汇编", "category": "人事",
    "classification": "internal", "medium": "paper", "department_id": null, "location": "A-03-12-05",
    "year": 2019, "pages": 120, "status": "available",
    "created_at": "2026-11-24T08:00:00Z", "updated_at": "2026-11-24T08:00:00Z", "version": 1,
    "fonds_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b01", "category_code": "WS", "retention": "D30",
    "retention_ends_on": "2049-12-31", "opening": "controlled", "opens_on": null, "kind": "item",
    "volume_id": null, "org_code": null, "series_code": null, "location_id": null
}))]
pub struct ArchiveDto {
    pub id: Uuid,
    /// 档号, unique.
    pub archive_code: String,
    pub barcode: String,
    pub title: String,
    pub description: Option<String>,
    pub category: String,
    pub classification: Classification,
    pub medium: Medium,
    pub department_id: Option<Uuid>,
    /// Shelf location such as `A-03-12-05`.
    pub location: String,
    pub year: Option<i32>,
    pub pages: Option<i32>,
    pub status: ArchiveStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
    /// The fonds (全宗) it belongs to.
    pub fonds_id: Option<Uuid>,
    /// Its category (门类); none for a category label no category stands behind.
    pub category_code: Option<String>,
    /// 保管期限: `Y`, `D30`, `D10` or another `Dn`.
    pub retention: Option<String>,
    /// The last day of its retention period: the years of `retention` counted from the 1st of
    /// January after `year`. None for a permanent archive or one without a year.
    #[schema(format = Date)]
    pub retention_ends_on: Option<String>,
    pub opening: Opening,
    #[schema(format = Date)]
    pub opens_on: Option<String>,
    pub kind: ArchiveKind,
    /// The volume (案卷) this item sits in.
    pub volume_id: Option<Uuid>,
    /// 机构(问题)代码.
    pub org_code: Option<String>,
    /// 类别号, 项目号 or 目录号.
    pub series_code: Option<String>,
    /// The shelf it sits on; `location` is then its path.
    pub location_id: Option<Uuid>,
    /// A volume's items, counted for you, when the volume itself is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_items: Option<VolumeItems>,
}

/// The items of a volume: those you may see, and those above your clearance (counted, never
/// named).
#[derive(Debug, Serialize, ToSchema)]
pub struct VolumeItems {
    pub items: i64,
    pub withheld: i64,
}

impl From<Archive> for ArchiveDto {
    fn from(a: Archive) -> Self {
        let retention_ends_on = retention_ends_on(&a.fields).map(date_text);
        let f = a.fields;
        let filed = f.filing;
        ArchiveDto {
            id: a.id,
            archive_code: f.archive_code,
            barcode: f.barcode,
            title: f.title,
            description: f.description,
            category: f.category,
            classification: f.classification,
            medium: f.medium,
            department_id: f.department_id,
            location: f.location,
            year: f.year,
            pages: f.pages,
            status: a.status,
            created_at: a.created_at,
            updated_at: a.updated_at,
            version: a.version,
            fonds_id: filed.fonds_id,
            category_code: filed.category_code,
            retention: filed.retention.map(|r| r.to_string()),
            retention_ends_on,
            opening: filed.opening,
            opens_on: filed.opens_on.map(date_text),
            kind: filed.kind,
            volume_id: filed.volume_id,
            org_code: filed.org_code,
            series_code: filed.series_code,
            location_id: filed.location_id,
            volume_items: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArchiveList {
    pub items: Vec<ArchiveDto>,
    pub next_cursor: Option<String>,
}
