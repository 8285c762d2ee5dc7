//! The Ctrl/Cmd+K palette's ranking: every cluster, service, task and family is an entry; typed
//! text matches as a subsequence, with contiguous, word-start and prefix hits ranked first.

/// One thing the palette can go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What kind of thing (`Cluster`, `Service`, `Task`, `Family`).
    pub kind: &'static str,
    /// The text shown and matched.
    pub label: String,
    /// Where it goes.
    pub href: String,
}

/// A score for `label` against `query` (lower case), or `None` when it does not match.
pub fn score(label: &str, query: &str) -> Option<i64> {
    if query.is_empty() {
        return Some(0);
    }
    let hay: Vec<char> = label.to_lowercase().chars().collect();
    let needle: Vec<char> = query.to_lowercase().chars().collect();
    if let Some(pos) = find(&hay, &needle) {
        let word_start = pos == 0 || !hay[pos - 1].is_alphanumeric();
        return Some(1000 - pos as i64 + if word_start { 500 } else { 0 } - hay.len() as i64 / 4);
    }
    let mut score = 0;
    let mut last: Option<usize> = None;
    let mut i = 0;
    for &c in &needle {
        while i < hay.len() && hay[i] != c {
            i += 1;
        }
        if i == hay.len() {
            return None;
        }
        score += match last {
            Some(l) if l + 1 == i => 10,
            _ => 1,
        };
        last = Some(i);
        i += 1;
    }
    Some(score - hay.len() as i64 / 4)
}

fn find(hay: &[char], needle: &[char]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).find(|&i| hay[i..i + needle.len()] == *needle)
}

/// The best `limit` entries for `query`, best first (ties keep the input order).
pub fn rank<'a>(entries: &'a [Entry], query: &str, limit: usize) -> Vec<&'a Entry> {
    let q = query.trim();
    let mut scored: Vec<(i64, usize, &Entry)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| score(&e.label, q).map(|s| (s, i, e)))
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(limit).map(|(_, _, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(label: &str) -> Entry {
        Entry {
            kind: "Service",
            label: label.into(),
            href: format!("/{label}"),
        }
    }

    #[test]
    fn substring_beats_subsequence_and_word_starts_win() {
        let entries = [
            e("default/payments-worker"),
            e("default/web"),
            e("default/w-e-b"),
        ];
        let r = rank(&entries, "web", 10);
        assert_eq!(r[0].label, "default/web");
        assert!(r.iter().any(|x| x.label == "default/w-e-b"));
        assert!(!r.iter().any(|x| x.label == "default/payments-worker"));
        assert_eq!(
            rank(&entries, "pay", 10)[0].label,
            "default/payments-worker"
        );
    }

    #[test]
    fn empty_query_keeps_order_and_limit() {
        let entries = [e("a"), e("b"), e("c")];
        let r = rank(&entries, "", 2);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].label, "a");
        assert_eq!(score("abc", "xyz"), None);
    }
}
