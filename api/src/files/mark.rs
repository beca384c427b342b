//! Marked copies of PDFs lent online: every page's content carries a visible line at its foot,
//! a faint diagonal line across it naming the borrower and the loan, and the copy's fingerprint
//! as invisible text. The copy is written whole — a new file with one revision, the pages'
//! original content streams replaced, nothing of the original left to cut back to — so the mark
//! cannot come off by truncating at the original's length or at any `%%EOF`, and the
//! fingerprint, part of the page content, survives a viewer or a PDF tool re-saving the file. A
//! digital signature inside the original does not verify on a copy: the bytes it covers change.

use dangan_domain::file::{CopyMark, MarkingBudget};
use lopdf::{dictionary, Dictionary, Document, Object, ObjectId, Stream};
use uuid::Uuid;

use super::weigh::{self, Overweight};

/// The most a PDF may weigh to be marked: marking holds the file, its parsed objects and the
/// copy in memory at once (about three times its size, plus what its budget lets it unpack).
pub const MAX_MARKED_BYTES: usize = 256 * 1024 * 1024;

/// What a copy's fingerprint starts with in its pages' content.
const FINGERPRINT: &str = "DANGAN-COPY-";

#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    #[error("the PDF is larger than the {} MiB a copy can be marked within", MAX_MARKED_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("the PDF is beyond what a copy can be marked within: {0}")]
    Overweight(#[from] Overweight),
    #[error("the PDF could not be read to be marked: {0}")]
    Unreadable(String),
}

const FONT: &str = "DanganMarkFont";
const FAINT: &str = "DanganMarkFaint";

/// Reads `pdf` for marking or identifying, within its marking budget.
fn open(pdf: &[u8]) -> Result<Document, MarkError> {
    if pdf.len() > MAX_MARKED_BYTES {
        return Err(MarkError::TooLarge);
    }
    weigh::check(pdf)?;
    let document = Document::load_mem(pdf).map_err(|e| MarkError::Unreadable(e.to_string()))?;
    if document.is_encrypted() || document.was_encrypted() {
        return Err(MarkError::Unreadable("it is encrypted".to_owned()));
    }
    Ok(document)
}

/// The copy of `pdf` carrying `mark` and the fingerprint of copy `copy_id` on every page.
pub fn mark_pdf(pdf: Vec<u8>, mark: &CopyMark, copy_id: Uuid) -> Result<Vec<u8>, MarkError> {
    let size = pdf.len();
    let mut doc = open(&pdf)?;
    drop(pdf);
    let unreadable = |e: lopdf::Error| MarkError::Unreadable(e.to_string());
    let pages: Vec<ObjectId> = doc.page_iter().collect();
    if pages.is_empty() {
        return Err(MarkError::Unreadable("it has no pages".to_owned()));
    }
    let font = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let faint = doc.add_object(dictionary! { "Type" => "ExtGState", "ca" => 0.18, "CA" => 0.18 });
    let mut left = MarkingBudget::for_size(size as u64).unpacked_bytes as usize;
    for page in pages {
        let original =
            doc.get_page_content_with_limit(page, left)
                .map_err(|_| Overweight::Unpacked {
                    limit: MarkingBudget::for_size(size as u64).unpacked_bytes,
                })?;
        left = left.saturating_sub(original.len());
        let area = media_box(&doc, page);
        let mut content = Vec::with_capacity(original.len() + 1024);
        // The page's own drawing between q and Q, so nothing it leaves set moves or hides the
        // mark drawn after it.
        content.extend_from_slice(b"q\n");
        content.extend_from_slice(&original);
        content.extend_from_slice(b"\nQ\n");
        content.extend_from_slice(drawing(mark, copy_id, area).as_bytes());
        let mut stream = Stream::new(Dictionary::new(), content);
        stream.compress().map_err(unreadable)?;
        let contents = doc.add_object(stream);
        add_resource(&mut doc, page, b"Font", FONT, font).map_err(unreadable)?;
        add_resource(&mut doc, page, b"ExtGState", FAINT, faint).map_err(unreadable)?;
        doc.get_dictionary_mut(page)
            .map_err(unreadable)?
            .set("Contents", Object::Reference(contents));
    }
    // The original content streams, now named by no page, go: the copy keeps no unmarked page.
    doc.prune_objects();
    let id = Object::String(
        copy_id.as_bytes().to_vec(),
        lopdf::StringFormat::Hexadecimal,
    );
    doc.trailer.set("ID", vec![id.clone(), id]);
    doc.trailer.remove(b"Prev");
    let mut out = Vec::with_capacity(size + 4096);
    doc.save_to(&mut out)
        .map_err(|e| MarkError::Unreadable(e.to_string()))?;
    Ok(out)
}

/// The copies whose fingerprints the pages of `pdf` carry (a copy as handed out, or re-saved
/// by a viewer or a PDF tool), in the order found, each once.
pub fn fingerprints(pdf: &[u8]) -> Result<Vec<Uuid>, MarkError> {
    let doc = open(pdf)?;
    let mut left = MarkingBudget::for_size(pdf.len() as u64).unpacked_bytes as usize;
    let mut found = Vec::new();
    for page in doc.page_iter() {
        let Ok(content) = doc.get_page_content_with_limit(page, left) else {
            break;
        };
        left = left.saturating_sub(content.len());
        let mut at = 0;
        while let Some(offset) = content[at..]
            .windows(FINGERPRINT.len())
            .position(|w| w == FINGERPRINT.as_bytes())
        {
            let start = at + offset + FINGERPRINT.len();
            at = start;
            let Some(hex) = content.get(start..start + 32) else {
                break;
            };
            if let Some(id) = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| Uuid::try_parse(h).ok())
            {
                if !found.contains(&id) {
                    found.push(id);
                }
            }
        }
    }
    Ok(found)
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
/// the page's width, the banner faint across the middle at 30°, and the copy's fingerprint as
/// invisible text (rendering mode 3), which text extraction and search still find.
fn drawing(mark: &CopyMark, copy_id: Uuid, (x0, y0, x1, y1): (f32, f32, f32, f32)) -> String {
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
        "q\n1 g {x0} {y0} {width} {band:.1} re f\n\
         0.35 g BT /{FONT} {size:.1} Tf {lead:.1} TL 1 0 0 1 {tx} {ty:.1} Tm ({first}) Tj T* ({second}) Tj ET\n\
         /{FAINT} gs 0.5 g BT /{FONT} {banner_size:.1} Tf {cos} {sin} {nsin} {cos} {bx:.1} {by:.1} Tm ({banner}) Tj ET\n\
         BT 3 Tr /{FONT} 1 Tf 1 0 0 1 {tx} {y0} Tm ({FINGERPRINT}{fingerprint}) Tj ET\nQ\n",
        band = 2.0 * lead + 6.0,
        tx = x0 + 6.0,
        ty = y0 + 4.0 + lead,
        first = literal(&mark.lines[0]),
        second = literal(&mark.lines[1]),
        nsin = -sin,
        banner = literal(&mark.banner),
        fingerprint = copy_id.simple(),
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
    doc: &mut Document,
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
        doc.get_object_mut(entries_id)
            .and_then(Object::as_dict_mut)?
            .set(name, Object::Reference(id));
    } else {
        entries.as_dict_mut()?.set(name, Object::Reference(id));
    }
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
