//! What reading a PDF to mark it would unpack, measured on its bytes before any parser holds it:
//! the object and cross-reference streams a parser unpacks all at once, and the tokens inside the
//! object streams, each of which becomes an object in memory. Checked against the domain's
//! `MarkingBudget` at upload and again before each marking.

use std::io::Read;

use dangan_domain::file::MarkingBudget;

/// Which part of the budget a PDF would exceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Overweight {
    #[error("its object and cross-reference streams unpack to more than {limit} bytes (1 MiB and 16 times the file's size, at most 64 MiB)")]
    Unpacked { limit: u64 },
    #[error("its object streams hold more than {limit} tokens (10,000 and one for every two bytes of the file, at most 2,000,000)")]
    Tokens { limit: u64 },
    #[error(
        "an object or cross-reference stream is encoded otherwise than with FlateDecode alone"
    )]
    Filter,
}

/// Checks that `pdf` stays within the marking budget of its size.
pub fn check(pdf: &[u8]) -> Result<(), Overweight> {
    let budget = MarkingBudget::for_size(pdf.len() as u64);
    let (mut unpacked, mut tokens) = (0u64, 0u64);
    let mut at = 0;
    while let Some(keyword) = find(pdf, at, b"stream") {
        at = keyword + b"stream".len();
        // `endstream` ends a stream; only `stream` after a dictionary's `>>` begins one.
        if keyword >= 3 && &pdf[keyword - 3..keyword] == b"end" {
            continue;
        }
        let data_start = match pdf.get(at..at + 2) {
            Some([b'\r', b'\n']) => at + 2,
            Some([b'\n', _]) | Some([b'\r', _]) => at + 1,
            _ => continue,
        };
        let Some(end) = find(pdf, data_start, b"endstream") else {
            break;
        };
        at = end;
        let dictionary = &pdf[keyword.saturating_sub(4096)..keyword];
        let dictionary = match rfind(dictionary, b"obj") {
            Some(start) => &dictionary[start..],
            None => dictionary,
        };
        let object_stream = names(dictionary, b"/Type", b"/ObjStm");
        if !object_stream && !names(dictionary, b"/Type", b"/XRef") {
            continue;
        }
        let data = &pdf[data_start..end];
        let remaining = budget.unpacked_bytes.saturating_sub(unpacked);
        let plain = match filter_of(dictionary) {
            Filter::None => data.to_vec(),
            Filter::Flate => inflate(data, remaining)?,
            Filter::Other => return Err(Overweight::Filter),
        };
        unpacked += plain.len() as u64;
        if unpacked > budget.unpacked_bytes {
            return Err(Overweight::Unpacked {
                limit: budget.unpacked_bytes,
            });
        }
        if object_stream {
            tokens += count_tokens(&plain);
            if tokens > budget.tokens {
                return Err(Overweight::Tokens {
                    limit: budget.tokens,
                });
            }
        }
    }
    Ok(())
}

enum Filter {
    None,
    Flate,
    Other,
}

fn filter_of(dictionary: &[u8]) -> Filter {
    let Some(at) = find(dictionary, 0, b"/Filter") else {
        return Filter::None;
    };
    let rest = trim_start(&dictionary[at + b"/Filter".len()..]);
    let rest = match rest.strip_prefix(b"[") {
        Some(inner) => {
            let inner = trim_start(inner);
            let Some(close) = find(inner, 0, b"]") else {
                return Filter::Other;
            };
            let listed = trim_start(&inner[..close]);
            if listed.strip_prefix(b"/FlateDecode").map(trim_start) == Some(&[][..]) {
                return Filter::Flate;
            }
            return Filter::Other;
        }
        None => rest,
    };
    match rest.strip_prefix(b"/FlateDecode") {
        Some(after) if !after.first().is_some_and(u8::is_ascii_alphanumeric) => Filter::Flate,
        _ => Filter::Other,
    }
}

/// The stream inflated, but never past `limit` bytes.
fn inflate(data: &[u8], limit: u64) -> Result<Vec<u8>, Overweight> {
    let mut plain = Vec::new();
    // A stream that does not inflate whole is the parser's to refuse; what it gave counts.
    let _partial = flate2::read::ZlibDecoder::new(data)
        .take(limit.saturating_add(1))
        .read_to_end(&mut plain);
    if plain.len() as u64 > limit {
        return Err(Overweight::Unpacked { limit });
    }
    Ok(plain)
}

/// Runs of bytes between PDF white space and delimiters, as a parser would split them.
fn count_tokens(data: &[u8]) -> u64 {
    let mut count = 0;
    let mut inside = false;
    for byte in data {
        let separator = matches!(
            byte,
            b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0' | b'[' | b']' | b'<' | b'>' | b'/'
        );
        if !separator && !inside {
            count += 1;
        }
        inside = !separator;
        // A delimiter is a token of its own.
        if matches!(byte, b'[' | b']' | b'/') {
            count += 1;
        }
    }
    count
}

/// Whether `dictionary` sets `key` to `value` (`/Type /ObjStm` or `/Type/ObjStm`).
fn names(dictionary: &[u8], key: &[u8], value: &[u8]) -> bool {
    let mut at = 0;
    while let Some(found) = find(dictionary, at, key) {
        let rest = trim_start(&dictionary[found + key.len()..]);
        if rest
            .strip_prefix(value)
            .is_some_and(|after| !after.first().is_some_and(u8::is_ascii_alphanumeric))
        {
            return true;
        }
        at = found + key.len();
    }
    false
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[skip..]
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// An object stream holding one array of `zeros` integers, as a PDF writes it.
    fn object_stream(zeros: usize) -> Vec<u8> {
        let data = deflate(format!("9 0 [{}]", "0 ".repeat(zeros)).as_bytes());
        let mut pdf = format!(
            "%PDF-1.5\n4 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
            data.len()
        )
        .into_bytes();
        pdf.extend(&data);
        pdf.extend(b"\nendstream\nendobj\n%%EOF\n");
        pdf
    }

    #[test]
    fn a_small_file_of_compressed_integers_is_over_its_budget() {
        let bomb = object_stream(3_000_000);
        assert!(bomb.len() < 24 * 1024, "{} bytes", bomb.len());
        assert!(matches!(check(&bomb), Err(Overweight::Unpacked { .. })));
        let tokens = object_stream(200_000);
        assert!(matches!(check(&tokens), Err(Overweight::Tokens { .. })));
        // The same structure at a size real files have passes.
        assert_eq!(check(&object_stream(1_000)), Ok(()));
    }

    #[test]
    fn tokens_are_counted_as_a_parser_splits_them() {
        assert_eq!(count_tokens(b"12 0 [0 0 0]"), 7);
        assert_eq!(count_tokens(b"<< /Type /Font >>"), 4);
    }

    #[test]
    fn object_streams_in_other_encodings_are_refused() {
        assert!(matches!(
            filter_of(b"<< /Filter [/ASCII85Decode /FlateDecode] "),
            Filter::Other
        ));
        assert!(matches!(
            filter_of(b"<< /Filter [ /FlateDecode ] "),
            Filter::Flate
        ));
        assert!(matches!(
            filter_of(b"<< /Filter/FlateDecode/N 3"),
            Filter::Flate
        ));
        assert!(matches!(filter_of(b"<< /N 3 "), Filter::None));
    }
}
