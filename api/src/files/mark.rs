//! Marked copies of PDFs lent online: every page gets a visible line at its foot and a faint
//! diagonal line across it, naming the borrower, the loan and the copy. The mark is appended to
//! the file as an incremental update (ISO 32000-1, 7.5.6), so every original byte — and any
//! digital signature over them — stays as it was, and each copy differs from every other.

use dangan_domain::file::CopyMark;
use lopdf::{dictionary, Dictionary, IncrementalDocument, Object, ObjectId, Stream};

/// The most a PDF may weigh to be marked: marking holds the file and its parsed objects in
/// memory at once (about twice its size).
pub const MAX_MARKED_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    #[error("the PDF is larger than the {} MiB a copy can be marked within", MAX_MARKED_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("the PDF could not be read to be marked: {0}")]
    Unreadable(String),
}

const FONT: &str = "DanganMarkFont";
const FAINT: &str = "DanganMarkFaint";

/// The copy of `pdf` carrying `mark` on every page.
pub fn mark_pdf(pdf: Vec<u8>, mark: &CopyMark) -> Result<Vec<u8>, MarkError> {
    if pdf.len() > MAX_MARKED_BYTES {
        return Err(MarkError::TooLarge);
    }
    let unreadable = |e: lopdf::Error| MarkError::Unreadable(e.to_string());
    let previous = lopdf::Document::load_mem(&pdf).map_err(unreadable)?;
    if previous.is_encrypted() || previous.was_encrypted() {
        return Err(MarkError::Unreadable("it is encrypted".to_owned()));
    }
    let pages: Vec<ObjectId> = previous.page_iter().collect();
    if pages.is_empty() {
        return Err(MarkError::Unreadable("it has no pages".to_owned()));
    }
    let size = pdf.len();
    let mut doc = IncrementalDocument::create_from(pdf, previous);
    let new = &mut doc.new_document;
    let font = new
        .try_add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        })
        .map_err(unreadable)?;
    let faint = new
        .try_add_object(dictionary! { "Type" => "ExtGState", "ca" => 0.18, "CA" => 0.18 })
        .map_err(unreadable)?;
    let before = new
        .try_add_object(Stream::new(Dictionary::new(), b"q\n".to_vec()))
        .map_err(unreadable)?;
    for page in pages {
        let (x0, y0, x1, y1) = media_box(doc.get_prev_documents(), page);
        let after = doc
            .new_document
            .try_add_object(Stream::new(
                Dictionary::new(),
                content(mark, (x0, y0, x1, y1)).into_bytes(),
            ))
            .map_err(unreadable)?;
        add_resource(&mut doc, page, b"Font", FONT, font).map_err(unreadable)?;
        add_resource(&mut doc, page, b"ExtGState", FAINT, faint).map_err(unreadable)?;
        wrap_contents(&mut doc, page, before, after).map_err(unreadable)?;
    }
    let mut out = Vec::with_capacity(size + 4096);
    doc.save_to(&mut out)
        .map_err(|e| MarkError::Unreadable(e.to_string()))?;
    Ok(out)
}

/// The page's visible area, inherited from the page tree if the page names none (US Letter if
/// nothing does).
fn media_box(doc: &lopdf::Document, page: ObjectId) -> (f32, f32, f32, f32) {
    let mut node = doc.get_dictionary(page).ok();
    for _ in 0..32 {
        let Some(dict) = node else { break };
        if let Ok(found) = dict.get(b"MediaBox") {
            let found = match found {
                Object::Reference(id) => doc.get_object(*id).unwrap_or(found),
                other => other,
            };
            if let Ok(values) = found.as_array() {
                let numbers: Vec<f32> = values.iter().filter_map(|v| v.as_float().ok()).collect();
                if let [x0, y0, x1, y1] = numbers[..] {
                    return (x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1));
                }
            }
        }
        node = dict
            .get(b"Parent")
            .and_then(Object::as_reference)
            .and_then(|id| doc.get_dictionary(id))
            .ok();
    }
    (0.0, 0.0, 612.0, 792.0)
}

/// The drawing that marks one page: the two foot lines in grey on a white band, sized to fit
/// the page's width, and the banner faint across the middle at 30°.
fn content(mark: &CopyMark, (x0, y0, x1, y1): (f32, f32, f32, f32)) -> String {
    let width = x1 - x0;
    let longest = mark
        .lines
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(1) as f32;
    // Helvetica's characters average about half an em; keep 6 pt of margin each side.
    let size = ((width - 12.0) / (0.52 * longest)).clamp(4.0, 9.0);
    let banner_size = (width / 28.0).clamp(12.0, 40.0);
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    // cos 30°, sin 30°; the banner starts left of the centre by about half its width.
    let (cos, sin) = (0.866_f32, 0.5_f32);
    let half = banner_size * 0.25 * mark.banner.chars().count() as f32;
    let (bx, by) = (cx - half * cos, cy - half * sin);
    let lead = size * 1.25;
    format!(
        "Q\nq\n1 g {x0} {y0} {width} {band:.1} re f\n\
         0.35 g BT /{FONT} {size:.1} Tf {lead:.1} TL 1 0 0 1 {tx} {ty:.1} Tm ({first}) Tj T* ({second}) Tj ET\n\
         /{FAINT} gs 0.5 g BT /{FONT} {banner_size:.1} Tf {cos} {sin} {nsin} {cos} {bx:.1} {by:.1} Tm ({banner}) Tj ET\nQ\n",
        band = 2.0 * lead + 6.0,
        tx = x0 + 6.0,
        ty = y0 + 4.0 + lead,
        first = literal(&mark.lines[0]),
        second = literal(&mark.lines[1]),
        nsin = -sin,
        banner = literal(&mark.banner),
    )
}

/// Text as a PDF literal string in WinAnsi: parentheses and backslashes escaped, anything
/// outside Latin-1 as `?` (the line also names the borrower's id, which is ASCII).
fn literal(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '(' | ')' | '\\' => format!("\\{c}"),
            ' '..='~' => c.to_string(),
            c if (c as u32) >= 0xA0 && (c as u32) <= 0xFF => format!("\\{:03o}", c as u32),
            _ => "?".to_owned(),
        })
        .collect()
}

/// Names `id` as `name` in the page's resources of `kind` (Font, ExtGState).
fn add_resource(
    doc: &mut IncrementalDocument,
    page: ObjectId,
    kind: &[u8],
    name: &str,
    id: ObjectId,
) -> lopdf::Result<()> {
    let resources = doc
        .get_or_create_resources(page)
        .and_then(Object::as_dict_mut)?;
    if !resources.has(kind) {
        resources.set(kind, Dictionary::new());
    }
    let entries = resources.get_mut(kind)?;
    if let Object::Reference(entries_id) = *entries {
        doc.opt_clone_object_to_new_document(entries_id)?;
        doc.new_document
            .get_object_mut(entries_id)
            .and_then(Object::as_dict_mut)?
            .set(name, Object::Reference(id));
    } else {
        entries.as_dict_mut()?.set(name, Object::Reference(id));
    }
    Ok(())
}

/// The page's contents between `before` (which saves the graphics state) and `after` (which
/// restores it and draws the mark), so nothing the page leaves set moves or hides the mark.
fn wrap_contents(
    doc: &mut IncrementalDocument,
    page: ObjectId,
    before: ObjectId,
    after: ObjectId,
) -> lopdf::Result<()> {
    doc.opt_clone_object_to_new_document(page)?;
    let existing: Vec<Object> = {
        let dict = doc.new_document.get_dictionary(page)?;
        match dict.get(b"Contents") {
            Ok(Object::Reference(id)) => match doc.get_prev_documents().get_object(*id) {
                Ok(Object::Array(parts)) => parts.clone(),
                _ => vec![Object::Reference(*id)],
            },
            Ok(Object::Array(parts)) => parts.clone(),
            _ => Vec::new(),
        }
    };
    let mut contents = Vec::with_capacity(existing.len() + 2);
    contents.push(Object::Reference(before));
    contents.extend(existing);
    contents.push(Object::Reference(after));
    doc.new_document
        .get_dictionary_mut(page)?
        .set("Contents", contents);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_strings_escape_what_pdf_would_misread() {
        assert_eq!(literal("a(b)c\\d"), "a\\(b\\)c\\\\d");
        assert_eq!(literal("é"), "\\351");
        assert_eq!(literal("李四"), "??");
    }
}
