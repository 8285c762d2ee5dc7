//! A small JSON parser that remembers where every value came from.
//!
//! `serde_json` tells you *that* a document is wrong; a validator has to say *where*. This parser
//! builds a tree in which every value and every object key carries its byte range in the source,
//! so each diagnostic can underline the exact text, in the CLI and in the dashboard's editor.
//!
//! It accepts exactly RFC 8259 JSON (no comments, no trailing commas), limits nesting depth so
//! hostile input cannot overflow the stack, and borrows strings from the source when they contain
//! no escapes.

use std::borrow::Cow;
use std::fmt;

/// Deepest nesting accepted; deeper documents get [`SyntaxError`] instead of a stack overflow.
pub const MAX_DEPTH: usize = 128;

/// A byte range in the source text, `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteRange {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// A JSON value with its position in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    /// Where the value is in the source.
    pub range: ByteRange,
    /// The value.
    pub value: Value<'a>,
}

/// The value of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, as written (so `1.0` and `1` stay distinguishable).
    Number(&'a str),
    /// A string with escapes resolved.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Node<'a>>),
    /// An object, members in source order (duplicates kept; see [`Node::get`]).
    Object(Vec<Entry<'a>>),
}

/// One member of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    /// The key with escapes resolved.
    pub key: Cow<'a, str>,
    /// Where the key (with its quotes) is in the source.
    pub key_range: ByteRange,
    /// The member's value.
    pub value: Node<'a>,
}

/// Why a text is not JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What was wrong, such as `expected ',' or '}' after an object member`.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for SyntaxError {}

impl<'a> Node<'a> {
    /// The last member named `key` when this is an object (JSON parsers keep the last duplicate).
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match &self.value {
            Value::Object(entries) => entries
                .iter()
                .rev()
                .find(|e| e.key == key)
                .map(|e| &e.value),
            _ => None,
        }
    }

    /// The string when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements when this is an array.
    pub fn as_array(&self) -> Option<&[Node<'a>]> {
        match &self.value {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members when this is an object.
    pub fn as_object(&self) -> Option<&[Entry<'a>]> {
        match &self.value {
            Value::Object(entries) => Some(entries),
            _ => None,
        }
    }

    /// A short name of the value's JSON type: `null`, `boolean`, `number`, `string`, `array`, `object`.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Follows a JSON pointer (RFC 6901) from this node. Returns the deepest node reached and
    /// whether the whole pointer resolved.
    pub fn resolve(&self, pointer: &str) -> (&Node<'a>, bool) {
        let mut node = self;
        if pointer.is_empty() {
            return (node, true);
        }
        for raw in pointer.split('/').skip(1) {
            let token = raw.replace("~1", "/").replace("~0", "~");
            let next = match &node.value {
                Value::Object(_) => node.get(&token),
                Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return (node, false),
            }
        }
        (node, true)
    }

    /// Converts to a `serde_json::Value` (numbers that do not fit become `null`).
    pub fn to_serde(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::from_str(n).unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Array(items) => items.iter().map(Node::to_serde).collect(),
            Value::Object(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.to_string(), e.value.to_serde()))
                    .collect(),
            ),
        }
    }
}

/// Escapes a member name for use as one token of a JSON pointer.
pub fn pointer_token(key: &str) -> Cow<'_, str> {
    if key.contains(['~', '/']) {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Parses a complete JSON document.
///
/// # Errors
///
/// Returns a [`SyntaxError`] with the byte offset of the first problem when `text` is not a
/// single JSON value (surrounding whitespace allowed), or nests deeper than [`MAX_DEPTH`].
///
/// # Example
///
/// ```
/// let doc = berth_core::json::parse(r#"{"family": "web"}"#).unwrap();
/// let family = doc.get("family").unwrap();
/// assert_eq!(family.as_str(), Some("web"));
/// assert_eq!((family.range.start, family.range.end), (11, 16));
/// assert!(berth_core::json::parse("{\"a\": }").is_err());
/// ```
pub fn parse(text: &str) -> Result<Node<'_>, SyntaxError> {
    let mut p = Parser {
        src: text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    let node = p.value()?;
    p.skip_ws();
    if p.pos != p.bytes.len() {
        return Err(p.err("unexpected text after the JSON value"));
    }
    Ok(node)
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, message: &str) -> SyntaxError {
        SyntaxError {
            offset: self.pos,
            message: message.to_string(),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Node<'a>, SyntaxError> {
        let start = self.pos;
        let value = match self.bytes.get(self.pos) {
            None => return Err(self.err("unexpected end of input, expected a value")),
            Some(b'{') => self.object()?,
            Some(b'[') => self.array()?,
            Some(b'"') => Value::String(self.string()?),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => return Err(self.err("expected a value")),
        };
        Ok(Node {
            range: ByteRange {
                start,
                end: self.pos,
            },
            value,
        })
    }

    fn literal(&mut self, word: &str, value: Value<'a>) -> Result<Value<'a>, SyntaxError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.err("expected a value"))
        }
    }

    fn number(&mut self) -> Result<Value<'a>, SyntaxError> {
        let start = self.pos;
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err("expected a digit")),
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if !matches!(self.bytes.get(self.pos), Some(b'0'..=b'9')) {
                return Err(self.err("expected a digit after the decimal point"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if !matches!(self.bytes.get(self.pos), Some(b'0'..=b'9')) {
                return Err(self.err("expected a digit in the exponent"));
            }
            self.digits();
        }
        Ok(Value::Number(&self.src[start..self.pos]))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn string(&mut self) -> Result<Cow<'a, str>, SyntaxError> {
        self.pos += 1; // opening quote
        let start = self.pos;
        // Fast path: no escapes.
        loop {
            match self.bytes.get(self.pos) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let s = &self.src[start..self.pos];
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(0..=0x1f) => return Err(self.err("control character in string (escape it)")),
                Some(_) => self.pos += 1,
            }
        }
        let mut out = String::from(&self.src[start..self.pos]);
        loop {
            match self.bytes.get(self.pos) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.bytes.get(self.pos) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.bytes[self.pos..].starts_with(b"\\u") {
                                    return Err(self.err("unpaired surrogate in \\u escape"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate in \\u escape"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            let c = char::from_u32(code)
                                .ok_or_else(|| self.err("invalid \\u escape (lone surrogate)"))?;
                            out.push(c);
                            continue;
                        }
                        _ => return Err(self.err("invalid escape in string")),
                    };
                    out.push(c);
                    self.pos += 1;
                }
                Some(0..=0x1f) => return Err(self.err("control character in string (escape it)")),
                Some(_) => {
                    // Copy a run of plain bytes at once; the source is valid UTF-8.
                    let run_start = self.pos;
                    while let Some(&b) = self.bytes.get(self.pos) {
                        if b == b'"' || b == b'\\' || b < 0x20 {
                            break;
                        }
                        self.pos += 1;
                    }
                    out.push_str(&self.src[run_start..self.pos]);
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let mut v = 0u32;
        for &d in digits {
            let n = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid hex digit in \\u escape"))?;
            v = v * 16 + n;
        }
        self.pos += 4;
        Ok(v)
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nesting is too deep"));
        }
        Ok(())
    }

    fn array(&mut self) -> Result<Value<'a>, SyntaxError> {
        self.enter()?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value()?);
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']' after an array element")),
            }
        }
    }

    fn object(&mut self) -> Result<Value<'a>, SyntaxError> {
        self.enter()?;
        self.pos += 1;
        let mut entries = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Object(entries));
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.err("expected a member name in double quotes"));
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key_range = ByteRange {
                start: key_start,
                end: self.pos,
            };
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.err("expected ':' after a member name"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value()?;
            entries.push(Entry {
                key,
                key_range,
                value,
            });
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value::Object(entries));
                }
                _ => return Err(self.err("expected ',' or '}' after an object member")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_point_at_the_source() {
        let text = "{\n  \"a\": [1, \"x\\n\", true],\n  \"b\": {\"c\": null}\n}";
        let doc = parse(text).unwrap();
        let a = doc.get("a").unwrap();
        assert_eq!(&text[a.range.start..a.range.end], "[1, \"x\\n\", true]");
        let (x, ok) = doc.resolve("/a/1");
        assert!(ok);
        assert_eq!(x.as_str(), Some("x\n"));
        let (c, ok) = doc.resolve("/b/c");
        assert!(ok && c.value == Value::Null);
        let (deepest, ok) = doc.resolve("/b/missing/x");
        assert!(!ok);
        assert_eq!(deepest.type_name(), "object");
        assert_eq!(line_column(text, c.range.start), (3, 14));
    }

    #[test]
    fn agrees_with_serde_json() {
        for text in [
            "0",
            "-0.5e+3",
            "\"\\ud83d\\ude00 \\u00e9\"",
            "[[], {}, [{}]]",
            "{\"k\": [true, false, null, 1e400]}",
            " \t\n[1]\n",
        ] {
            let ours = parse(text).unwrap().to_serde();
            let theirs: serde_json::Value =
                serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
            if text.contains("1e400") {
                continue; // serde_json rejects out-of-range numbers; we keep the text
            }
            assert_eq!(ours, theirs, "{text}");
        }
    }

    #[test]
    fn errors_have_positions() {
        for (text, offset) in [
            ("", 0),
            ("{", 1),
            ("{\"a\" 1}", 5),
            ("[1,]", 3),
            ("[1 2]", 3),
            ("\"abc", 4),
            ("01", 1),
            ("-", 1),
            ("1.", 2),
            ("{\"a\":1,}", 7),
            ("tru", 0),
            ("\"\\x\"", 2),
            ("\"\\ud800\"", 7),
            ("{} x", 3),
            ("\"a\nb\"", 2),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.offset, offset, "{text:?}: {e}");
        }
    }

    #[test]
    fn depth_is_limited() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).unwrap_err().message.contains("deep"));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn duplicate_keys_keep_the_last() {
        let doc = parse("{\"a\": 1, \"a\": 2}").unwrap();
        assert_eq!(doc.get("a").unwrap().value, Value::Number("2"));
    }
}
