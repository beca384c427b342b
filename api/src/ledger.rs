//! Excel ledgers (`.xlsx`): the catalogue as an archivist keeps it in a spreadsheet, read with
//! calamine (first sheet, a heading row, then one archive a row) and written with
//! rust_xlsxwriter. Cells are read as an archivist means them: a whole number typed as a number
//! is that number, a date cell is its date (its year in a year column), spaces around a value
//! are not part of it, and an empty row ends nothing.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use dangan_persistence::import::RowError;
use rust_xlsxwriter::{Format, Workbook};

/// The media type of an `.xlsx` workbook.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// An `.xlsx` workbook as the document describes one: binary, at most as large as an import.
pub struct XlsxWorkbook;

impl utoipa::PartialSchema for XlsxWorkbook {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .max_length(Some(crate::IMPORT_LIMIT))
            .description(Some("An .xlsx workbook (Office Open XML spreadsheet)"))
            .into()
    }
}

impl utoipa::ToSchema for XlsxWorkbook {}

/// One row's fields as text, by field name.
pub type Texts = Vec<(&'static str, String)>;

/// A sheet's rows, numbered as Excel numbers them, each read into texts or refused; and the
/// column letter each field was read from, so that an error can name its cell (`D17`).
pub struct Sheet {
    pub rows: Vec<(i64, Result<Texts, Vec<RowError>>)>,
    pub columns: Vec<(&'static str, String)>,
}

impl Sheet {
    /// The cell of `field` in `row` (`D17`), if the sheet has that column.
    pub fn cell(&self, row: i64, field: &str) -> Option<String> {
        self.columns
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, letters)| format!("{letters}{row}"))
    }
}

/// Excel's name for the column at `index` from 0: A … Z, AA ….
pub fn column_letters(index: u32) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        let rest = (n - 1) % 26;
        letters.push(char::from(b'A' + rest as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// A cell as text, or why it cannot be read; `None` for an empty cell.
fn text_of(field: &str, cell: &Data) -> Result<Option<String>, String> {
    Ok(match cell {
        Data::Empty => None,
        Data::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Data::Int(i) => Some(i.to_string()),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(format!("{}", *f as i64)),
        Data::Float(f) => Some(f.to_string()),
        Data::Bool(b) => Some(b.to_string()),
        Data::DateTime(at) => {
            let (year, month, day, ..) = at.to_ymd_hms_milli();
            Some(if field == "year" {
                year.to_string()
            } else {
                format!("{year:04}-{month:02}-{day:02}")
            })
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => Some(s.trim().to_owned()),
        Data::Error(e) => return Err(format!("the cell holds an Excel error ({e})")),
    })
}

/// Reads the first sheet of a workbook: its first row names the columns (`column` maps a
/// heading to a field), `required` columns must be there, and `value` turns a cell's text into
/// the API's word for it.
pub fn read(
    bytes: &[u8],
    column: impl Fn(&str) -> Option<&'static str>,
    required: &[&str],
    noun: &str,
    value: impl Fn(&str, &str) -> String,
) -> Result<Sheet, Vec<RowError>> {
    let unreadable = |why: String| vec![RowError::new(1, "", why)];
    let mut workbook = Xlsx::new(Cursor::new(bytes))
        .map_err(|e| unreadable(format!("not readable as an .xlsx workbook: {e}")))?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| unreadable("the workbook has no sheet".to_owned()))?
        .map_err(|e| unreadable(format!("the first sheet is not readable: {e}")))?;
    let (first_row, first_column) = range.start().unwrap_or((0, 0));
    let mut rows = range.rows();
    let headings = rows.next().unwrap_or_default();
    let header_row = i64::from(first_row) + 1;
    let mut fields: Vec<Option<&'static str>> = Vec::new();
    let mut columns = Vec::new();
    let mut errors = Vec::new();
    for (i, heading) in headings.iter().enumerate() {
        let letters = column_letters(first_column + i as u32);
        let heading = text_of("", heading).ok().flatten();
        let field = heading.as_deref().map(|h| (h, column(h)));
        match field {
            None => fields.push(None),
            Some((_, Some(name))) => {
                fields.push(Some(name));
                columns.push((name, letters));
            }
            Some((heading, None)) => {
                fields.push(None);
                errors.push(RowError::new(
                    header_row,
                    heading,
                    format!("(column {letters}) is not a field of {noun}"),
                ));
            }
        }
    }
    for name in required {
        if !columns.iter().any(|(field, _)| field == name) {
            errors.push(RowError::new(header_row, name, "column is missing"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let read_rows = rows
        .enumerate()
        .map(|(i, cells)| {
            let row = header_row + 1 + i as i64;
            let mut texts = Texts::new();
            let mut errors = Vec::new();
            for (field, cell) in fields.iter().zip(cells) {
                let Some(field) = field else { continue };
                match text_of(field, cell) {
                    Ok(Some(text)) => texts.push((field, value(field, &text))),
                    Ok(None) => {}
                    Err(why) => errors.push(RowError::new(row, field, why)),
                }
            }
            (row, texts, errors)
        })
        // A row with nothing in it is no archive (sheets end in a few of them).
        .filter(|(_, texts, errors)| !texts.is_empty() || !errors.is_empty())
        .map(|(row, texts, errors)| {
            (
                row,
                if errors.is_empty() {
                    Ok(texts)
                } else {
                    Err(errors)
                },
            )
        })
        .collect();
    Ok(Sheet {
        rows: read_rows,
        columns,
    })
}

/// A workbook of one sheet: `headings`, then a row of cells for each of `rows`.
pub fn write(
    sheet_name: &str,
    headings: &[&str],
    rows: impl Iterator<Item = Vec<Option<String>>>,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(sheet_name)?;
    let bold = Format::new().set_bold();
    for (column, heading) in headings.iter().enumerate() {
        sheet.write_string_with_format(0, column as u16, *heading, &bold)?;
    }
    for (i, cells) in rows.enumerate() {
        let row = i as u32 + 1;
        for (column, cell) in cells.iter().enumerate() {
            if let Some(text) = cell {
                sheet.write_string(row, column as u16, text)?;
            }
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    workbook.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_lettered_as_excel_letters_them() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn a_written_sheet_reads_back() {
        let bytes = write(
            "档案",
            &["档号", "题名"],
            [vec![
                Some("J001-WS·2019-Y-0001".to_owned()),
                Some("通知".to_owned()),
            ]]
            .into_iter(),
        )
        .unwrap();
        let sheet = read(
            &bytes,
            dangan_domain::archive::column_named,
            &[],
            "an archive",
            |_, v| v.to_owned(),
        )
        .unwrap();
        assert_eq!(sheet.rows.len(), 1);
        let (row, texts) = &sheet.rows[0];
        assert_eq!(*row, 2);
        assert_eq!(
            texts.as_ref().unwrap(),
            &vec![
                ("archive_code", "J001-WS·2019-Y-0001".to_owned()),
                ("title", "通知".to_owned())
            ]
        );
        assert_eq!(sheet.cell(17, "title").as_deref(), Some("B17"));
    }
}
