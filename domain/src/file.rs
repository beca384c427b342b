//! Electronic files of an archive: which kinds are kept, what a file's name may be.

use crate::error::{DomainError, FieldError};

/// The kinds of file an archive keeps, known by their first bytes rather than by what the
/// uploader's name or content type claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Pdf,
    Png,
    Jpeg,
    Tiff,
    Webp,
    /// Office Open XML and OpenDocument files (ZIP containers: docx, xlsx, pptx, odt, ods).
    OfficeZip,
    /// Older Office files (OLE compound documents: doc, xls, ppt).
    OfficeOle,
}

impl FileKind {
    /// How many leading bytes `sniff` needs: PDF readers find a PDF's header anywhere in the
    /// first 1024 bytes (ISO 32000-2 Annex H notes they do), so a PDF may start with anything.
    pub const SNIFF_BYTES: usize = 1024;

    /// The kind whose signature `head` starts with — a PDF wherever its header stands in the
    /// first 1024 bytes, whatever comes before it (a ZIP header, say), since every reader opens
    /// it as one; `None` for anything else.
    pub fn sniff(head: &[u8]) -> Option<FileKind> {
        let starts = |magic: &[u8]| head.starts_with(magic);
        let window = &head[..head.len().min(Self::SNIFF_BYTES)];
        if window.windows(5).any(|w| w == b"%PDF-") {
            Some(FileKind::Pdf)
        } else if starts(b"\x89PNG\r\n\x1a\n") {
            Some(FileKind::Png)
        } else if starts(b"\xFF\xD8\xFF") {
            Some(FileKind::Jpeg)
        } else if starts(b"II*\0") || starts(b"MM\0*") {
            Some(FileKind::Tiff)
        } else if starts(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
            Some(FileKind::Webp)
        } else if starts(b"PK\x03\x04") {
            Some(FileKind::OfficeZip)
        } else if starts(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
            Some(FileKind::OfficeOle)
        } else {
            None
        }
    }

    /// The media type the file is served as: what it is, not what it was called. The office
    /// containers keep the uploader's type when it names one of their kinds.
    pub fn media_type(self, declared: Option<&str>) -> String {
        let own = match self {
            FileKind::Pdf => "application/pdf",
            FileKind::Png => "image/png",
            FileKind::Jpeg => "image/jpeg",
            FileKind::Tiff => "image/tiff",
            FileKind::Webp => "image/webp",
            FileKind::OfficeZip | FileKind::OfficeOle => {
                let office = declared.filter(|d| {
                    d.starts_with("application/vnd.openxmlformats-officedocument.")
                        || d.starts_with("application/vnd.oasis.opendocument.")
                        || d.starts_with("application/vnd.ms-")
                        || *d == "application/msword"
                });
                return office.unwrap_or("application/octet-stream").to_owned();
            }
        };
        own.to_owned()
    }

    /// Whether the kind is an image (a photo taken at the desk, a scan).
    pub fn is_image(self) -> bool {
        matches!(
            self,
            FileKind::Png | FileKind::Jpeg | FileKind::Tiff | FileKind::Webp
        )
    }
}

/// How much of a PDF's structure reading it to mark a copy may unpack: its object and
/// cross-reference streams (a parser unpacks them all at once) and the tokens they hold, bounded
/// by the file's own size so a small file cannot make the marker hold gigabytes (a 24 KB file
/// of compressed integers made the parser hold 1.39 GB before this), and by an absolute ceiling so no
/// file can. The same budget is checked at upload, so such a file never reaches a borrower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkingBudget {
    /// Bytes the object and cross-reference streams (and, while marking, the pages' contents)
    /// unpack to, in all.
    pub unpacked_bytes: u64,
    /// Tokens (numbers, names, strings, brackets…) inside the object streams: each becomes an
    /// object in memory.
    pub tokens: u64,
}

impl MarkingBudget {
    /// The most any file may unpack: with `MAX_TOKENS` this keeps a marking's own structures
    /// under about 300 MiB whatever the file.
    pub const MAX_UNPACKED_BYTES: u64 = 64 << 20;
    pub const MAX_TOKENS: u64 = 2_000_000;

    /// The most memory one marking of a file of `size` bytes holds, which `api/tests/
    /// marking_memory.rs` measures: the file, its parsed structure and the copy (three times
    /// its size), and what its budget lets it unpack (at most 64 MiB of bytes and 2,000,000
    /// tokens, about 256 MiB parsed).
    pub const fn memory_ceiling(size: u64) -> u64 {
        3 * size + (320 << 20)
    }

    /// The budget of a file of `size` bytes: 1 MiB and 16 times its size unpacked, 10,000 tokens
    /// and one for every two bytes — far above what real PDFs need (a text PDF's structure
    /// unpacks to two to six times its streams), far below what a bomb needs.
    pub fn for_size(size: u64) -> MarkingBudget {
        MarkingBudget {
            unpacked_bytes: (1u64 << 20)
                .saturating_add(size.saturating_mul(16))
                .min(Self::MAX_UNPACKED_BYTES),
            tokens: 10_000u64.saturating_add(size / 2).min(Self::MAX_TOKENS),
        }
    }
}

/// The most photos a return carries as evidence.
pub const MAX_RETURN_PHOTOS: usize = 10;

/// The rules of a file's name as shown and offered for download: its last path segment, not
/// blank, at most 255 characters, no control characters.
pub fn check_file_name(name: &str) -> Result<String, FieldError> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name).trim();
    if last.is_empty() || last == "." || last == ".." {
        return Err(FieldError::new("file", "needs a file name"));
    }
    if last.chars().count() > 255 {
        return Err(FieldError::new(
            "file",
            "the file name must be at most 255 characters",
        ));
    }
    if last.chars().any(char::is_control) {
        return Err(FieldError::new(
            "file",
            "the file name must not contain control characters",
        ));
    }
    Ok(last.to_owned())
}

/// Whether a copy of a file of `media_type` lent online carries a visible mark: PDFs do; images
/// and office documents are handed out as stored (traced by the audit trail alone).
pub fn marked_when_lent(media_type: &str) -> bool {
    media_type == FileKind::Pdf.media_type(None)
}

/// Whether `principal` sees a stored file's digest and size: the staff who keep and trace
/// files do. A borrower does not: the original's digest and length would tell them when a copy
/// cut or stripped of its mark had become the original again.
pub fn sees_original(principal: &crate::access::Principal) -> bool {
    use crate::access::Capability;
    principal.can(Capability::Catalogue) || principal.can(Capability::ReadAllLending)
}

/// How an online loan hands out a copy of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handing {
    /// Marked for its borrower (a PDF).
    Marked,
    /// As stored, where the loan's policy allows unmarked copies.
    AsStored,
}

/// How a file of `media_type` is handed out by an online loan whose policy does (or does not)
/// allow unmarked copies: a PDF always marked; anything else as stored only where allowed, so
/// that nothing leaves untraceable unless an administrator said it may.
pub fn handing(media_type: &str, unmarked_copies: bool) -> Result<Handing, DomainError> {
    if marked_when_lent(media_type) {
        Ok(Handing::Marked)
    } else if unmarked_copies {
        Ok(Handing::AsStored)
    } else {
        Err(DomainError::UnmarkedCopy)
    }
}

/// What a copy lent online says of itself on every page (of a PDF): whose it is, from which
/// loan, which copy and when, so that a copy found outside leads back to its borrower even
/// without its digest. `lines` carry it all, at the foot of the page; `banner` is what reads at
/// a glance across it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyMark {
    pub lines: [String; 2],
    pub banner: String,
}

impl CopyMark {
    pub fn new(
        loan_number: &str,
        username: &str,
        user_id: uuid::Uuid,
        copy_id: uuid::Uuid,
        at: time::OffsetDateTime,
    ) -> CopyMark {
        let at = at.to_offset(time::UtcOffset::UTC);
        CopyMark {
            lines: [
                format!("Dangan online loan {loan_number} - lent to {username} (user {user_id})"),
                format!(
                    "copy {copy_id} - {:04}-{:02}-{:02} {:02}:{:02} UTC - not for redistribution",
                    at.year(),
                    u8::from(at.month()),
                    at.day(),
                    at.hour(),
                    at.minute(),
                ),
            ],
            banner: format!("{username} \u{b7} {loan_number}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_policy_allows_leaves_unmarked() {
        assert_eq!(handing("application/pdf", false), Ok(Handing::Marked));
        assert_eq!(handing("application/pdf", true), Ok(Handing::Marked));
        assert_eq!(handing("image/png", true), Ok(Handing::AsStored));
        assert_eq!(handing("image/png", false), Err(DomainError::UnmarkedCopy));
    }

    #[test]
    fn only_pdfs_are_marked_when_lent() {
        assert!(marked_when_lent("application/pdf"));
        for unmarked in ["image/png", "image/jpeg", "application/msword"] {
            assert!(!marked_when_lent(unmarked), "{unmarked}");
        }
    }

    #[test]
    fn a_copy_names_its_borrower_loan_and_copy() {
        let (user, copy) = (uuid::Uuid::from_u128(7), uuid::Uuid::from_u128(9));
        let at = time::macros::datetime!(2026-12-01 12:30 +08:00);
        let mark = CopyMark::new("JY-2026-000123-01", "lisi", user, copy, at);
        assert_eq!(
            mark.lines,
            [
                format!("Dangan online loan JY-2026-000123-01 - lent to lisi (user {user})"),
                format!("copy {copy} - 2026-12-01 04:30 UTC - not for redistribution"),
            ]
        );
        assert_eq!(mark.banner, "lisi \u{b7} JY-2026-000123-01");
    }

    #[test]
    fn kinds_are_known_by_their_first_bytes() {
        assert_eq!(FileKind::sniff(b"%PDF-1.7\n"), Some(FileKind::Pdf));
        assert_eq!(
            FileKind::sniff(b"\x89PNG\r\n\x1a\n\0\0"),
            Some(FileKind::Png)
        );
        assert_eq!(FileKind::sniff(b"\xFF\xD8\xFF\xE0"), Some(FileKind::Jpeg));
        assert_eq!(
            FileKind::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(FileKind::Webp)
        );
        assert_eq!(
            FileKind::sniff(b"PK\x03\x04rest"),
            Some(FileKind::OfficeZip)
        );
        assert_eq!(FileKind::sniff(b"MZ\x90\0"), None, "no programs");
        assert_eq!(FileKind::sniff(b"<html>"), None);
        assert_eq!(FileKind::sniff(b""), None);
    }

    #[test]
    fn a_pdf_is_a_pdf_wherever_its_header_stands_in_the_first_kilobyte() {
        let mut zipped = b"PK\x03\x04".to_vec();
        zipped.extend([b'x'; 26]);
        zipped.extend(b"%PDF-1.7\n");
        assert_eq!(FileKind::sniff(&zipped), Some(FileKind::Pdf));
        let mut late = vec![b' '; 1019];
        late.extend(b"%PDF-1.4");
        assert_eq!(FileKind::sniff(&late), Some(FileKind::Pdf), "at byte 1019");
        let mut too_late = vec![b'x'; 1020];
        too_late.extend(b"%PDF-1.4");
        assert_eq!(
            FileKind::sniff(&too_late),
            None,
            "past the first 1024 bytes"
        );
    }

    #[test]
    fn the_marking_budget_grows_with_the_file_up_to_a_ceiling() {
        let small = MarkingBudget::for_size(24 * 1024);
        assert_eq!(small.unpacked_bytes, (1 << 20) + 16 * 24 * 1024);
        assert_eq!(small.tokens, 10_000 + 12 * 1024);
        let huge = MarkingBudget::for_size(200 << 20);
        assert_eq!(huge.unpacked_bytes, MarkingBudget::MAX_UNPACKED_BYTES);
        assert_eq!(huge.tokens, MarkingBudget::MAX_TOKENS);
        assert_eq!(
            MarkingBudget::for_size(u64::MAX).tokens,
            MarkingBudget::MAX_TOKENS
        );
    }

    #[test]
    fn a_pdf_is_served_as_a_pdf_whatever_it_was_called() {
        assert_eq!(
            FileKind::Pdf.media_type(Some("text/html")),
            "application/pdf"
        );
        let docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
        assert_eq!(FileKind::OfficeZip.media_type(Some(docx)), docx);
        assert_eq!(
            FileKind::OfficeZip.media_type(Some("text/html")),
            "application/octet-stream"
        );
    }

    #[test]
    fn a_file_name_is_its_last_segment_within_the_rules() {
        assert_eq!(check_file_name("C:\\scans\\合同.pdf").unwrap(), "合同.pdf");
        assert_eq!(check_file_name("../../etc/passwd").unwrap(), "passwd");
        assert!(check_file_name("dir/").is_err());
        assert!(check_file_name("a\nb.pdf").is_err());
        assert!(check_file_name(&"x".repeat(256)).is_err());
    }
}
