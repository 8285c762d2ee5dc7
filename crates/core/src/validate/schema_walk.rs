//! The mechanical half of validation: a document walked against the API model's shapes (JSON
//! types, required members, enum values, lengths, ranges, patterns, unknown members).
//!
//! Everything here comes from the generated tables in [`crate::model::schema`], so a constraint
//! added to the API model is enforced after `cargo xtask codegen` with no hand-written rule.

use super::{Finding, Severity};
use crate::json::{Entry, Node, Value, pointer_token};
use crate::model::schema::{self, Shape, ShapeKind};

/// Walks documents and collects findings.
pub(crate) struct Walker<'f> {
    pub findings: &'f mut Vec<Finding>,
}

impl Walker<'_> {
    pub fn walk(&mut self, node: &Node<'_>, shape: &'static Shape, path: &mut String) {
        if matches!(node.value, Value::Null) {
            return; // ECS treats an explicit null as absent.
        }
        match shape.kind {
            ShapeKind::Structure { .. } => {
                let Some(entries) = node.as_object() else {
                    return self.type_error(node, "an object", path);
                };
                self.structure(entries, shape, None, path);
            }
            ShapeKind::List { member, min, max } => {
                let Some(items) = node.as_array() else {
                    return self.type_error(node, "an array", path);
                };
                let n = items.len() as f64;
                if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                    self.push(
                        "length",
                        Severity::Error,
                        path,
                        format!(
                            "'{}' has {} entries; the model allows {}.",
                            last_token(path),
                            items.len(),
                            bounds(min, max)
                        ),
                        None,
                    );
                }
                let element = schema::by_index(member);
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push('/');
                    path.push_str(itoa(i).as_str());
                    self.walk(item, element, path);
                    path.truncate(len);
                }
            }
            ShapeKind::Map { value, .. } => {
                let Some(entries) = node.as_object() else {
                    return self.type_error(node, "an object", path);
                };
                let value_shape = schema::by_index(value);
                for e in entries {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&pointer_token(&e.key));
                    self.walk(&e.value, value_shape, path);
                    path.truncate(len);
                }
            }
            ShapeKind::String {
                min,
                max,
                pattern,
                values,
            } => {
                let Some(s) = node.as_str() else {
                    return self.type_error(node, "a string", path);
                };
                if let Some(values) = values {
                    if s.is_empty() {
                        self.push(
                            "empty-enum",
                            Severity::Warning,
                            path,
                            format!(
                                "'{}' is an empty string; ECS treats it as not set.",
                                last_token(path)
                            ),
                            Some(
                                "Remove the member, or set one of: ".to_string()
                                    + &values.join(", "),
                            ),
                        );
                    } else if !values.contains(&s) {
                        let help = match suggest(s, values.iter().copied()) {
                            Some(best) => format!(
                                "Did you mean '{best}'? Valid values: {}.",
                                values.join(", ")
                            ),
                            None => format!("Valid values: {}.", values.join(", ")),
                        };
                        self.push(
                            "enum",
                            Severity::Error,
                            path,
                            format!("'{s}' is not a valid value for '{}'.", last_token(path)),
                            Some(help),
                        );
                    }
                    return;
                }
                let chars = s.chars().count() as f64;
                if min.is_some_and(|m| chars < m) || max.is_some_and(|m| chars > m) {
                    self.push(
                        "length",
                        Severity::Error,
                        path,
                        format!(
                            "'{}' is {} characters long; the model allows {}.",
                            last_token(path),
                            chars,
                            bounds(min, max)
                        ),
                        None,
                    );
                }
                if let Some(p) = pattern {
                    if !matches_pattern(p, s) {
                        self.push(
                            "pattern",
                            Severity::Error,
                            path,
                            format!(
                                "'{s}' does not match the pattern {p} required for '{}'.",
                                last_token(path)
                            ),
                            None,
                        );
                    }
                }
            }
            ShapeKind::Integer { min, max } => {
                let Value::Number(text) = node.value else {
                    return self.type_error(node, "an integer", path);
                };
                let Ok(n) = text.parse::<i64>() else {
                    return self.type_error(node, "an integer", path);
                };
                let in_i32 = i32::try_from(n).is_ok();
                // The model's 32-bit integers; `long` shapes carry no min/max in ECS.
                let (lo, hi) = (min.unwrap_or(f64::MIN), max.unwrap_or(f64::MAX));
                if (n as f64) < lo || (n as f64) > hi || (!in_i32 && is_int32(shape)) {
                    let allowed = if is_int32(shape) && min.is_none() && max.is_none() {
                        "a 32-bit integer".to_string()
                    } else {
                        bounds(min, max)
                    };
                    self.push(
                        "range",
                        Severity::Error,
                        path,
                        format!(
                            "{n} is out of range for '{}'; the model allows {allowed}.",
                            last_token(path)
                        ),
                        None,
                    );
                }
            }
            ShapeKind::Double { min, max } => {
                let Value::Number(text) = node.value else {
                    return self.type_error(node, "a number", path);
                };
                let n: f64 = text.parse().unwrap_or(f64::NAN);
                if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) || !n.is_finite() {
                    self.push(
                        "range",
                        Severity::Error,
                        path,
                        format!(
                            "{text} is out of range for '{}'; the model allows {}.",
                            last_token(path),
                            bounds(min, max)
                        ),
                        None,
                    );
                }
            }
            ShapeKind::Boolean => {
                if !matches!(node.value, Value::Bool(_)) {
                    self.type_error(node, "true or false", path);
                }
            }
            ShapeKind::Timestamp => {
                if !matches!(node.value, Value::Number(_) | Value::String(_)) {
                    self.type_error(node, "a timestamp", path);
                }
            }
            ShapeKind::Blob => {
                if node.as_str().is_none() {
                    self.type_error(node, "a base64 string", path);
                }
            }
            ShapeKind::Document => {}
        }
    }

    /// Checks an object against a structure; `extra` names a second shape whose members are
    /// also accepted (the read-only members of `TaskDefinition` at the top of a document).
    pub fn structure(
        &mut self,
        entries: &[Entry<'_>],
        shape: &'static Shape,
        extra: Option<&'static Shape>,
        path: &mut String,
    ) {
        let members = shape.members();
        for (i, e) in entries.iter().enumerate() {
            let len = path.len();
            path.push('/');
            path.push_str(&pointer_token(&e.key));
            if entries[..i].iter().any(|p| p.key == e.key) {
                self.push(
                    "duplicate-member",
                    Severity::Warning,
                    path,
                    format!(
                        "'{}' appears more than once; only the last one counts.",
                        e.key
                    ),
                    None,
                );
            }
            let member = members
                .iter()
                .find(|m| m.name == e.key)
                .or_else(|| extra.and_then(|x| x.member(&e.key)));
            match member {
                Some(m) => {
                    if m.deprecated && !matches!(e.value.value, Value::Null) {
                        self.push(
                            "deprecated",
                            Severity::Warning,
                            path,
                            format!("'{}' is deprecated in the ECS API.", e.key),
                            Some("Remove it; the feature is no longer available.".into()),
                        );
                    }
                    self.walk(&e.value, schema::by_index(m.shape), path);
                }
                None => self.unknown_member(e, shape, path),
            }
            path.truncate(len);
        }
        for m in members.iter().filter(|m| m.required) {
            let present = entries
                .iter()
                .any(|e| e.key == m.name && !matches!(e.value.value, Value::Null));
            if !present {
                let len = path.len();
                path.push('/');
                path.push_str(m.name);
                self.push(
                    "required",
                    Severity::Error,
                    path,
                    format!("Missing required member '{}' in {}.", m.name, shape.name),
                    None,
                );
                path.truncate(len);
            }
        }
    }

    fn unknown_member(&mut self, e: &Entry<'_>, shape: &'static Shape, path: &str) {
        let names = shape.members().iter().map(|m| m.name);
        let help = match suggest(&e.key, names) {
            Some(best) => Some(format!("Did you mean '{best}'?")),
            None => Some(format!(
                "{} has: {}.",
                shape.name,
                shape
                    .members()
                    .iter()
                    .map(|m| m.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        self.findings.push(Finding {
            code: "unknown-member",
            severity: Severity::Warning,
            path: path.to_string(),
            message: format!(
                "Unknown member '{}' in {}: ECS ignores it, and the AWS CLI rejects the file.",
                e.key, shape.name
            ),
            help,
            on_key: true,
        });
    }

    fn type_error(&mut self, node: &Node<'_>, expected: &str, path: &str) {
        let found = match &node.value {
            Value::String(s) if s.chars().count() <= 40 => format!("the string \"{s}\""),
            Value::Number(n) => format!("the number {n}"),
            _ => format!("{} {}", article(node.type_name()), node.type_name()),
        };
        let help = match (&node.value, expected) {
            (Value::String(s), "an integer") if s.trim().parse::<i64>().is_ok() => {
                Some(format!("Write it without quotes: {}", s.trim()))
            }
            (Value::Object(_), "an array") => {
                Some("Wrap it in [ ]: the model expects a list.".into())
            }
            (Value::String(s), "true or false") if s == "true" || s == "false" => {
                Some(format!("Write it without quotes: {s}"))
            }
            _ => None,
        };
        self.push(
            "type",
            Severity::Error,
            path,
            format!("'{}' must be {expected}, found {found}.", last_token(path)),
            help,
        );
    }

    fn push(
        &mut self,
        code: &'static str,
        severity: Severity,
        path: &str,
        message: String,
        help: Option<String>,
    ) {
        self.findings.push(Finding {
            code,
            severity,
            path: path.to_string(),
            message,
            help,
            on_key: false,
        });
    }
}

fn is_int32(shape: &Shape) -> bool {
    !matches!(shape.name, "Long")
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn itoa(i: usize) -> String {
    i.to_string()
}

/// The last token of a JSON pointer, for messages.
pub(crate) fn last_token(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn bounds(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{a}..{b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "any value".into(),
    }
}

/// The patterns the ECS model uses, implemented without a regex engine (the core stays small on
/// wasm). An unknown pattern is not enforced (and a unit test fails, so none goes unnoticed).
pub(crate) fn matches_pattern(pattern: &str, s: &str) -> bool {
    match pattern {
        // TagKey / TagValue: ([\p{L}\p{Z}\p{N}_.:/=+\-@]*)
        "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)" => s.chars().all(|c| {
            c.is_alphabetic() || c.is_numeric() || is_unicode_separator(c) || "_.:/=+-@".contains(c)
        }),
        // AllowedInstanceType / ExcludedInstanceType: [a-zA-Z0-9\.\*\-]+
        "[a-zA-Z0-9\\.\\*\\-]+" => {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".*-".contains(c))
        }
        _ => true,
    }
}

fn is_unicode_separator(c: char) -> bool {
    // \p{Z}: space separators, line separator, paragraph separator.
    matches!(
        c,
        ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// The closest candidate to `word` (case-insensitive equality first, then edit distance ≤ 1/3
/// of the length), for "did you mean" help.
pub(crate) fn suggest<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str> + Clone,
) -> Option<&'c str> {
    if let Some(c) = candidates.clone().find(|c| c.eq_ignore_ascii_case(word)) {
        return Some(c);
    }
    let lower = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|c| (levenshtein(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j + 1] + 1).min(cur[j] + 1).min(prev[j] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_pattern_is_implemented() {
        for shape in crate::model::SHAPES {
            if let ShapeKind::String {
                pattern: Some(p), ..
            } = shape.kind
            {
                assert!(
                    matches!(
                        p,
                        "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)" | "[a-zA-Z0-9\\.\\*\\-]+"
                    ),
                    "pattern of {} is not implemented: {p}",
                    shape.name
                );
            }
        }
        let tag = "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)";
        assert!(matches_pattern(tag, "team: édge/1 + x@y"));
        assert!(!matches_pattern(tag, "a,b"));
        assert!(!matches_pattern(tag, "semi;colon"));
        let it = "[a-zA-Z0-9\\.\\*\\-]+";
        assert!(matches_pattern(it, "m5.*"));
        assert!(!matches_pattern(it, "m5_large"));
        assert!(!matches_pattern(it, ""));
    }

    #[test]
    fn suggestions() {
        let names = ["containerPort", "hostPort", "protocol"];
        assert_eq!(
            suggest("ContainerPort", names.iter().copied()),
            Some("containerPort")
        );
        assert_eq!(suggest("Protcol", names.iter().copied()), Some("protocol"));
        assert_eq!(suggest("zzz", names.iter().copied()), None);
    }
}
