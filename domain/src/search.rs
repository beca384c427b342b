//! Search tokens for the catalogue, the same on both stores: words of letters and digits
//! (lowercased) match by prefix, and runs of CJK characters are indexed as overlapping bigrams
//! plus their last character, so a two-character word such as 合同 is one exact token and a
//! single character still matches. Both stores index these tokens with their own full-text
//! index (SQLite FTS5, PostgreSQL tsvector); no store has to understand Chinese.

/// Characters written without spaces between words (CJK ideographs, kana, hangul).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF     // hiragana, katakana
        | 0x3400..=0x4DBF   // CJK extension A
        | 0x4E00..=0x9FFF   // CJK unified ideographs
        | 0xAC00..=0xD7AF   // hangul syllables
        | 0xF900..=0xFAFF   // CJK compatibility ideographs
        | 0x20000..=0x2FA1F // CJK extensions B–F, compatibility supplement
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Run {
    Word(String),
    Cjk(Vec<char>),
}

fn runs(text: &str) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut word = String::new();
    let mut cjk = Vec::new();
    for c in text.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                runs.push(Run::Word(std::mem::take(&mut word)));
            }
            cjk.push(c);
        } else if c.is_alphanumeric() {
            if !cjk.is_empty() {
                runs.push(Run::Cjk(std::mem::take(&mut cjk)));
            }
            word.extend(c.to_lowercase());
        } else {
            if !word.is_empty() {
                runs.push(Run::Word(std::mem::take(&mut word)));
            }
            if !cjk.is_empty() {
                runs.push(Run::Cjk(std::mem::take(&mut cjk)));
            }
        }
    }
    if !word.is_empty() {
        runs.push(Run::Word(word));
    }
    if !cjk.is_empty() {
        runs.push(Run::Cjk(cjk));
    }
    runs
}

fn bigrams(chars: &[char]) -> impl Iterator<Item = String> + '_ {
    chars.windows(2).map(|w| w.iter().collect())
}

/// The tokens stored for a text, space-separated, in text order, written into one string (a
/// bulk import makes 100,000 of these).
pub fn index_text(fields: &[&str]) -> String {
    fn separate(text: &mut String) {
        if !text.is_empty() {
            text.push(' ');
        }
    }
    let mut text = String::with_capacity(fields.iter().map(|f| f.len() * 2).sum());
    for field in fields {
        for run in runs(field) {
            match run {
                Run::Word(word) => {
                    separate(&mut text);
                    text.push_str(&word);
                }
                Run::Cjk(chars) => {
                    for bigram in chars.windows(2) {
                        separate(&mut text);
                        text.extend(bigram);
                    }
                    separate(&mut text);
                    text.extend(chars.last());
                }
            }
        }
    }
    text
}

/// One part of a query; all parts must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryTerm {
    /// Matches a token that starts with it (a word, or a single CJK character).
    Prefix(String),
    /// Consecutive tokens in this order (the bigrams of a CJK run of two or more characters).
    Phrase(Vec<String>),
}

/// Terms a query may hold: each is one more match the index runs over its postings, and a
/// person searching types a handful.
pub const MAX_QUERY_TERMS: usize = 16;

/// Turns a user's query into terms: `None` when it holds nothing searchable, an error under `q`
/// when it holds more than [`MAX_QUERY_TERMS`].
pub fn query_terms(q: &str) -> Result<Option<Vec<QueryTerm>>, crate::FieldError> {
    let terms: Vec<QueryTerm> = runs(q)
        .into_iter()
        .map(|run| match run {
            Run::Word(word) => QueryTerm::Prefix(word),
            Run::Cjk(chars) if chars.len() == 1 => QueryTerm::Prefix(chars[0].to_string()),
            Run::Cjk(chars) => QueryTerm::Phrase(bigrams(&chars).collect()),
        })
        .collect();
    if terms.len() > MAX_QUERY_TERMS {
        return Err(crate::FieldError::new(
            "q",
            format!("at most {MAX_QUERY_TERMS} words or runs of Chinese characters"),
        ));
    }
    Ok((!terms.is_empty()).then_some(terms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_and_split_on_punctuation() {
        assert_eq!(
            index_text(&["WS-2019-Y-0042", "Annual REPORT"]),
            "ws 2019 y 0042 annual report"
        );
    }

    #[test]
    fn cjk_runs_become_bigrams_and_their_last_character() {
        assert_eq!(index_text(&["劳动合同"]), "劳动 动合 合同 同");
        assert_eq!(index_text(&["人事档案2019年"]), "人事 事档 档案 案 2019 年");
        assert_eq!(
            index_text(&["Ab合同", "档", "", "x-Y"]),
            "ab 合同 同 档 x y"
        );
    }

    #[test]
    fn index_tokens_are_the_query_runs() {
        let text = "WS-2019 劳动合同（第8卷）Straße ÉTÉ 人事处，合同 汇编 a";
        let from_runs: Vec<String> = runs(text)
            .into_iter()
            .flat_map(|run| match run {
                Run::Word(word) => vec![word],
                Run::Cjk(chars) => bigrams(&chars)
                    .chain(chars.last().map(char::to_string))
                    .collect(),
            })
            .collect();
        assert_eq!(index_text(&[text]), from_runs.join(" "));
    }

    #[test]
    fn queries_become_prefixes_and_phrases() {
        assert_eq!(
            query_terms("合同"),
            Ok(Some(vec![QueryTerm::Phrase(vec!["合同".into()])]))
        );
        assert_eq!(
            query_terms("劳动合同 WS-20"),
            Ok(Some(vec![
                QueryTerm::Phrase(vec!["劳动".into(), "动合".into(), "合同".into()]),
                QueryTerm::Prefix("ws".into()),
                QueryTerm::Prefix("20".into()),
            ]))
        );
        assert_eq!(
            query_terms("档"),
            Ok(Some(vec![QueryTerm::Prefix("档".into())]))
        );
        assert_eq!(query_terms(" -- %% "), Ok(None));
    }

    #[test]
    fn a_query_holds_at_most_sixteen_terms() {
        let words = |n: usize| {
            (0..n)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(query_terms(&words(16)).unwrap().unwrap().len(), 16);
        assert_eq!(query_terms(&words(17)).unwrap_err().field, "q");
    }

    #[test]
    fn every_substring_of_a_cjk_run_is_findable() {
        let text = "科技档案管理";
        let indexed = index_text(&[text]);
        let tokens: Vec<&str> = indexed.split(' ').collect();
        let chars: Vec<char> = text.chars().collect();
        for start in 0..chars.len() {
            for end in start + 1..=chars.len() {
                let q: String = chars[start..end].iter().collect();
                for term in query_terms(&q).unwrap().unwrap() {
                    let found = match term {
                        QueryTerm::Prefix(p) => tokens.iter().any(|t| t.starts_with(&p)),
                        QueryTerm::Phrase(phrase) => {
                            tokens.windows(phrase.len()).any(|w| w == phrase.as_slice())
                        }
                    };
                    assert!(found, "{q} in {text}");
                }
            }
        }
    }
}
