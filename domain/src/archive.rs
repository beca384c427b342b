//! Archives (档案) of the catalogue: their fields, the rules a record must meet, and which status
//! changes an edit may make.

use std::str::FromStr;
use uuid::Uuid;

use crate::{
    archival::{check_category_code, ArchiveKind, Opening, Retention},
    policy::LoanType,
    Classification, DomainError, FieldError,
};

named_enum! {
    /// What an archive is made of.
    Medium { Paper => "paper", Electronic => "electronic", Mixed => "mixed" }
}

named_enum! {
    /// Where an archive stands in circulation.
    ArchiveStatus {
        Available => "available",
        Reserved => "reserved",
        OnLoan => "on_loan",
        Damaged => "damaged",
        Lost => "lost",
        Retired => "retired",
    }
}

/// The fields a person writes when cataloguing an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFields {
    pub archive_code: String,
    pub barcode: String,
    pub title: String,
    pub description: Option<String>,
    pub category: String,
    pub classification: Classification,
    pub medium: Medium,
    pub department_id: Option<Uuid>,
    pub location: String,
    pub year: Option<i32>,
    pub pages: Option<i32>,
    /// Where it is filed in the archive room's model ([`crate::archival`]).
    pub filing: Filing,
}

/// Where an archive is filed: its fonds (全宗; none given means the site's own), its category
/// (门类, whose rule builds the 档号; none for a category label no rule stands behind), its
/// retention period, whether it is open, what kind it is, and the values its 档号 takes that
/// no other field holds (机构(问题)代码 and 类别号/项目号/目录号).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filing {
    pub fonds_id: Option<Uuid>,
    pub category_code: Option<String>,
    pub retention: Option<Retention>,
    pub opening: Opening,
    pub opens_on: Option<time::Date>,
    pub kind: ArchiveKind,
    pub volume_id: Option<Uuid>,
    pub org_code: Option<String>,
    pub series_code: Option<String>,
    /// The shelf it sits on; its path is then the archive's `location` label.
    pub location_id: Option<Uuid>,
    /// The number (件号, or 案卷号 of a volume) given without the 档号: the category's rule
    /// writes the 档号 around it. Read from a request, never stored on its own.
    pub number: Option<u32>,
}

/// The names of the fields, as CSV headers and JSON keys spell them.
pub const FIELD_NAMES: [&str; 22] = [
    "archive_code",
    "barcode",
    "title",
    "description",
    "category",
    "classification",
    "medium",
    "department_id",
    "location",
    "year",
    "pages",
    "fonds_id",
    "category_code",
    "retention",
    "opening",
    "opens_on",
    "kind",
    "volume_id",
    "org_code",
    "series_code",
    "location_id",
    "number",
];

/// A column of an archivist's ledger: a field's name, or the Chinese heading ledgers use for it
/// (档号, 题名, 密级, 保管期限 …), spaces and full-width brackets ignored.
pub fn column_named(heading: &str) -> Option<&'static str> {
    let heading: String = heading
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            c => c,
        })
        .collect();
    if let Some(name) = FIELD_NAMES.iter().find(|n| **n == heading) {
        return Some(name);
    }
    let name = match heading.as_str() {
        "档号" => "archive_code",
        "条码" | "条形码" | "条码号" => "barcode",
        "题名" | "标题" | "案卷题名" | "文件题名" => "title",
        "描述" | "说明" | "内容摘要" | "摘要" | "备注" => "description",
        "门类" | "类别" | "档案门类" => "category",
        "门类代码" | "档案门类代码" => "category_code",
        "密级" => "classification",
        "载体" | "载体类型" | "介质" => "medium",
        "部门ID" | "部门id" => "department_id",
        "存放位置" | "位置" | "存址" | "架位" => "location",
        "年度" | "年份" => "year",
        "页数" => "pages",
        "全宗ID" | "全宗id" => "fonds_id",
        "保管期限" => "retention",
        "开放状态" | "开放" => "opening",
        "开放日期" | "延期开放日期" => "opens_on",
        "件卷" | "整理方式" | "类型" => "kind",
        "案卷ID" | "案卷id" => "volume_id",
        "机构(问题)代码" | "机构(问题)" | "机构代码" | "问题代码" => "org_code",
        "类别号" | "项目号" | "目录号" => "series_code",
        "架位ID" | "架位id" => "location_id",
        "件号" | "案卷号" | "卷号" => "number",
        _ => return None,
    };
    Some(name)
}

/// A cell's value as an archivist writes it, in the words the API takes: 秘密 is `secret`,
/// 纸质 `paper`, 永久 `Y`, 定期30年 `D30`, 延期开放 `delayed`, 卷 `volume`. Anything else is
/// taken as written.
pub fn ledger_value(field: &str, value: &str) -> String {
    let term = match (field, value) {
        ("classification", "公开") => "public",
        ("classification", "内部") => "internal",
        ("classification", "秘密") => "secret",
        ("classification", "机密") => "confidential",
        ("classification", "绝密") => "top_secret",
        ("medium", "纸质") => "paper",
        ("medium", "电子") => "electronic",
        ("medium", "混合" | "纸电混合") => "mixed",
        ("retention", "永久") => "Y",
        ("opening", "开放") => "open",
        ("opening", "控制" | "控制使用" | "不开放") => "controlled",
        ("opening", "延期开放") => "delayed",
        ("kind", "卷" | "案卷") => "volume",
        ("kind", "件") => "item",
        ("retention", period) => {
            // 定期30年, 30年, 长期 are the ledger's words for Dn.
            let years = period
                .trim_start_matches("定期")
                .trim_end_matches('年')
                .trim();
            return match years.parse::<u16>() {
                Ok(n) if n > 0 => format!("D{n}"),
                _ => value.to_owned(),
            };
        }
        _ => value,
    };
    term.to_owned()
}

/// The fields every archive must have (a CSV import needs their columns); `archive_code` may
/// be left empty where a category's rule generates it, `category` where `category_code` names
/// it, and `location` where `location_id` names the shelf.
pub const REQUIRED_FIELDS: [&str; 4] = ["barcode", "title", "classification", "medium"];

pub(crate) fn check_text(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    value: &str,
    max: usize,
) {
    let length = value.chars().count();
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, "is required"));
    } else if length > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
}

pub(crate) fn check_identifier(errors: &mut Vec<FieldError>, field: &'static str, value: &str) {
    check_text(errors, field, value, 64);
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(FieldError::new(
            field,
            "must not contain spaces or control characters",
        ));
    }
}

impl ArchiveFields {
    /// Every rule the fields break, for a cataloguer whose clearance is `clearance`
    /// (nobody catalogues an archive they could not see afterwards).
    pub fn check(&self, clearance: Classification) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let filed = &self.filing;
        // A category's rule may generate the code; whether it does is known once it is read.
        if !(self.archive_code.is_empty() && filed.category_code.is_some()) {
            check_identifier(&mut errors, "archive_code", &self.archive_code);
        }
        check_identifier(&mut errors, "barcode", &self.barcode);
        check_text(&mut errors, "title", &self.title, 500);
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 5000)
        {
            errors.push(FieldError::new(
                "description",
                "must be at most 5000 characters",
            ));
        }
        match &filed.category_code {
            Some(code) => check_category_code(&mut errors, "category_code", code),
            None => check_text(&mut errors, "category", &self.category, 64),
        }
        if filed.location_id.is_none() || !self.location.is_empty() {
            check_text(&mut errors, "location", &self.location, 100);
        }
        match (filed.opening, filed.opens_on) {
            (Opening::Delayed, None) => errors.push(FieldError::new(
                "opens_on",
                "is required when opening is delayed (延期开放)",
            )),
            (Opening::Open | Opening::Controlled, Some(_)) => errors.push(FieldError::new(
                "opens_on",
                "is only for an archive whose opening is delayed",
            )),
            _ => {}
        }
        for (field, value) in [
            ("org_code", &filed.org_code),
            ("series_code", &filed.series_code),
        ] {
            let well_formed = |v: &String| {
                (1..=8).contains(&v.len())
                    && v.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            };
            if value.as_ref().is_some_and(|v| !well_formed(v)) {
                errors.push(FieldError::new(
                    field,
                    "must be 1–8 capital letters or digits",
                ));
            }
        }
        if filed.kind == ArchiveKind::Volume && filed.volume_id.is_some() {
            errors.push(FieldError::new("volume_id", "a volume sits in no volume"));
        }
        if !self.classification.visible_to(clearance) {
            errors.push(FieldError::new("classification", "is above your clearance"));
        }
        if self.year.is_some_and(|y| !(1..=9999).contains(&y)) {
            errors.push(FieldError::new("year", "must be between 1 and 9999"));
        }
        if self.pages.is_some_and(|p| !(0..=1_000_000).contains(&p)) {
            errors.push(FieldError::new("pages", "must be between 0 and 1000000"));
        }
        errors
    }

    /// Builds fields from text (a CSV row, a JSON item), checking each: `get` returns a
    /// field's text, `None` or empty meaning absent.
    pub fn parse<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
        clearance: Classification,
    ) -> Result<ArchiveFields, Vec<FieldError>> {
        let mut errors = Vec::new();
        let text = |name: &str| get(name).map(str::trim).filter(|v| !v.is_empty());
        let required = |name: &str| text(name).unwrap_or_default().to_owned();
        fn parsed<T: FromStr>(
            errors: &mut Vec<FieldError>,
            field: &'static str,
            value: Option<&str>,
            expected: &str,
        ) -> Option<T> {
            let value = value?;
            match value.parse() {
                Ok(v) => Some(v),
                Err(_) => {
                    errors.push(FieldError::new(
                        field,
                        format!("{value:?} is not {expected}"),
                    ));
                    None
                }
            }
        }
        let classification = match text("classification") {
            None => {
                errors.push(FieldError::new("classification", "is required"));
                None
            }
            v => parsed(
                &mut errors,
                "classification",
                v,
                "one of public, internal, secret, confidential, top_secret",
            ),
        };
        let medium = match text("medium") {
            None => {
                errors.push(FieldError::new("medium", "is required"));
                None
            }
            v => parsed(&mut errors, "medium", v, "one of paper, electronic, mixed"),
        };
        let department_id = parsed(
            &mut errors,
            "department_id",
            text("department_id"),
            "a department id (UUID)",
        );
        let year = parsed(&mut errors, "year", text("year"), "a whole number");
        let pages = parsed(&mut errors, "pages", text("pages"), "a whole number");
        let filing = Filing {
            fonds_id: parsed(
                &mut errors,
                "fonds_id",
                text("fonds_id"),
                "a fonds id (UUID)",
            ),
            category_code: text("category_code").map(str::to_owned),
            retention: parsed(
                &mut errors,
                "retention",
                text("retention"),
                "Y, D30, D10 or another Dn",
            ),
            opening: parsed(
                &mut errors,
                "opening",
                text("opening"),
                "one of open, controlled, delayed",
            )
            .unwrap_or_default(),
            opens_on: text("opens_on").and_then(|v| {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                time::Date::parse(v, format)
                    .map_err(|_| {
                        errors.push(FieldError::new(
                            "opens_on",
                            format!("{v:?} is not a date (YYYY-MM-DD)"),
                        ))
                    })
                    .ok()
            }),
            kind: parsed(&mut errors, "kind", text("kind"), "one of volume, item")
                .unwrap_or_default(),
            volume_id: parsed(
                &mut errors,
                "volume_id",
                text("volume_id"),
                "an archive id (UUID)",
            ),
            org_code: text("org_code").map(str::to_owned),
            series_code: text("series_code").map(str::to_owned),
            location_id: parsed(
                &mut errors,
                "location_id",
                text("location_id"),
                "a location id (UUID)",
            ),
            number: parsed(
                &mut errors,
                "number",
                text("number"),
                "a whole number (件号 or 案卷号)",
            ),
        };
        let (Some(classification), Some(medium)) = (classification, medium) else {
            return Err(errors);
        };
        let fields = ArchiveFields {
            archive_code: required("archive_code"),
            barcode: required("barcode"),
            title: required("title"),
            description: text("description").map(str::to_owned),
            category: required("category"),
            classification,
            medium,
            department_id,
            location: required("location"),
            year,
            pages,
            filing,
        };
        errors.extend(fields.check(clearance));
        if errors.is_empty() {
            Ok(fields)
        } else {
            Err(errors)
        }
    }
}

/// An archive may be retired unless it is out or promised to someone.
pub fn check_retire(status: ArchiveStatus) -> Result<(), DomainError> {
    match status {
        ArchiveStatus::OnLoan | ArchiveStatus::Reserved => Err(DomainError::ArchiveOnLoan),
        _ => Ok(()),
    }
}

/// A lost, retired or damaged archive cannot be requested; one that is out or reserved can (the
/// request waits in line for it).
pub fn check_requestable(status: ArchiveStatus, loan_type: LoanType) -> Result<(), DomainError> {
    match (status, loan_type) {
        // The files of a lost or damaged paper archive are still there to read.
        (ArchiveStatus::Lost | ArchiveStatus::Damaged, LoanType::Online) => Ok(()),
        (ArchiveStatus::Lost | ArchiveStatus::Retired | ArchiveStatus::Damaged, _) => {
            Err(DomainError::ArchiveUnavailable)
        }
        _ => Ok(()),
    }
}

/// What an online loan lends: an archive's electronic files. The archive must be electronic or
/// mixed and hold at least one file; the message says which and why not.
pub fn check_online(archive_code: &str, medium: Medium, files: i64) -> Result<(), String> {
    if medium == Medium::Paper {
        Err(format!(
            "{archive_code} is paper only: online loans lend electronic files"
        ))
    } else if files == 0 {
        Err(format!(
            "{archive_code} has no electronic file to lend online yet"
        ))
    } else {
        Ok(())
    }
}

/// A catalogue edit may only move an archive between `available` and `damaged` (after a repair,
/// or on finding damage); circulation states change through check-out, return and retire.
pub fn check_status_edit(from: ArchiveStatus, to: ArchiveStatus) -> Result<(), DomainError> {
    use ArchiveStatus::*;
    match (from, to) {
        (a, b) if a == b => Ok(()),
        (Available, Damaged) | (Damaged, Available) => Ok(()),
        _ => Err(DomainError::StatusChange {
            from: from.as_str(),
            to: to.as_str(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn row(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn good() -> HashMap<String, String> {
        row(&[
            ("archive_code", "WS-2019-Y-0042"),
            ("barcode", "B000042"),
            ("title", "2019年劳动合同"),
            ("category", "文书"),
            ("classification", "internal"),
            ("medium", "paper"),
            ("location", "A-03-12-05"),
            ("year", "2019"),
        ])
    }

    fn parse(
        r: &HashMap<String, String>,
        clearance: Classification,
    ) -> Result<ArchiveFields, Vec<FieldError>> {
        ArchiveFields::parse(|k| r.get(k).map(String::as_str), clearance)
    }

    fn fields_of(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field.to_string()).collect()
    }

    #[test]
    fn online_loans_lend_the_files_of_electronic_archives_even_when_the_paper_is_gone() {
        use super::ArchiveStatus as A;
        assert!(check_requestable(A::Damaged, LoanType::TakeOut).is_err());
        assert!(check_requestable(A::Damaged, LoanType::Online).is_ok());
        assert!(check_requestable(A::Lost, LoanType::Online).is_ok());
        assert!(check_requestable(A::Retired, LoanType::Online).is_err());
        assert!(check_online("A-1", Medium::Paper, 3)
            .unwrap_err()
            .contains("paper only"));
        assert!(check_online("A-1", Medium::Mixed, 0)
            .unwrap_err()
            .contains("no electronic file"));
        assert!(check_online("A-1", Medium::Electronic, 1).is_ok());
    }
    #[test]
    fn a_complete_row_parses() {
        let fields = parse(&good(), Classification::Internal).unwrap();
        assert_eq!(fields.year, Some(2019));
        assert_eq!(fields.medium, Medium::Paper);
        assert_eq!(fields.description, None);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut r = good();
        r.insert("archive_code".into(), "WS 2019".into());
        r.insert("title".into(), " ".into());
        r.insert("medium".into(), "vellum".into());
        r.insert("year".into(), "MMXIX".into());
        r.insert("department_id".into(), "hr".into());
        let errors = parse(&r, Classification::Internal).unwrap_err();
        assert_eq!(fields_of(errors), ["medium", "department_id", "year"]);
        r.insert("medium".into(), "paper".into());
        let errors = parse(&r, Classification::Internal).unwrap_err();
        assert_eq!(
            fields_of(errors),
            ["department_id", "year", "archive_code", "title"]
        );
    }

    #[test]
    fn a_ledgers_headings_and_words_are_read_as_an_archivist_means_them() {
        assert_eq!(column_named(" 档号 "), Some("archive_code"));
        assert_eq!(column_named("机构（问题）代码"), Some("org_code"));
        assert_eq!(column_named("barcode"), Some("barcode"));
        assert_eq!(column_named("颜色"), None);
        assert_eq!(ledger_value("classification", "秘密"), "secret");
        assert_eq!(ledger_value("retention", "永久"), "Y");
        assert_eq!(ledger_value("retention", "定期30年"), "D30");
        assert_eq!(ledger_value("retention", "10年"), "D10");
        assert_eq!(ledger_value("retention", "D10"), "D10");
        assert_eq!(ledger_value("kind", "卷"), "volume");
        assert_eq!(
            ledger_value("title", "秘密"),
            "秘密",
            "only where the field takes the word"
        );
    }

    #[test]
    fn nobody_catalogues_above_their_clearance() {
        let mut r = good();
        r.insert("classification".into(), "secret".into());
        assert_eq!(
            fields_of(parse(&r, Classification::Internal).unwrap_err()),
            ["classification"]
        );
        assert!(parse(&r, Classification::Secret).is_ok());
    }

    #[test]
    fn retire_and_status_edits_follow_circulation() {
        assert_eq!(
            check_retire(ArchiveStatus::OnLoan),
            Err(DomainError::ArchiveOnLoan)
        );
        assert_eq!(check_retire(ArchiveStatus::Damaged), Ok(()));
        assert!(check_status_edit(ArchiveStatus::Damaged, ArchiveStatus::Available).is_ok());
        assert!(check_status_edit(ArchiveStatus::Available, ArchiveStatus::OnLoan).is_err());
        assert!(check_status_edit(ArchiveStatus::Retired, ArchiveStatus::Available).is_err());
    }
}
