//! The archive room's places: a tree of locations (库房 → 区/密集架 → 列 → 节 → 层, as deep and
//! named as a site keeps it), each with a code, a name and a barcode. A place's path is the
//! codes from the root joined by `-` (`K1-A-03-12-05`), which is also the `location` label of
//! the archives on it.

use crate::{
    archive::{check_identifier, check_text},
    FieldError,
};

/// Joins the codes of a path.
pub const PATH_SEPARATOR: char = '-';

/// How deep the tree goes: a room, a range, a column, a section, a shelf, and a few more for
/// boxes and drawers.
pub const MAX_DEPTH: usize = 8;

/// What a person writes about a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationFields {
    /// Its part of the path: letters and digits (`K1`, `A`, `03`).
    pub code: String,
    /// What people call it (`一号库房`, `A 区密集架`, `第 3 列`).
    pub name: String,
    pub barcode: String,
}

impl LocationFields {
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !(1..=16).contains(&self.code.len())
            || !self.code.chars().all(|c| c.is_ascii_alphanumeric())
        {
            errors.push(FieldError::new("code", "must be 1–16 letters or digits"));
        }
        check_text(&mut errors, "name", &self.name, 100);
        check_identifier(&mut errors, "barcode", &self.barcode);
        errors
    }
}

/// The path of a place with `code` under a parent at `parent_path` (none for a room), or why
/// the tree cannot grow there.
pub fn path_of(parent_path: Option<&str>, code: &str) -> Result<String, FieldError> {
    match parent_path {
        None => Ok(code.to_owned()),
        Some(parent) if depth(parent) >= MAX_DEPTH => Err(FieldError::new(
            "parent_id",
            format!("a place sits at most {MAX_DEPTH} levels deep"),
        )),
        Some(parent) => Ok(format!("{parent}{PATH_SEPARATOR}{code}")),
    }
}

/// How many levels a path has (1 for a room).
pub fn depth(path: &str) -> usize {
    path.split(PATH_SEPARATOR).count()
}

/// Whether `path` is `place` or beneath it.
pub fn within(path: &str, place: &str) -> bool {
    path == place
        || path
            .strip_prefix(place)
            .is_some_and(|rest| rest.starts_with(PATH_SEPARATOR))
}

/// The path a place at `path` takes when the subtree at `from` moves to `to`.
pub fn moved(path: &str, from: &str, to: &str) -> String {
    match path.strip_prefix(from) {
        Some(rest) if within(path, from) => format!("{to}{rest}"),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_grow_from_the_room_down_and_stop_at_the_deepest_level() {
        assert_eq!(path_of(None, "K1").unwrap(), "K1");
        assert_eq!(path_of(Some("K1-A"), "03").unwrap(), "K1-A-03");
        assert_eq!(depth("K1-A-03-12-05"), 5);
        let deepest = ["K"; MAX_DEPTH].join("-");
        assert_eq!(path_of(Some(&deepest), "X").unwrap_err().field, "parent_id");
    }

    #[test]
    fn beneath_means_a_whole_level_down() {
        assert!(within("K1-A-03", "K1-A"));
        assert!(within("K1-A", "K1-A"));
        assert!(!within("K1-AB-03", "K1-A"));
        assert!(!within("K1", "K1-A"));
        assert_eq!(moved("K1-A-03", "K1-A", "K2-B"), "K2-B-03");
        assert_eq!(moved("K1-AB", "K1-A", "K2-B"), "K1-AB");
    }

    #[test]
    fn a_place_has_a_code_of_its_path_a_name_and_a_barcode() {
        let good = LocationFields {
            code: "03".into(),
            name: "第 3 列".into(),
            barcode: "LOC-K1-A-03".into(),
        };
        assert!(good.check().is_empty());
        let bad = LocationFields {
            code: "A-3".into(),
            name: " ".into(),
            barcode: "LOC 1".into(),
        };
        let fields: Vec<String> = bad.check().into_iter().map(|e| e.field.into()).collect();
        assert_eq!(fields, ["code", "name", "barcode"]);
    }
}
