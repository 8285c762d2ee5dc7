//! The table filter: whitespace-separated terms, all of which must match (case-insensitive
//! substring). A term `column:value` matches only that column (`status:stopped`,
//! `reason:essential`); a term starting with `-` excludes rows that match it.

/// A parsed filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    column: Option<String>,
    needle: String,
    negate: bool,
}

impl Filter {
    /// Parses the filter text (never fails: every word is a term).
    pub fn parse(text: &str) -> Filter {
        let terms = text
            .split_whitespace()
            .filter_map(|w| {
                let (negate, w) = match w.strip_prefix('-') {
                    Some(rest) if !rest.is_empty() => (true, rest),
                    _ => (false, w),
                };
                let (column, needle) = match w.split_once(':') {
                    Some((c, v)) if !c.is_empty() && !v.is_empty() => {
                        (Some(c.to_lowercase()), v.to_lowercase())
                    }
                    _ => (None, w.to_lowercase()),
                };
                (!needle.is_empty()).then_some(Term {
                    column,
                    needle,
                    negate,
                })
            })
            .collect();
        Filter { terms }
    }

    /// Whether there is nothing to filter by.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether a row with these `(column, text)` fields passes. Column names compare
    /// case-insensitively; a `column:` term whose column the row lacks does not match.
    pub fn matches(&self, fields: &[(&str, &str)]) -> bool {
        self.terms.iter().all(|t| {
            let hit = fields.iter().any(|(name, text)| {
                t.column
                    .as_deref()
                    .is_none_or(|c| name.eq_ignore_ascii_case(c))
                    && contains_ci(text, &t.needle)
            });
            hit != t.negate
        })
    }
}

/// Case-insensitive substring test; `needle` is already lower case.
fn contains_ci(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() && needle.is_ascii() {
        let h = hay.as_bytes();
        let n = needle.as_bytes();
        if n.len() > h.len() {
            return false;
        }
        return h
            .windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b));
    }
    hay.to_lowercase().contains(needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &[(&str, &str)] = &[
        ("task", "6f9b6dae0c"),
        ("status", "STOPPED"),
        ("reason", "Essential container in task exited"),
    ];

    #[test]
    fn empty_filter_matches_everything() {
        assert!(Filter::parse("   ").is_empty());
        assert!(Filter::parse("").matches(ROW));
    }

    #[test]
    fn all_terms_must_match_anywhere() {
        assert!(Filter::parse("6f9b essential").matches(ROW));
        assert!(Filter::parse("ESSENTIAL stopped").matches(ROW));
        assert!(!Filter::parse("6f9b running").matches(ROW));
    }

    #[test]
    fn column_terms_and_negation() {
        assert!(Filter::parse("status:stop").matches(ROW));
        assert!(!Filter::parse("status:essential").matches(ROW));
        assert!(!Filter::parse("nosuch:x").matches(ROW));
        assert!(!Filter::parse("-stopped").matches(ROW));
        assert!(Filter::parse("-running").matches(ROW));
        // A lone "-" or a trailing ":" is plain text.
        assert!(!Filter::parse("-").matches(ROW));
        assert!(Filter::parse("status:").matches(&[("x", "status:")]));
    }

    #[test]
    fn non_ascii_text() {
        assert!(Filter::parse("ÉTÉ").matches(&[("name", "un été chaud")]));
    }
}
