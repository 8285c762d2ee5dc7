//! Text-level editor support: a forgiving JSON lexer, UTF-16 offsets, the highlight layer's HTML,
//! the re-indenter behind `format` and bracket matching.
//!
//! Everything here works on text that is *not* valid JSON as well (the editor is mid-keystroke
//! most of the time): the lexer never fails, an unterminated string ends at the end of its line,
//! and anything it does not recognise becomes an unstyled token. It never recurses, so nesting
//! depth costs nothing.

use std::fmt::Write as _;

/// What a token is, for colouring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string followed by `:` (a member name).
    Key,
    /// Any other string (possibly unterminated).
    Str,
    /// A number (or something that starts like one).
    Num,
    /// `true`, `false`, `null`.
    Lit,
    /// One of `{ } [ ] , :`.
    Punct,
    /// Anything else (a bare word, a stray character): not coloured.
    Other,
}

impl Kind {
    fn class(self) -> Option<&'static str> {
        match self {
            Kind::Key => Some("j-key"),
            Kind::Str => Some("j-str"),
            Kind::Num => Some("j-num"),
            Kind::Lit => Some("j-lit"),
            Kind::Punct => Some("j-punct"),
            Kind::Other => None,
        }
    }
}

/// One token: its kind and byte range (always on character boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// Splits `text` into tokens, skipping whitespace. Never fails.
pub(crate) fn tokens(text: &str) -> Vec<Token> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 4);
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let kind = match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'"' => {
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\\' if b.get(i + 1).is_some_and(|&c| c != b'\n') => i += 2,
                        b'\n' => break,
                        _ => i += 1,
                    }
                }
                // `\` before a multi-byte character skipped one byte of it; step to its end.
                while i < b.len() && !text.is_char_boundary(i) {
                    i += 1;
                }
                let mut j = i;
                while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(j) {
                    j += 1;
                }
                if b.get(j) == Some(&b':') {
                    Kind::Key
                } else {
                    Kind::Str
                }
            }
            b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                i += 1;
                Kind::Punct
            }
            b'-' | b'0'..=b'9' => {
                i += 1;
                while let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = b.get(i) {
                    i += 1;
                }
                Kind::Num
            }
            c if c.is_ascii_alphabetic() => {
                while b
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    i += 1;
                }
                match &b[start..i] {
                    b"true" | b"false" | b"null" => Kind::Lit,
                    _ => Kind::Other,
                }
            }
            _ => {
                i += 1;
                while i < b.len() && !text.is_char_boundary(i) {
                    i += 1;
                }
                Kind::Other
            }
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    out
}

/// The largest character boundary at or before `i` (clamped to the text).
pub(crate) fn floor_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// UTF-16 offsets (what a JavaScript string index and `selectionStart` count) of byte offsets,
/// in one pass over the text. Offsets inside a character count from its start.
pub(crate) fn utf16_offsets(text: &str, bytes: &[usize]) -> Vec<usize> {
    if text.is_ascii() {
        return bytes.iter().map(|&b| b.min(text.len())).collect();
    }
    let mut order: Vec<usize> = (0..bytes.len()).collect();
    order.sort_unstable_by_key(|&k| bytes[k]);
    let mut out = vec![0; bytes.len()];
    let mut chars = text.char_indices().peekable();
    let mut units = 0;
    for k in order {
        let target = floor_boundary(text, bytes[k]);
        while let Some(&(at, c)) = chars.peek() {
            if at >= target {
                break;
            }
            units += c.len_utf16();
            chars.next();
        }
        out[k] = units;
    }
    out
}

/// The byte offset of a UTF-16 offset (clamped to the text; inside a surrogate pair it points at
/// the character's start).
pub(crate) fn byte_offset(text: &str, utf16: usize) -> usize {
    if text.is_ascii() {
        return utf16.min(text.len());
    }
    let mut units = 0;
    for (at, c) in text.char_indices() {
        let next = units + c.len_utf16();
        if next > utf16 {
            return at;
        }
        units = next;
    }
    text.len()
}

/// Appends `s` with `& < > " '` escaped.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[from..i]);
        out.push_str(rep);
        from = i + 1;
    }
    out.push_str(&s[from..]);
}

/// A range of the text to wrap in `<mark>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    pub start: usize,
    pub end: usize,
    /// The `data-i` attribute: the diagnostic's index.
    pub index: usize,
    /// The `class` attribute, e.g. `diag diag-error`.
    pub class: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Mark(usize),
    Tok(Kind),
}

/// Renders `text` as the HTML of an editor's highlight layer: every character escaped, tokens in
/// `<span class="j-…">`, marks in `<mark class="…" data-i="N">`. Marks may nest or overlap: an
/// element that would cross another's end is closed and reopened, so the HTML is always well
/// formed (a mark can then appear as several elements with the same `data-i`). Marks are opened
/// outside token spans. A zero-width mark becomes an empty `<mark>` at its place. A text that is
/// empty or ends with a newline gets a trailing space, so the layer is as tall as a textarea.
pub(crate) fn highlight(text: &str, toks: &[Token], marks: &[Mark]) -> String {
    let len = text.len();
    let mut out = String::with_capacity(len * 3 + 64);
    // Marks by (start, longest first, index): that is also the nesting order.
    let mut order: Vec<usize> = (0..marks.len()).collect();
    order.sort_by_key(|&k| {
        let m = &marks[k];
        (m.start, std::cmp::Reverse(m.end), m.index)
    });
    let (empty, spans): (Vec<usize>, Vec<usize>) = order
        .into_iter()
        .partition(|&k| marks[k].start >= marks[k].end);
    let mut next_mark = 0; // into `spans`
    let mut next_empty = 0; // into `empty`
    let mut active: Vec<usize> = Vec::new(); // mark indices, in nesting order
    let mut open: Vec<Open> = Vec::new();
    let mut want: Vec<Open> = Vec::new();
    let mut ti = 0;
    let mut pos = 0;
    while pos < len {
        active.retain(|&k| marks[k].end > pos);
        while let Some(&k) = spans.get(next_mark) {
            if marks[k].start > pos {
                break;
            }
            if marks[k].end > pos {
                active.push(k);
            }
            next_mark += 1;
        }
        while toks.get(ti).is_some_and(|t| t.end <= pos) {
            ti += 1;
        }
        let tok = toks.get(ti).filter(|t| t.start <= pos);
        let mut seg_end = match (tok, toks.get(ti)) {
            (Some(t), _) => t.end,
            (None, Some(t)) => t.start,
            (None, None) => len,
        };
        if let Some(&k) = spans.get(next_mark) {
            seg_end = seg_end.min(marks[k].start);
        }
        for &k in &active {
            seg_end = seg_end.min(marks[k].end);
        }
        let seg_end = seg_end.clamp(pos + 1, len);

        want.clear();
        want.extend(active.iter().map(|&k| Open::Mark(k)));
        if let Some(t) = tok.filter(|t| t.kind.class().is_some()) {
            want.push(Open::Tok(t.kind));
        }
        let common = open
            .iter()
            .zip(want.iter())
            .take_while(|(a, b)| a == b)
            .count();
        while open.len() > common {
            close(&mut out, open.pop());
        }
        for w in &want[common..] {
            open_tag(&mut out, *w, marks);
            open.push(*w);
        }
        while let Some(&k) = empty.get(next_empty) {
            if marks[k].start > pos {
                break;
            }
            empty_mark(&mut out, &marks[k]);
            next_empty += 1;
        }
        let end = floor_boundary(text, seg_end).max(pos + 1);
        let end = if text.is_char_boundary(end) {
            end
        } else {
            // `pos + 1` was inside a character: take the whole character.
            pos + text[pos..].chars().next().map_or(1, char::len_utf8)
        };
        push_escaped(&mut out, &text[pos..end]);
        pos = end;
    }
    while let Some(o) = open.pop() {
        close(&mut out, Some(o));
    }
    for &k in &empty[next_empty..] {
        empty_mark(&mut out, &marks[k]);
    }
    if text.is_empty() || text.ends_with('\n') {
        out.push(' ');
    }
    out
}

fn open_tag(out: &mut String, o: Open, marks: &[Mark]) {
    match o {
        Open::Mark(k) => {
            let _ = write!(
                out,
                "<mark class=\"{}\" data-i=\"{}\">",
                marks[k].class, marks[k].index
            );
        }
        Open::Tok(kind) => {
            out.push_str("<span class=\"");
            out.push_str(kind.class().unwrap_or_default());
            out.push_str("\">");
        }
    }
}

fn close(out: &mut String, o: Option<Open>) {
    match o {
        Some(Open::Mark(_)) => out.push_str("</mark>"),
        Some(Open::Tok(_)) => out.push_str("</span>"),
        None => {}
    }
}

fn empty_mark(out: &mut String, m: &Mark) {
    let _ = write!(
        out,
        "<mark class=\"{}\" data-i=\"{}\"></mark>",
        m.class, m.index
    );
}

/// The byte range of the innermost bracket still open at `offset` (strings skipped), if any.
pub(crate) fn unclosed_before(toks: &[Token], text: &str, offset: usize) -> Option<(usize, usize)> {
    let mut stack: Vec<usize> = Vec::new();
    for t in toks.iter().take_while(|t| t.start < offset) {
        if t.kind != Kind::Punct {
            continue;
        }
        match text.as_bytes()[t.start] {
            b'{' | b'[' => stack.push(t.start),
            b'}' | b']' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.last().map(|&s| (s, s + 1))
}

/// Pretty-prints valid JSON with two-space indentation, keeping members in their order and every
/// string and number exactly as written. The caller has checked that `text` is JSON.
pub(crate) fn reindent(text: &str) -> String {
    let toks = tokens(text);
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut depth = 0usize;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let s = &text[t.start..t.end];
        match s {
            "{" | "[" => {
                let close = if s == "{" { "}" } else { "]" };
                if toks
                    .get(i + 1)
                    .is_some_and(|n| &text[n.start..n.end] == close)
                {
                    out.push_str(s);
                    out.push_str(close);
                    i += 2;
                    continue;
                }
                out.push_str(s);
                depth += 1;
                newline(&mut out, depth);
            }
            "}" | "]" => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push_str(s);
            }
            "," => {
                out.push(',');
                newline(&mut out, depth);
            }
            ":" if t.kind == Kind::Punct => out.push_str(": "),
            _ => out.push_str(s),
        }
        i += 1;
    }
    out.push('\n');
    out
}

/// The byte offset of the bracket matching the one at `at` or, failing that, just before it;
/// brackets inside strings do not count.
pub(crate) fn matching_bracket(text: &str, at: usize) -> Option<usize> {
    let toks = tokens(text);
    let bytes = text.as_bytes();
    let is_bracket =
        |t: &Token| t.kind == Kind::Punct && matches!(bytes[t.start], b'{' | b'}' | b'[' | b']');
    let here = toks.binary_search_by_key(&at, |t| t.start).ok();
    let before = at
        .checked_sub(1)
        .and_then(|b| toks.binary_search_by_key(&b, |t| t.start).ok());
    let k = [here, before]
        .into_iter()
        .flatten()
        .find(|&k| is_bracket(&toks[k]))?;
    let brackets: Vec<(usize, u8)> = toks
        .iter()
        .filter(|t| is_bracket(t))
        .map(|t| (t.start, bytes[t.start]))
        .collect();
    let me = brackets
        .binary_search_by_key(&toks[k].start, |b| b.0)
        .ok()?;
    let (open, close, forward) = match brackets[me].1 {
        b'{' => (b'{', b'}', true),
        b'[' => (b'[', b']', true),
        b'}' => (b'{', b'}', false),
        _ => (b'[', b']', false),
    };
    // Walk away from it, keeping a stack of every bracket kind so `{ ] }` does not match.
    let mut stack: Vec<u8> = Vec::new();
    let walk: Box<dyn Iterator<Item = &(usize, u8)>> = if forward {
        Box::new(brackets[me + 1..].iter())
    } else {
        Box::new(brackets[..me].iter().rev())
    };
    let (inward, outward) = if forward {
        ([b'{', b'['], [b'}', b']'])
    } else {
        ([b'}', b']'], [b'{', b'['])
    };
    for &(at, c) in walk {
        if inward.contains(&c) {
            stack.push(c);
        } else if outward.contains(&c) {
            match stack.pop() {
                Some(inner) => {
                    if partner(inner) != c {
                        return None;
                    }
                }
                None => return (c == if forward { close } else { open }).then_some(at),
            }
        }
    }
    None
}

fn partner(c: u8) -> u8 {
    match c {
        b'{' => b'}',
        b'}' => b'{',
        b'[' => b']',
        _ => b'[',
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        tokens(text)
            .into_iter()
            .map(|t| (t.kind, &text[t.start..t.end]))
            .collect()
    }

    #[test]
    fn lexer_tells_keys_from_strings() {
        assert_eq!(
            kinds(r#"{"a" : "b", "n": -1.5e3, "t": true, "x": nope}"#),
            vec![
                (Kind::Punct, "{"),
                (Kind::Key, "\"a\""),
                (Kind::Punct, ":"),
                (Kind::Str, "\"b\""),
                (Kind::Punct, ","),
                (Kind::Key, "\"n\""),
                (Kind::Punct, ":"),
                (Kind::Num, "-1.5e3"),
                (Kind::Punct, ","),
                (Kind::Key, "\"t\""),
                (Kind::Punct, ":"),
                (Kind::Lit, "true"),
                (Kind::Punct, ","),
                (Kind::Key, "\"x\""),
                (Kind::Punct, ":"),
                (Kind::Other, "nope"),
                (Kind::Punct, "}"),
            ]
        );
    }

    #[test]
    fn unterminated_strings_end_at_the_line() {
        assert_eq!(
            kinds("[\"ab\\\"c\n]"),
            vec![
                (Kind::Punct, "["),
                (Kind::Str, "\"ab\\\"c"),
                (Kind::Punct, "]")
            ]
        );
        assert_eq!(kinds("\"é\\"), vec![(Kind::Str, "\"é\\")]);
        assert_eq!(kinds("\"\\é\""), vec![(Kind::Str, "\"\\é\"")]);
    }

    #[test]
    fn utf16_offsets_count_surrogate_pairs() {
        let text = "aé😀b";
        let bytes = [0, 1, 3, 7, 8, 2, 100];
        assert_eq!(utf16_offsets(text, &bytes), vec![0, 1, 2, 4, 5, 1, 5]);
        assert_eq!(byte_offset(text, 4), 7);
        assert_eq!(byte_offset(text, 3), 3);
        assert_eq!(byte_offset(text, 99), 8);
    }

    #[test]
    fn highlight_escapes_and_nests() {
        let text = "{\"a<\": \"x&y\"}";
        let toks = tokens(text);
        let marks = [
            Mark {
                start: 1,
                end: 12,
                index: 0,
                class: "diag diag-warning".into(),
            },
            Mark {
                start: 8,
                end: 13,
                index: 1,
                class: "diag diag-error".into(),
            },
        ];
        let html = highlight(text, &toks, &marks);
        assert_eq!(
            html,
            "<span class=\"j-punct\">{</span>\
             <mark class=\"diag diag-warning\" data-i=\"0\"><span class=\"j-key\">&quot;a&lt;&quot;</span>\
             <span class=\"j-punct\">:</span> <span class=\"j-str\">&quot;</span>\
             <mark class=\"diag diag-error\" data-i=\"1\"><span class=\"j-str\">x&amp;y&quot;</span></mark></mark>\
             <mark class=\"diag diag-error\" data-i=\"1\"><span class=\"j-punct\">}</span></mark>"
        );
        assert_well_formed(&html);
    }

    #[test]
    fn highlight_trailing_newline_and_empty_marks() {
        let toks = tokens("{\n");
        let marks = [Mark {
            start: 2,
            end: 2,
            index: 0,
            class: "diag diag-error diag-eof".into(),
        }];
        assert_eq!(
            highlight("{\n", &toks, &marks),
            "<span class=\"j-punct\">{</span>\n<mark class=\"diag diag-error diag-eof\" data-i=\"0\"></mark> "
        );
        assert_eq!(highlight("", &[], &[]), " ");
    }

    /// Checks that tags open and close in stack order.
    pub(crate) fn assert_well_formed(html: &str) {
        let mut stack = Vec::new();
        let mut rest = html;
        while let Some(i) = rest.find('<') {
            let end = rest[i..].find('>').expect("unterminated tag") + i;
            let tag = &rest[i + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(name.to_string()), "in {html}");
            } else {
                stack.push(tag.split(' ').next().unwrap_or_default().to_string());
            }
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed {stack:?} in {html}");
    }

    #[test]
    fn reindent_keeps_order_and_text() {
        let text = r#"{"z":1,"a":[],"m":{"k":[1.50,"a,b:{"]},"e":{}}"#;
        assert_eq!(
            reindent(text),
            "{\n  \"z\": 1,\n  \"a\": [],\n  \"m\": {\n    \"k\": [\n      1.50,\n      \"a,b:{\"\n    ]\n  },\n  \"e\": {}\n}\n"
        );
    }

    #[test]
    fn brackets_match_outside_strings() {
        let text = r#"{"a": ["]", {"b": 1}], "c": "{"}"#;
        let last = text.len() - 1;
        assert_eq!(matching_bracket(text, 0), Some(last));
        assert_eq!(matching_bracket(text, last), Some(0));
        assert_eq!(matching_bracket(text, last + 1), Some(0)); // just before the caret
        let open = text.find('[').unwrap();
        let close = text.rfind(']').unwrap();
        assert_eq!(matching_bracket(text, open), Some(close));
        assert_eq!(matching_bracket(text, close), Some(open));
        assert_eq!(matching_bracket(text, 2), None); // inside a key
        assert_eq!(matching_bracket("{ ]", 0), None);
        assert_eq!(matching_bracket("[{]", 0), None);
        assert_eq!(matching_bracket("[[]", 0), None);
    }
}
