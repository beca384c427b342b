//! The archive room's model, as Chinese archivists file: fonds (全宗), categories (门类) and the
//! rule that builds each category's reference code (档号, DA/T 13-2022 《档号编制规则》),
//! retention periods (保管期限) and when they end, opening status (开放状态), volumes (案卷)
//! and items (件).
//!
//! A 档号 is written level by level from the fonds down: levels are joined by `-`, the codes
//! inside one level by `·` (`J001-WS·2019-Y-0001`). The last level is the number that orders
//! the archives of their group: 件号 (four digits) for an archive filed by item, 案卷号 (three
//! digits) for one filed by volume; an item inside a volume is numbered after it
//! (`J001-KJ·001-003-0002`). Numbers are zero-padded to their width and never wider, so
//! comparing codes byte by byte orders them as the standard does (`0009` < `0010` < `0100`).

use std::{fmt, str::FromStr};

use time::{Date, Month};
use uuid::Uuid;

use crate::{DomainError, FieldError};

/// Joins the levels of a 档号.
pub const LEVEL: char = '-';
/// Joins the codes inside one level.
pub const WITHIN: char = '·';

named_enum! {
    /// Whether an archive may be read: open to readers, controlled (the default of an archive
    /// room's holdings), or delayed until a date (延期开放).
    #[derive(Default)]
    Opening {
        Open => "open",
        #[default]
        Controlled => "controlled",
        Delayed => "delayed",
    }
}

named_enum! {
    /// A volume (案卷) holds items; an item (件) stands alone or sits in a volume.
    #[derive(Default)]
    ArchiveKind {
        Volume => "volume",
        #[default]
        Item => "item",
    }
}

named_enum! {
    /// How a category's archives are filed: one number per item (按件) or per volume (按卷).
    Arrangement { ByItem => "by_item", ByVolume => "by_volume" }
}

fn is_code_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

/// A fonds number (全宗号): four capital letters or digits, as the archives bureau gives it
/// (`J001`, `Z109`, `0035`).
pub fn check_fonds_number(errors: &mut Vec<FieldError>, field: &'static str, number: &str) {
    if number.chars().count() != 4 || !number.chars().all(is_code_char) {
        errors.push(FieldError::new(
            field,
            "全宗号 must be 4 capital letters or digits, such as J001",
        ));
    }
}

/// What a person writes about a fonds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FondsFields {
    pub number: String,
    pub name: String,
    /// The organisation that formed it (立档单位), where its name alone does not say.
    pub formed_by: Option<String>,
    pub start_year: Option<i32>,
    pub end_year: Option<i32>,
}

impl FondsFields {
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_fonds_number(&mut errors, "number", &self.number);
        crate::archive::check_text(&mut errors, "name", &self.name, 200);
        if self
            .formed_by
            .as_ref()
            .is_some_and(|f| f.chars().count() > 200)
        {
            errors.push(FieldError::new(
                "formed_by",
                "must be at most 200 characters",
            ));
        }
        for (field, year) in [("start_year", self.start_year), ("end_year", self.end_year)] {
            if year.is_some_and(|y| !(1..=9999).contains(&y)) {
                errors.push(FieldError::new(field, "must be between 1 and 9999"));
            }
        }
        if let (Some(start), Some(end)) = (self.start_year, self.end_year) {
            if start > end {
                errors.push(FieldError::new("end_year", "must not be before start_year"));
            }
        }
        errors
    }
}

/// What a person writes about a category: its code, its name, and its 档号 rule as a template
/// (none: its codes are given, not built).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryFields {
    pub code: String,
    pub name: String,
    pub rule: Option<String>,
}

impl CategoryFields {
    /// The rule, or every rule the fields break.
    pub fn check(&self) -> Result<Option<CodeRule>, Vec<FieldError>> {
        let mut errors = Vec::new();
        check_category_code(&mut errors, "code", &self.code);
        crate::archive::check_text(&mut errors, "name", &self.name, 100);
        let rule = match self.rule.as_deref().map(str::parse::<CodeRule>) {
            Some(Err(why)) => {
                errors.push(FieldError::new("rule", why));
                None
            }
            Some(Ok(rule)) => Some(rule),
            None => None,
        };
        if errors.is_empty() {
            Ok(rule)
        } else {
            Err(errors)
        }
    }
}

/// A category code (门类代码): two capital letters, optionally followed by the codes of its
/// second and third levels joined by `·` (`WS`, `KU·01`, `SW·JB`).
pub fn check_category_code(errors: &mut Vec<FieldError>, field: &'static str, code: &str) {
    let mut parts = code.split(WITHIN);
    let first_ok = parts
        .next()
        .is_some_and(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_uppercase()));
    let rest: Vec<&str> = parts.collect();
    let rest_ok = rest.len() <= 2
        && rest
            .iter()
            .all(|p| (1..=4).contains(&p.len()) && p.chars().all(is_code_char));
    if !first_ok || !rest_ok {
        errors.push(FieldError::new(
            field,
            "门类代码 must be 2 capital letters, optionally followed by up to two \
             ·-joined codes of 1–4 capital letters or digits (WS, KU·01, SW·JB)",
        ));
    }
}

/// A code an archivist gives inside a 档号 (机构(问题)代码, 类别号, 项目号, 目录号): 1–8
/// capital letters or digits.
fn check_free_code(value: &str) -> bool {
    (1..=8).contains(&value.len()) && value.chars().all(is_code_char)
}

/// A retention period (保管期限): permanent (`Y`, 永久) or a number of years (`D30`, `D10`,
/// or another a site keeps, such as `D5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retention {
    Permanent,
    Years(u16),
}

impl Retention {
    /// The last day of the period for an archive closed in `year`: the period runs from the
    /// 1st of January after it, so a `D10` archive of 2019 is kept to 2029-12-31. A permanent
    /// one never ends.
    pub fn ends_on(self, year: i32) -> Option<Date> {
        match self {
            Retention::Permanent => None,
            Retention::Years(n) => {
                Date::from_calendar_date(year.checked_add(i32::from(n))?, Month::December, 31).ok()
            }
        }
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retention::Permanent => f.write_str("Y"),
            Retention::Years(n) => write!(f, "D{n}"),
        }
    }
}

impl FromStr for Retention {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || DomainError::UnknownValue(s.to_owned());
        if s == "Y" {
            return Ok(Retention::Permanent);
        }
        let years = s.strip_prefix('D').ok_or_else(unknown)?;
        if years.starts_with('0') || years.is_empty() || years.len() > 3 {
            return Err(unknown());
        }
        years
            .parse::<u16>()
            .map(Retention::Years)
            .map_err(|_| unknown())
    }
}

named_enum! {
    /// One element of a 档号 rule, named as the rule template spells it.
    Element {
        Fonds => "fonds",
        Category => "category",
        Series => "series",
        Project => "project",
        Catalogue => "catalogue",
        Year => "year",
        Retention => "retention",
        Org => "org",
        Volume => "volume",
        Item => "item",
    }
}

impl Element {
    /// The element's name in the standard, which error messages use.
    pub fn label(self) -> &'static str {
        match self {
            Element::Fonds => "全宗号",
            Element::Category => "门类代码",
            Element::Series => "类别号",
            Element::Project => "项目号",
            Element::Catalogue => "目录号",
            Element::Year => "年度",
            Element::Retention => "保管期限",
            Element::Org => "机构(问题)代码",
            Element::Volume => "案卷号",
            Element::Item => "件号",
        }
    }

    /// How many digits a number element is written with.
    fn width(self) -> Option<usize> {
        match self {
            Element::Item => Some(4),
            Element::Volume => Some(3),
            _ => None,
        }
    }

    fn is_series(self) -> bool {
        matches!(
            self,
            Element::Series | Element::Project | Element::Catalogue
        )
    }
}

/// How a category builds its 档号: the elements level by level, such as
/// `fonds-category·year-retention-org-item` (按件) or `fonds-category·project-volume` (按卷).
/// It starts with the fonds, then the category; it ends with the number, alone in its level;
/// it takes at most one of series, project and catalogue (the standard's 类别号|项目号|目录号).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRule {
    levels: Vec<Vec<Element>>,
}

/// What a 档号 is built from: the archive's own values.
#[derive(Debug, Clone, Copy, Default)]
pub struct CodeParts<'a> {
    pub fonds: &'a str,
    pub category: &'a str,
    pub year: Option<i32>,
    pub retention: Option<Retention>,
    pub org: Option<&'a str>,
    pub series: Option<&'a str>,
}

/// What reading a 档号 learnt: its group (everything before the number), its number, and the
/// values of the elements the archive did not state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadCode {
    pub group: String,
    pub number: u32,
    pub year: Option<i32>,
    pub retention: Option<Retention>,
    pub org: Option<String>,
    pub series: Option<String>,
}

fn code_error(message: impl Into<String>) -> FieldError {
    FieldError::new("archive_code", message)
}

/// The number written at its element's width, or why it cannot be.
pub fn write_number(element: Element, number: u32) -> Result<String, FieldError> {
    let width = element.width().unwrap_or(4);
    let last = 10u32.pow(width as u32) - 1;
    if number == 0 || number > last {
        return Err(code_error(format!(
            "{}: {number} is outside 1–{last}, the {width} digits the standard gives it",
            element.label()
        )));
    }
    Ok(format!("{number:0width$}"))
}

fn read_number(element: Element, text: &str) -> Result<u32, FieldError> {
    let width = element.width().unwrap_or(4);
    let number = if text.len() == width && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u32>().ok().filter(|n| *n > 0)
    } else {
        None
    };
    number.ok_or_else(|| {
        code_error(format!(
            "{}: {text:?} must be {width} digits, zero-padded, from {:0width$}",
            element.label(),
            1
        ))
    })
}

impl CodeRule {
    pub fn arrangement(&self) -> Arrangement {
        match self.number_element() {
            Element::Volume => Arrangement::ByVolume,
            _ => Arrangement::ByItem,
        }
    }

    fn number_element(&self) -> Element {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or(Element::Item)
    }

    /// The elements a new 档号 needs values for, beyond the fonds and category.
    pub fn needs(&self) -> impl Iterator<Item = Element> + '_ {
        self.levels.iter().flatten().copied().filter(|e| {
            !matches!(
                e,
                Element::Fonds | Element::Category | Element::Item | Element::Volume
            )
        })
    }

    fn value_of(&self, element: Element, parts: &CodeParts) -> Option<String> {
        match element {
            Element::Fonds => Some(parts.fonds.to_owned()),
            Element::Category => Some(parts.category.to_owned()),
            Element::Year => parts.year.map(|y| format!("{y:04}")),
            Element::Retention => parts.retention.map(|r| r.to_string()),
            Element::Org => parts.org.map(str::to_owned),
            e if e.is_series() => parts.series.map(str::to_owned),
            _ => None,
        }
    }

    /// The group a new archive is numbered in (its 档号 without the number), or the elements it
    /// lacks a value for.
    pub fn group(&self, parts: &CodeParts) -> Result<String, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut levels = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            let mut codes = Vec::new();
            for element in level {
                match self.value_of(*element, parts) {
                    Some(v) => codes.push(v),
                    None => errors.push(FieldError::new(
                        field_of(*element),
                        format!(
                            "is required: the category's 档号 rule {self} has {}",
                            element.label()
                        ),
                    )),
                }
            }
            levels.push(codes.join(&WITHIN.to_string()));
        }
        if errors.is_empty() {
            Ok(levels.join(&LEVEL.to_string()))
        } else {
            Err(errors)
        }
    }

    /// The `number`th 档号 of `group`.
    pub fn numbered(&self, group: &str, number: u32) -> Result<String, FieldError> {
        Ok(format!(
            "{group}{LEVEL}{}",
            write_number(self.number_element(), number)?
        ))
    }

    /// Reads a given 档号 against the rule and the archive's values: each element must be well
    /// formed and agree with what the archive states; an element the archive leaves open (its
    /// year, retention, 机构 or 类别号) is taken from the code. Errors name the element.
    pub fn read(&self, code: &str, parts: &CodeParts) -> Result<ReadCode, FieldError> {
        let given: Vec<&str> = code.split(LEVEL).collect();
        if given.len() != self.levels.len() {
            return Err(code_error(format!(
                "{code:?} has {} levels joined by '-'; the category's 档号 rule {self} ({}) has {}",
                given.len(),
                self.labels(),
                self.levels.len()
            )));
        }
        let category_tokens = parts.category.split(WITHIN).count();
        let mut read = ReadCode {
            group: given[..given.len() - 1].join(&LEVEL.to_string()),
            number: 0,
            year: None,
            retention: None,
            org: None,
            series: None,
        };
        for (level, text) in self.levels.iter().zip(&given) {
            let mut tokens = text.split(WITHIN);
            for element in level {
                let value = if *element == Element::Category {
                    let taken: Vec<&str> = tokens.by_ref().take(category_tokens).collect();
                    taken.join(&WITHIN.to_string())
                } else {
                    tokens.next().unwrap_or_default().to_owned()
                };
                self.read_element(*element, &value, parts, &mut read)?;
            }
            if let Some(extra) = tokens.next() {
                return Err(code_error(format!(
                    "{extra:?} is one code too many in {text:?}: the rule {self} writes {} there",
                    level
                        .iter()
                        .map(|e| e.label())
                        .collect::<Vec<_>>()
                        .join(&WITHIN.to_string())
                )));
            }
        }
        Ok(read)
    }

    fn read_element(
        &self,
        element: Element,
        value: &str,
        parts: &CodeParts,
        read: &mut ReadCode,
    ) -> Result<(), FieldError> {
        let label = element.label();
        let differs = |stated: String| {
            code_error(format!(
                "{label}: {value:?} is not the archive's {stated:?}"
            ))
        };
        match element {
            Element::Item | Element::Volume => read.number = read_number(element, value)?,
            Element::Year => {
                let year = (value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| value.parse::<i32>().ok())
                    .flatten()
                    .ok_or_else(|| code_error(format!("{label}: {value:?} must be 4 digits")))?;
                match parts.year {
                    Some(stated) if stated != year => return Err(differs(stated.to_string())),
                    Some(_) => {}
                    None => read.year = Some(year),
                }
            }
            Element::Retention => {
                let retention: Retention = value.parse().map_err(|_| {
                    code_error(format!(
                        "{label}: {value:?} is not Y, D30, D10 or another Dn"
                    ))
                })?;
                match parts.retention {
                    Some(stated) if stated != retention => return Err(differs(stated.to_string())),
                    Some(_) => {}
                    None => read.retention = Some(retention),
                }
            }
            _ => {
                let stated = self.value_of(element, parts);
                match stated {
                    Some(stated) if stated != value => return Err(differs(stated)),
                    Some(_) => {}
                    None if check_free_code(value) => {
                        if element == Element::Org {
                            read.org = Some(value.to_owned());
                        } else {
                            read.series = Some(value.to_owned());
                        }
                    }
                    None => {
                        return Err(code_error(format!(
                            "{label}: {value:?} must be 1–8 capital letters or digits"
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    /// The rule in the standard's words, such as `全宗号-门类代码·年度-保管期限-件号`.
    pub fn labels(&self) -> String {
        self.levels
            .iter()
            .map(|l| {
                l.iter()
                    .map(|e| e.label())
                    .collect::<Vec<_>>()
                    .join(&WITHIN.to_string())
            })
            .collect::<Vec<_>>()
            .join(&LEVEL.to_string())
    }
}

/// The archive field that holds an element's value, for errors about a missing one.
fn field_of(element: Element) -> &'static str {
    match element {
        Element::Year => "year",
        Element::Retention => "retention",
        Element::Org => "org_code",
        e if e.is_series() => "series_code",
        _ => "archive_code",
    }
}

impl fmt::Display for CodeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self
            .levels
            .iter()
            .map(|l| {
                l.iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(&WITHIN.to_string())
            })
            .collect::<Vec<_>>()
            .join(&LEVEL.to_string());
        f.write_str(&text)
    }
}

impl FromStr for CodeRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let levels = s
            .split(LEVEL)
            .map(|level| {
                level
                    .split(WITHIN)
                    .map(|name| {
                        name.trim().parse::<Element>().map_err(|_| {
                            format!(
                                "{name:?} is not an element (fonds, category, series, project, \
                                 catalogue, year, retention, org, volume, item)"
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let all: Vec<Element> = levels.iter().flatten().copied().collect();
        for (i, e) in all.iter().enumerate() {
            if all[..i].contains(e) {
                return Err(format!("{e} appears twice"));
            }
        }
        if all.iter().filter(|e| e.is_series()).count() > 1 {
            return Err("a rule takes one of series, project and catalogue".to_owned());
        }
        if levels.first().map(Vec::as_slice) != Some(&[Element::Fonds]) {
            return Err("a rule starts with the fonds, alone in its level: fonds-…".to_owned());
        }
        if levels.get(1).and_then(|l| l.first()) != Some(&Element::Category) {
            return Err("the category comes right after the fonds: fonds-category…".to_owned());
        }
        let last = levels.last().map(Vec::as_slice).unwrap_or_default();
        if levels.len() < 3 || !matches!(last, [Element::Item] | [Element::Volume]) {
            return Err(
                "a rule ends with its number alone in its level: …-item or …-volume".to_owned(),
            );
        }
        if all.contains(&Element::Item) && all.contains(&Element::Volume) {
            return Err(
                "a rule numbers items or volumes; an item in a volume is numbered after it"
                    .to_owned(),
            );
        }
        Ok(CodeRule { levels })
    }
}

/// Where an archive is filed, as its category's rule sees it: the kind of archive the
/// category takes, and the volume an item sits in.
pub fn check_filing(
    arrangement: Option<Arrangement>,
    kind: ArchiveKind,
    volume_id: Option<Uuid>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match (arrangement, kind, volume_id) {
        (_, ArchiveKind::Volume, Some(_)) => {
            errors.push(FieldError::new("volume_id", "a volume sits in no volume"))
        }
        (Some(Arrangement::ByItem), ArchiveKind::Volume, _) => errors.push(FieldError::new(
            "kind",
            "the category files by item (按件): it has no volumes",
        )),
        (Some(Arrangement::ByItem), ArchiveKind::Item, Some(_)) => errors.push(FieldError::new(
            "volume_id",
            "the category files by item (按件): its items sit in no volume",
        )),
        (Some(Arrangement::ByVolume), ArchiveKind::Item, None) => errors.push(FieldError::new(
            "volume_id",
            "is required: the category files by volume (按卷), so each of its items sits in one",
        )),
        _ => {}
    }
    errors
}

/// The 档号 of an item in a volume: the volume's, then the item's number.
pub fn item_in_volume(volume_code: &str, number: u32) -> Result<String, FieldError> {
    Ok(format!(
        "{volume_code}{LEVEL}{}",
        write_number(Element::Item, number)?
    ))
}

/// Reads the number of an item's given 档号 in a volume.
pub fn read_item_in_volume(volume_code: &str, code: &str) -> Result<u32, FieldError> {
    let number = code
        .strip_prefix(volume_code)
        .and_then(|rest| rest.strip_prefix(LEVEL))
        .ok_or_else(|| {
            code_error(format!(
                "an item of volume {volume_code} is numbered after it: {volume_code}-0001"
            ))
        })?;
    read_number(Element::Item, number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> CodeRule {
        s.parse().unwrap()
    }

    fn parts<'a>(fonds: &'a str, category: &'a str) -> CodeParts<'a> {
        CodeParts {
            fonds,
            category,
            ..CodeParts::default()
        }
    }

    #[test]
    fn rules_read_and_write_as_templates() {
        let by_item = rule("fonds-category·year-retention-org-item");
        assert_eq!(
            by_item.to_string(),
            "fonds-category·year-retention-org-item"
        );
        assert_eq!(by_item.arrangement(), Arrangement::ByItem);
        assert_eq!(
            by_item.labels(),
            "全宗号-门类代码·年度-保管期限-机构(问题)代码-件号"
        );
        assert_eq!(
            rule("fonds-category·project-volume").arrangement(),
            Arrangement::ByVolume
        );
        for bad in [
            "category-fonds-item",
            "fonds-year-item",
            "fonds-category·year",
            "fonds-category·year-item·org",
            "fonds-category·year-year-item",
            "fonds-category·series·project-volume",
            "fonds-category-volume-item",
            "fonds-category·decade-item",
        ] {
            assert!(bad.parse::<CodeRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn retention_periods_end_on_the_last_day_of_their_last_year() {
        assert_eq!("Y".parse::<Retention>().unwrap(), Retention::Permanent);
        assert_eq!("D30".parse::<Retention>().unwrap(), Retention::Years(30));
        for bad in ["D", "D0", "D030", "d10", "P", "D1000", "Y1"] {
            assert!(bad.parse::<Retention>().is_err(), "{bad}");
        }
        assert_eq!(Retention::Permanent.ends_on(2019), None);
        assert_eq!(
            Retention::Years(10).ends_on(2019),
            Some(Date::from_calendar_date(2029, Month::December, 31).unwrap())
        );
        assert_eq!(Retention::Years(30).to_string(), "D30");
    }

    #[test]
    fn codes_of_the_standards_structures_are_built_and_read() {
        // 按件: 全宗号-门类代码·年度-保管期限-机构(问题)代码-件号.
        let by_item = rule("fonds-category·year-retention-org-item");
        let archive = CodeParts {
            year: Some(2022),
            retention: Some(Retention::Permanent),
            org: Some("XZ"),
            ..parts("A182", "WS")
        };
        let group = by_item.group(&archive).unwrap();
        assert_eq!(group, "A182-WS·2022-Y-XZ");
        assert_eq!(
            by_item.numbered(&group, 1).unwrap(),
            "A182-WS·2022-Y-XZ-0001"
        );
        let read = by_item.read("A182-WS·2022-Y-XZ-0001", &archive).unwrap();
        assert_eq!((read.group.as_str(), read.number), ("A182-WS·2022-Y-XZ", 1));
        // A second-level category code sits inside the category's level.
        let things = rule("fonds-category·year-retention-item");
        let trophy = CodeParts {
            year: Some(2022),
            retention: Some(Retention::Permanent),
            ..parts("A182", "SW·JB")
        };
        assert_eq!(
            things
                .read("A182-SW·JB·2022-Y-0001", &trophy)
                .unwrap()
                .number,
            1
        );
        // 按卷: 全宗号-门类代码·项目号-案卷号, its items numbered after the volume.
        let by_volume = rule("fonds-category·project-volume");
        let project = CodeParts {
            series: Some("001"),
            ..parts("J001", "JJ")
        };
        let volume = by_volume
            .numbered(&by_volume.group(&project).unwrap(), 3)
            .unwrap();
        assert_eq!(volume, "J001-JJ·001-003");
        assert_eq!(item_in_volume(&volume, 2).unwrap(), "J001-JJ·001-003-0002");
        assert_eq!(
            read_item_in_volume(&volume, "J001-JJ·001-003-0002").unwrap(),
            2
        );
        assert!(read_item_in_volume(&volume, "J001-JJ·001-004-0002").is_err());
    }

    #[test]
    fn what_the_archive_leaves_open_is_read_from_its_code() {
        let by_item = rule("fonds-category·year-retention-org-item");
        let read = by_item
            .read("J001-WS·2019-D30-BGS-0042", &parts("J001", "WS"))
            .unwrap();
        assert_eq!(read.year, Some(2019));
        assert_eq!(read.retention, Some(Retention::Years(30)));
        assert_eq!(read.org.as_deref(), Some("BGS"));
        assert_eq!(read.number, 42);
    }

    #[test]
    fn each_wrong_element_is_named() {
        let by_item = rule("fonds-category·year-retention-item");
        let archive = CodeParts {
            year: Some(2019),
            retention: Some(Retention::Permanent),
            ..parts("J001", "WS")
        };
        let named = |code: &str| by_item.read(code, &archive).unwrap_err().message;
        assert!(named("J002-WS·2019-Y-0001").starts_with("全宗号"));
        assert!(named("J001-KJ·2019-Y-0001").starts_with("门类代码"));
        assert!(named("J001-WS·2018-Y-0001").starts_with("年度"));
        assert!(named("J001-WS·19-Y-0001").starts_with("年度"));
        assert!(named("J001-WS·2019-D10-0001").starts_with("保管期限"));
        assert!(named("J001-WS·2019-Y-1").starts_with("件号"));
        assert!(named("J001-WS·2019-Y-0000").starts_with("件号"));
        assert!(named("J001-WS·2019-Y-00001").starts_with("件号"));
        assert!(named("J001-WS·2019-Y").contains("levels"));
        assert!(named("J001-WS·2019·X-Y-0001").contains("one code too many"));
        let missing = by_item.group(&parts("J001", "WS")).unwrap_err();
        let fields: Vec<&str> = missing.iter().map(|e| e.field.as_ref()).collect();
        assert_eq!(fields, ["year", "retention"]);
        assert!(write_number(Element::Item, 10_000).is_err());
        assert_eq!(write_number(Element::Volume, 7).unwrap(), "007");
    }

    #[test]
    fn fixed_widths_make_byte_order_the_standards_order() {
        let by_item = rule("fonds-category·year-retention-item");
        let codes: Vec<String> = [100, 9, 10]
            .into_iter()
            .map(|n| by_item.numbered("J001-WS·2019-Y", n).unwrap())
            .collect();
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                "J001-WS·2019-Y-0009",
                "J001-WS·2019-Y-0010",
                "J001-WS·2019-Y-0100"
            ]
        );
    }

    #[test]
    fn fonds_and_category_codes_have_the_standards_shape() {
        let errors = |check: fn(&mut Vec<FieldError>, &'static str, &str), v: &str| {
            let mut e = Vec::new();
            check(&mut e, "f", v);
            e.len()
        };
        assert_eq!(errors(check_fonds_number, "J001"), 0);
        assert_eq!(errors(check_fonds_number, "J01"), 1);
        assert_eq!(errors(check_fonds_number, "j001"), 1);
        assert_eq!(errors(check_category_code, "WS"), 0);
        assert_eq!(errors(check_category_code, "KU·01"), 0);
        assert_eq!(errors(check_category_code, "W"), 1);
        assert_eq!(errors(check_category_code, "WS-01"), 1);
    }

    #[test]
    fn a_category_takes_the_kind_its_arrangement_files() {
        let volume = Some(Uuid::nil());
        assert!(check_filing(Some(Arrangement::ByItem), ArchiveKind::Item, None).is_empty());
        assert_eq!(
            check_filing(Some(Arrangement::ByItem), ArchiveKind::Volume, None)[0].field,
            "kind"
        );
        assert_eq!(
            check_filing(Some(Arrangement::ByVolume), ArchiveKind::Item, None)[0].field,
            "volume_id"
        );
        assert!(check_filing(Some(Arrangement::ByVolume), ArchiveKind::Item, volume).is_empty());
        assert!(!check_filing(None, ArchiveKind::Volume, volume).is_empty());
        assert!(check_filing(None, ArchiveKind::Item, volume).is_empty());
    }
}
