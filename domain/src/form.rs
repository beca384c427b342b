//! Custom request form fields: admins add questions a loan request must answer for certain
//! categories of archive, without code.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{format_description::well_known::Iso8601, Date};

use crate::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FieldType {
    Text,
    Number,
    Date,
    Bool,
    Choice,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// The key a request's `fields` object uses.
    pub key: String,
    pub label: String,
    pub field_type: FieldType,
    pub required: bool,
    /// The allowed answers of a `choice`.
    pub options: Vec<String>,
    /// Categories of archive it applies to; empty means every request.
    pub categories: Vec<String>,
}

impl FormField {
    /// Every rule the definition itself breaks.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let key_ok = (1..=64).contains(&self.key.len())
            && self
                .key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && self.key.starts_with(|c: char| c.is_ascii_lowercase());
        if !key_ok {
            errors.push(FieldError::new(
                "key",
                "must be 1 to 64 of a-z, 0-9 and _, starting with a letter",
            ));
        }
        let label = self.label.trim().chars().count();
        if label == 0 || label > 200 {
            errors.push(FieldError::new("label", "must be 1 to 200 characters"));
        }
        match self.field_type {
            FieldType::Choice if self.options.iter().all(|o| o.trim().is_empty()) => {
                errors.push(FieldError::new(
                    "options",
                    "a choice needs at least one option",
                ));
            }
            FieldType::Choice => {}
            _ if !self.options.is_empty() => {
                errors.push(FieldError::new("options", "only a choice has options"));
            }
            _ => {}
        }
        errors
    }

    /// Whether a request touching these categories must consider this field.
    pub fn applies_to(&self, categories: &[String]) -> bool {
        self.categories.is_empty() || self.categories.iter().any(|c| categories.contains(c))
    }

    fn accepts(&self, value: &Value) -> bool {
        match (self.field_type, value) {
            (FieldType::Text, Value::String(s)) => {
                !s.trim().is_empty() && s.chars().count() <= 2000
            }
            (FieldType::Number, Value::Number(_)) => true,
            (FieldType::Bool, Value::Bool(_)) => true,
            (FieldType::Date, Value::String(s)) => Date::parse(s, &Iso8601::DATE).is_ok(),
            (FieldType::Choice, Value::String(s)) => self.options.contains(s),
            _ => false,
        }
    }
}

/// Checks a request's answers: required fields that apply are present, every answer fits its
/// field, and no answer names a field that does not exist.
pub fn check_answers(
    fields: &[FormField],
    categories: &[String],
    answers: &serde_json::Map<String, Value>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for field in fields.iter().filter(|f| f.applies_to(categories)) {
        match answers.get(&field.key) {
            None | Some(Value::Null) if field.required => {
                errors.push(FieldError::at(
                    format!("fields.{}", field.key),
                    "is required",
                ));
            }
            None | Some(Value::Null) => {}
            Some(value) if !field.accepts(value) => {
                let expected = match field.field_type {
                    FieldType::Text => "text".to_owned(),
                    FieldType::Number => "a number".to_owned(),
                    FieldType::Date => "a date (YYYY-MM-DD)".to_owned(),
                    FieldType::Bool => "true or false".to_owned(),
                    FieldType::Choice => format!("one of {}", field.options.join(", ")),
                };
                errors.push(FieldError::at(
                    format!("fields.{}", field.key),
                    format!("must be {expected}"),
                ));
            }
            Some(_) => {}
        }
    }
    for key in answers.keys() {
        if !fields
            .iter()
            .any(|f| f.key == *key && f.applies_to(categories))
        {
            errors.push(FieldError::at(
                format!("fields.{key}"),
                "is not a field of this request",
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field(
        key: &str,
        field_type: FieldType,
        required: bool,
        options: &[&str],
        categories: &[&str],
    ) -> FormField {
        FormField {
            key: key.into(),
            label: key.into(),
            field_type,
            required,
            options: options.iter().map(|s| (*s).to_owned()).collect(),
            categories: categories.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn definitions_must_make_sense() {
        assert!(field("case_number", FieldType::Text, true, &[], &[])
            .check()
            .is_empty());
        let broken: Vec<String> = field("Case No", FieldType::Choice, true, &[], &[])
            .check()
            .into_iter()
            .map(|e| e.field.to_string())
            .collect();
        assert_eq!(broken, ["key", "options"]);
        assert_eq!(
            field("n", FieldType::Number, false, &["x"], &[]).check()[0].field,
            "options"
        );
    }

    #[test]
    fn answers_are_checked_for_the_categories_touched() {
        let fields = [
            field("case_number", FieldType::Text, true, &[], &["人事"]),
            field("copies", FieldType::Number, false, &[], &[]),
            field("return_by", FieldType::Date, false, &[], &[]),
            field(
                "purpose_kind",
                FieldType::Choice,
                true,
                &["audit", "litigation"],
                &[],
            ),
        ];
        let answers = |v: Value| v.as_object().cloned().unwrap();
        let hr = vec!["人事".to_owned()];
        let paths = |errors: Vec<FieldError>| {
            errors
                .into_iter()
                .map(|e| e.field.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            paths(check_answers(&fields, &hr, &answers(json!({})))),
            ["fields.case_number", "fields.purpose_kind"]
        );
        assert_eq!(
            paths(check_answers(
                &fields,
                &["文书".to_owned()],
                &answers(json!({"purpose_kind": "audit"}))
            )),
            Vec::<String>::new()
        );
        let wrong = json!({"case_number": "HR-1", "copies": "two", "return_by": "tomorrow", "purpose_kind": "fun", "colour": "red"});
        assert_eq!(
            paths(check_answers(&fields, &hr, &answers(wrong))),
            [
                "fields.copies",
                "fields.return_by",
                "fields.purpose_kind",
                "fields.colour"
            ]
        );
        let right = json!({"case_number": "HR-1", "copies": 2, "return_by": "2026-12-01", "purpose_kind": "litigation"});
        assert!(check_answers(&fields, &hr, &answers(right)).is_empty());
    }
}
