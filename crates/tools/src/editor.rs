//! The task-definition editor: validation with UTF-16 spans and the highlight layer, formatting,
//! bracket matching.

use berth_core::model::{Compatibility, InputForm};
use berth_core::validate::{Options, Severity, Span, validate_task_definition};
use serde::Serialize;

use crate::text::{self, Mark};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Validated<'a> {
    diagnostics: Vec<Diag<'a>>,
    syntax_error: bool,
    compatibilities: &'a [Compatibility],
    form: Option<InputForm>,
    html: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Diag<'a> {
    code: &'static str,
    severity: Severity,
    path: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span: Option<Span>,
    from: usize,
    to: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    unclosed: Option<Unclosed>,
}

/// For a syntax error at the end of the text: the bracket that was never closed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Unclosed {
    start: usize,
    end: usize,
    from: usize,
    to: usize,
    line: usize,
    column: usize,
}

/// `validate(text, launch_types_csv)`: see the crate documentation for the JSON shape.
pub fn validate(text: &str, launch_types_csv: &str) -> String {
    let options = Options {
        launch_types: launch_types_csv
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Compatibility::from(s.to_ascii_uppercase().as_str()))
            .collect(),
    };
    let report = validate_task_definition(text, &options);
    let toks = text::tokens(text);

    // Spans on character boundaries; an empty span inside the text covers its next character.
    let spans: Vec<(usize, usize)> = report
        .diagnostics
        .iter()
        .map(|d| match d.span {
            Some(s) => {
                let start = text::floor_boundary(text, s.start);
                let end = text::floor_boundary(text, s.end.max(start));
                if end == start && start < text.len() {
                    let width = text[start..].chars().next().map_or(0, char::len_utf8);
                    (start, start + width)
                } else {
                    (start, end)
                }
            }
            None => (0, 0),
        })
        .collect();
    let unclosed: Vec<Option<(usize, usize)>> = report
        .diagnostics
        .iter()
        .zip(&spans)
        .map(|(d, &(start, _))| {
            (d.code == "json-syntax" && text[start..].trim().is_empty())
                .then(|| text::unclosed_before(&toks, text, start))
                .flatten()
        })
        .collect();

    let mut offsets = Vec::with_capacity(spans.len() * 2 + 2);
    for ((s, e), u) in spans.iter().zip(&unclosed) {
        offsets.push(*s);
        offsets.push(*e);
        if let Some((us, ue)) = u {
            offsets.push(*us);
            offsets.push(*ue);
        }
    }
    let utf16 = text::utf16_offsets(text, &offsets);
    let mut u16_iter = utf16.into_iter();

    let mut marks = Vec::with_capacity(spans.len() + 1);
    let mut diagnostics = Vec::with_capacity(spans.len());
    for (i, ((d, &(start, end)), u)) in report
        .diagnostics
        .iter()
        .zip(&spans)
        .zip(&unclosed)
        .enumerate()
    {
        let from = u16_iter.next().unwrap_or(0);
        let to = u16_iter.next().unwrap_or(from);
        let severity = match d.severity {
            Severity::Error => "diag diag-error",
            Severity::Warning => "diag diag-warning",
        };
        if d.span.is_some() {
            marks.push(Mark {
                start,
                end,
                index: i,
                class: if start == end {
                    format!("{severity} diag-eof")
                } else {
                    severity.to_string()
                },
            });
        }
        let unclosed = u.map(|(us, ue)| {
            let ufrom = u16_iter.next().unwrap_or(0);
            let uto = u16_iter.next().unwrap_or(ufrom);
            marks.push(Mark {
                start: us,
                end: ue,
                index: i,
                class: format!("{severity} diag-unclosed"),
            });
            let (line, column) = berth_core::json::line_column(text, us);
            Unclosed {
                start: us,
                end: ue,
                from: ufrom,
                to: uto,
                line,
                column,
            }
        });
        diagnostics.push(Diag {
            code: d.code,
            severity: d.severity,
            path: &d.path,
            message: &d.message,
            help: d.help.as_deref(),
            span: d.span,
            from,
            to,
            unclosed,
        });
    }
    let html = text::highlight(text, &toks, &marks);
    crate::to_json(&Validated {
        diagnostics,
        syntax_error: report.syntax_error,
        compatibilities: &report.compatibilities,
        form: report.form,
        html,
    })
}

/// `format(text)`: the pretty text itself, or `{"error", "from", "line", "column"}` (compact, so
/// it never looks like a formatted document, which starts with `{` and a newline).
pub fn format(text: &str) -> String {
    #[derive(Serialize)]
    struct Failed {
        error: String,
        from: usize,
        line: usize,
        column: usize,
    }
    match berth_core::json::parse(text) {
        Ok(_) => text::reindent(text),
        Err(e) => {
            let (line, column) = berth_core::json::line_column(text, e.offset);
            crate::to_json(&Failed {
                error: format!(
                    "Not valid JSON: {} (line {line}, column {column}).",
                    e.message
                ),
                from: text::utf16_offsets(text, &[e.offset])[0],
                line,
                column,
            })
        }
    }
}

/// `match_bracket(text, utf16_pos)`: the UTF-16 offset of the matching bracket, or -1.
pub fn match_bracket(text: &str, utf16_pos: i32) -> i32 {
    let Ok(pos) = usize::try_from(utf16_pos) else {
        return -1;
    };
    let at = text::byte_offset(text, pos);
    text::matching_bracket(text, at)
        .map(|b| text::utf16_offsets(text, &[b])[0])
        .and_then(|u| i32::try_from(u).ok())
        .unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn run(text: &str) -> Value {
        serde_json::from_str(&validate(text, "")).unwrap()
    }

    /// The text of `s` between UTF-16 offsets, as JavaScript's `slice` would give it.
    fn slice16(s: &str, from: u64, to: u64) -> String {
        let units: Vec<u16> = s.encode_utf16().collect();
        String::from_utf16(&units[from as usize..to as usize]).unwrap()
    }

    /// The concatenated text inside every `<mark … data-i="i">` of the highlight HTML, unescaped.
    fn marked(html: &str, i: usize) -> String {
        let open = format!("data-i=\"{i}\">");
        let mut out = String::new();
        let mut rest = html;
        while let Some(p) = rest.find(&open) {
            rest = &rest[p + open.len()..];
            let mut depth = 1;
            let mut k = 0;
            let bytes = rest.as_bytes();
            while k < bytes.len() && depth > 0 {
                if rest[k..].starts_with("<mark") {
                    depth += 1;
                } else if rest[k..].starts_with("</mark>") {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                k += 1;
            }
            out.push_str(&strip_tags(&rest[..k]));
        }
        out
    }

    fn strip_tags(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    #[test]
    fn cpu_abc_marks_exactly_the_value() {
        let text = "{\n  \"family\": \"web\",\n  \"cpu\": \"abc\",\n  \"containerDefinitions\": [{\"name\": \"app\", \"image\": \"nginx:1.27\", \"memory\": 256}]\n}\n";
        let out = run(text);
        let diags = out["diagnostics"].as_array().unwrap();
        let (i, d) = diags
            .iter()
            .enumerate()
            .find(|(_, d)| d["path"] == "/cpu")
            .expect("a diagnostic on /cpu");
        assert_eq!(d["severity"], "error");
        let (from, to) = (d["from"].as_u64().unwrap(), d["to"].as_u64().unwrap());
        assert_eq!(slice16(text, from, to), "\"abc\"");
        assert_eq!(d["span"]["line"], 3);
        assert_eq!(marked(out["html"].as_str().unwrap(), i), "\"abc\"");
        assert_eq!(out["syntaxError"], false);
        text::tests::assert_well_formed(out["html"].as_str().unwrap());
        // The layer shows the text itself, and ends with a space for the trailing newline.
        let html = out["html"].as_str().unwrap();
        assert_eq!(strip_tags(html), format!("{text} "));
    }

    #[test]
    fn non_ascii_before_the_span_counts_in_utf16() {
        let text = "{\"family\": \"wéb😀\", \"cpu\": \"abc\", \"containerDefinitions\": [{\"name\": \"app\", \"image\": \"nginx:1.27\", \"memory\": 256}]}";
        let out = run(text);
        let d = out["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["path"] == "/cpu")
            .unwrap()
            .clone();
        let (from, to) = (d["from"].as_u64().unwrap(), d["to"].as_u64().unwrap());
        assert_eq!(slice16(text, from, to), "\"abc\"");
        // The byte span is further right than the UTF-16 one: é is 2 bytes/1 unit, 😀 4/2.
        assert_eq!(d["span"]["start"].as_u64().unwrap(), from + 1 + 2);
    }

    #[test]
    fn unclosed_brace_is_marked_at_the_error_and_the_brace() {
        let text = "{\n  \"family\": \"web\",\n  \"containerDefinitions\": [\n    {\"name\": \"app\"\n  ]\n";
        let out = run(text);
        assert_eq!(out["syntaxError"], true);
        let d = &out["diagnostics"][0];
        assert_eq!(d["code"], "json-syntax");
        // `]` closes nothing: the error is there, and it is marked.
        let (from, to) = (d["from"].as_u64().unwrap(), d["to"].as_u64().unwrap());
        assert_eq!(slice16(text, from, to), "]");
        let html = out["html"].as_str().unwrap();
        assert_eq!(marked(html, 0), "]");

        // Nothing after the last member: the error is at the end, and the brace still open is
        // marked too.
        let text = "{\"family\": \"web\", \"containerDefinitions\": [{\"name\": \"app\"}]";
        let out = run(text);
        let d = &out["diagnostics"][0];
        assert_eq!(d["from"].as_u64(), Some(text.len() as u64));
        assert_eq!(d["to"], d["from"]);
        assert_eq!(d["unclosed"]["from"], 0);
        assert_eq!(d["unclosed"]["line"], 1);
        let html = out["html"].as_str().unwrap();
        assert!(html.starts_with(
            "<mark class=\"diag diag-error diag-unclosed\" data-i=\"0\"><span class=\"j-punct\">{</span></mark>"
        ));
        assert!(html.ends_with("<mark class=\"diag diag-error diag-eof\" data-i=\"0\"></mark>"));
        text::tests::assert_well_formed(html);
    }

    #[test]
    fn launch_types_are_read_from_the_csv() {
        let text = r#"{"family": "web", "networkMode": "bridge", "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "memory": 256}]}"#;
        let plain = run(text);
        let fargate: Value = serde_json::from_str(&validate(text, " fargate, ")).unwrap();
        let codes = |v: &Value| -> Vec<String> {
            v["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["severity"] == "error")
                .map(|d| d["code"].as_str().unwrap().to_string())
                .collect()
        };
        assert!(codes(&plain).is_empty(), "{plain}");
        assert!(!codes(&fargate).is_empty(), "{fargate}");
        assert_eq!(plain["compatibilities"], serde_json::json!(["EC2"]));
        assert_eq!(plain["form"], "register-request");
    }

    #[test]
    fn format_reindents_without_reordering() {
        assert_eq!(
            format(r#"{"z": 1, "a": {"b": [1,2]}, "é": "😀"}"#),
            "{\n  \"z\": 1,\n  \"a\": {\n    \"b\": [\n      1,\n      2\n    ]\n  },\n  \"é\": \"😀\"\n}\n"
        );
        let err = format("{\"a\": }");
        assert!(err.starts_with("{\"error\":"), "{err}");
        let err: Value = serde_json::from_str(&err).unwrap();
        assert!(err["error"].as_str().unwrap().contains("line 1"), "{err}");
        assert_eq!(err["from"], 6);
    }

    #[test]
    fn match_bracket_speaks_utf16() {
        let text = "{\"é😀\": [1]}";
        let close = text.encode_utf16().count() as i32 - 1;
        assert_eq!(match_bracket(text, 0), close);
        assert_eq!(match_bracket(text, close), 0);
        let open = text
            .encode_utf16()
            .position(|u| u == u16::from(b'['))
            .unwrap() as i32;
        assert_eq!(match_bracket(text, open), open + 2);
        assert_eq!(match_bracket(text, -5), -1);
        assert_eq!(match_bracket(text, 2), -1);
        assert_eq!(match_bracket("", 0), -1);
    }
}
