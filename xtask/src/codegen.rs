//! Generates `berth-core`'s serde model and schema tables from an AWS service model
//! (botocore's `service-2.json`), so that the Rust model cannot drift from the API.
//!
//! Every structure becomes a struct whose members are all `Option` (so a document that the
//! validator will reject can still be read and explained), every enum becomes a Rust enum with an
//! `Unknown(String)` catch-all (so unknown values survive a round trip and are reported by the
//! validator, not by serde), and the whole model is also emitted as data (`SHAPES`) for the
//! schema walk of the validator.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// What to generate.
pub struct Spec<'a> {
    /// The botocore model as text.
    pub model: &'a str,
    /// Where the generated file's header says the model came from.
    pub source_name: &'a str,
}

const RUST_KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Shapes whose Rust name would clash with std/prelude names the generated code uses.
fn type_name(shape: &str) -> String {
    match shape {
        "String" | "Integer" | "Boolean" | "Long" | "Double" | "Timestamp" => shape.to_string(),
        "Option" | "Result" | "Vec" | "Box" | "Default" | "Error" => format!("Ecs{shape}"),
        _ => shape.to_string(),
    }
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    let name = name.replace("GiB", "Gib");
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    if RUST_KEYWORDS.contains(&out.as_str()) {
        format!("r#{out}")
    } else {
        out
    }
}

fn variant_name(value: &str) -> String {
    let mut out = String::new();
    let mut upper_next = true;
    let all_upper = !value.chars().any(|c| c.is_ascii_lowercase());
    for c in value.chars() {
        if !c.is_ascii_alphanumeric() {
            upper_next = true;
            continue;
        }
        if upper_next {
            out.push(c.to_ascii_uppercase());
            upper_next = false;
        } else if all_upper {
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    if out == "Unknown" {
        out.push('_');
    }
    out
}

/// First sentence of an HTML documentation string, as plain text safe for rustdoc.
fn doc_line(html: Option<&Value>) -> String {
    let Some(html) = html.and_then(Value::as_str) else {
        return String::new();
    };
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .replace("&quot;", "\"");
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut sentence = match text.find(". ") {
        Some(i) => text[..=i].to_string(),
        None => text,
    };
    if sentence.len() > 300 {
        let mut cut = 300;
        while !sentence.is_char_boundary(cut) {
            cut -= 1;
        }
        sentence.truncate(cut);
        sentence.push('…');
    }
    // Neutralise rustdoc markup: brackets become links, angle brackets HTML, backticks code.
    sentence
        .replace('[', "(")
        .replace(']', ")")
        .replace('<', "‹")
        .replace('>', "›")
        .replace('`', "'")
}

fn obj<'v>(v: &'v Value, key: &str) -> &'v Map<String, Value> {
    v.get(key)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("model: missing object {key}"))
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("model: missing string {key}"))
}

/// Generates the Rust source of the model.
///
/// # Panics
///
/// Panics when the model is not a botocore service model (this is a build tool; a panic with
/// the reason is the right report).
pub fn generate(spec: &Spec<'_>) -> String {
    let model: Value = serde_json::from_str(spec.model).expect("model is JSON");
    let shapes = obj(&model, "shapes");
    let sorted: BTreeMap<&String, &Value> = shapes.iter().collect();
    let index: BTreeMap<&str, usize> = sorted
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let exceptions: BTreeSet<&str> = sorted
        .iter()
        .filter(|(_, s)| s.get("exception").is_some())
        .map(|(k, _)| k.as_str())
        .collect();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "// @generated by `cargo xtask codegen` from {}. Do not edit by hand.\n",
        spec.source_name
    );
    out.push_str("use super::schema::{Member, Shape, ShapeKind};\n");
    out.push_str("use super::Timestamp;\n");
    out.push_str("use serde::{Deserialize, Serialize};\n");
    out.push_str("use std::collections::BTreeMap;\n\n");

    let rust_type = |shape_name: &str| -> String { rust_type_of(shapes, shape_name) };

    for (name, shape) in &sorted {
        let kind = str_of(shape, "type");
        let doc = doc_line(shape.get("documentation"));
        match kind {
            "structure" if !exceptions.contains(name.as_str()) => {
                let members = obj(shape, "members");
                if !doc.is_empty() {
                    let _ = writeln!(out, "/// {doc}");
                } else {
                    let _ = writeln!(out, "/// The `{name}` shape.");
                }
                out.push_str(
                    "#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]\n",
                );
                let _ = writeln!(out, "pub struct {} {{", type_name(name));
                for (mname, member) in members {
                    let mdoc = doc_line(member.get("documentation"));
                    let mdoc = if mdoc.is_empty() {
                        format!("The `{mname}` member.")
                    } else {
                        mdoc
                    };
                    let _ = writeln!(out, "    /// {mdoc}");
                    if member.get("deprecated").and_then(Value::as_bool) == Some(true) {
                        out.push_str("    #[deprecated]\n");
                    }
                    let _ = writeln!(
                        out,
                        "    #[serde(rename = \"{mname}\", default, skip_serializing_if = \"Option::is_none\")]"
                    );
                    let _ = writeln!(
                        out,
                        "    pub {}: Option<{}>,",
                        snake(mname),
                        rust_type(str_of(member, "shape"))
                    );
                }
                out.push_str("}\n\n");
            }
            "string" if shape.get("enum").is_some() => {
                let values: Vec<&str> = shape["enum"]
                    .as_array()
                    .expect("enum is a list")
                    .iter()
                    .map(|v| v.as_str().expect("enum value is a string"))
                    .collect();
                let tn = type_name(name);
                let mut seen = BTreeSet::new();
                for v in &values {
                    assert!(seen.insert(variant_name(v)), "variant clash in {name}: {v}");
                }
                if !doc.is_empty() {
                    let _ = writeln!(out, "/// {doc}");
                } else {
                    let _ = writeln!(out, "/// The `{name}` enumeration.");
                }
                out.push_str("///\n/// Values the model does not know are kept in `Unknown`, so they survive a round trip.\n");
                out.push_str("#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]\n");
                let _ = writeln!(out, "pub enum {tn} {{");
                for v in &values {
                    let _ = writeln!(out, "    /// `{v}`");
                    let _ = writeln!(out, "    {},", variant_name(v));
                }
                out.push_str(
                    "    /// A value that is not in the model.\n    Unknown(String),\n}\n\n",
                );
                let _ = writeln!(out, "impl {tn} {{");
                out.push_str("    /// Every value the model defines, in the model's order.\n");
                let _ = writeln!(
                    out,
                    "    pub const VALUES: &'static [&'static str] = &[{}];",
                    values
                        .iter()
                        .map(|v| format!("{v:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                out.push_str("    /// The wire spelling.\n    pub fn as_str(&self) -> &str {\n        match self {\n");
                for v in &values {
                    let _ = writeln!(out, "            Self::{} => {v:?},", variant_name(v));
                }
                out.push_str("            Self::Unknown(s) => s,\n        }\n    }\n");
                out.push_str("    /// Whether the value is one the model defines.\n    pub fn is_known(&self) -> bool {\n        !matches!(self, Self::Unknown(_))\n    }\n}\n\n");
                let _ = writeln!(
                    out,
                    "impl From<&str> for {tn} {{\n    fn from(s: &str) -> Self {{\n        match s {{"
                );
                for v in &values {
                    let _ = writeln!(out, "            {v:?} => Self::{},", variant_name(v));
                }
                out.push_str("            other => Self::Unknown(other.to_string()),\n        }\n    }\n}\n\n");
                let _ = writeln!(
                    out,
                    "impl std::fmt::Display for {tn} {{\n    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{\n        f.write_str(self.as_str())\n    }}\n}}\n"
                );
                let _ = writeln!(
                    out,
                    "impl Serialize for {tn} {{\n    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {{\n        s.serialize_str(self.as_str())\n    }}\n}}\n"
                );
                let _ = writeln!(
                    out,
                    "impl<'de> Deserialize<'de> for {tn} {{\n    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {{\n        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;\n        Ok(Self::from(s.as_ref()))\n    }}\n}}\n"
                );
            }
            _ => {}
        }
    }

    // Exception names, for the protocol layer.
    out.push_str("/// Every exception shape the model defines, sorted.\npub const EXCEPTIONS: &[&str] = &[\n");
    for e in &exceptions {
        let _ = writeln!(out, "    {e:?},");
    }
    out.push_str("];\n\n");

    // Operations: name, input shape, output shape.
    out.push_str("/// Every operation: (name, input shape, output shape), sorted by name.\npub const OPERATIONS: &[(&str, &str, &str)] = &[\n");
    let ops: BTreeMap<&String, &Value> = obj(&model, "operations").iter().collect();
    for (op, def) in ops {
        let input = def.get("input").map_or("", |i| str_of(i, "shape"));
        let output = def.get("output").map_or("", |o| str_of(o, "shape"));
        let _ = writeln!(out, "    ({op:?}, {input:?}, {output:?}),");
    }
    out.push_str("];\n\n");

    // The schema as data.
    out.push_str("/// Every shape of the model as data, sorted by name; `Member::shape` indexes this table.\n");
    out.push_str("pub static SHAPES: &[Shape] = &[\n");
    for (name, shape) in &sorted {
        let kind = str_of(shape, "type");
        let min = shape.get("min").and_then(Value::as_f64);
        let max = shape.get("max").and_then(Value::as_f64);
        let fmt_opt = |v: Option<f64>| v.map_or("None".to_string(), |v| format!("Some({v:?})"));
        let body = match kind {
            "structure" => {
                let members = obj(shape, "members");
                let required: BTreeSet<&str> = shape
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut ms = String::new();
                for (mname, member) in members {
                    let target = str_of(member, "shape");
                    let _ = write!(
                        ms,
                        "Member {{ name: {mname:?}, shape: {}, required: {}, deprecated: {} }}, ",
                        index[target],
                        required.contains(mname.as_str()),
                        member.get("deprecated").and_then(Value::as_bool) == Some(true),
                    );
                }
                format!(
                    "ShapeKind::Structure {{ members: &[{ms}], exception: {} }}",
                    exceptions.contains(name.as_str())
                )
            }
            "list" => format!(
                "ShapeKind::List {{ member: {}, min: {}, max: {} }}",
                index[str_of(&shape["member"], "shape")],
                fmt_opt(min),
                fmt_opt(max)
            ),
            "map" => format!(
                "ShapeKind::Map {{ key: {}, value: {} }}",
                index[str_of(&shape["key"], "shape")],
                index[str_of(&shape["value"], "shape")]
            ),
            "string" => {
                let enum_values = shape.get("enum").and_then(Value::as_array).map_or(
                    "None".to_string(),
                    |vals| {
                        format!(
                            "Some(&[{}])",
                            vals.iter()
                                .map(|v| format!("{:?}", v.as_str().unwrap_or_default()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                );
                let pattern = shape
                    .get("pattern")
                    .and_then(Value::as_str)
                    .map_or("None".to_string(), |p| format!("Some({p:?})"));
                format!(
                    "ShapeKind::String {{ min: {}, max: {}, pattern: {pattern}, values: {enum_values} }}",
                    fmt_opt(min),
                    fmt_opt(max)
                )
            }
            "integer" | "long" => {
                format!(
                    "ShapeKind::Integer {{ min: {}, max: {} }}",
                    fmt_opt(min),
                    fmt_opt(max)
                )
            }
            "double" | "float" => {
                format!(
                    "ShapeKind::Double {{ min: {}, max: {} }}",
                    fmt_opt(min),
                    fmt_opt(max)
                )
            }
            "boolean" => "ShapeKind::Boolean".to_string(),
            "timestamp" => "ShapeKind::Timestamp".to_string(),
            "blob" => "ShapeKind::Blob".to_string(),
            other => panic!("unsupported shape type {other} ({name})"),
        };
        let body = if shape.get("document").and_then(Value::as_bool) == Some(true) {
            "ShapeKind::Document".to_string()
        } else {
            body
        };
        let _ = writeln!(out, "    Shape {{ name: {name:?}, kind: {body} }},");
    }
    out.push_str("];\n\n");

    // A registry that round-trips a JSON value through the Rust type of a structure, for tests
    // that prove every member of the model exists in Rust.
    out.push_str("/// Parses `value` as the Rust type generated for structure `shape` and serialises it back.\n");
    out.push_str("///\n/// Returns `None` when `shape` is not a (non-exception) structure of the model. Used by tests that\n/// prove the Rust model holds every member of the API model.\n");
    out.push_str("#[doc(hidden)]\npub fn roundtrip_structure(shape: &str, value: serde_json::Value) -> Option<Result<serde_json::Value, serde_json::Error>> {\n");
    out.push_str("    fn rt<T: serde::de::DeserializeOwned + Serialize>(v: serde_json::Value) -> Result<serde_json::Value, serde_json::Error> {\n        serde_json::to_value(serde_json::from_value::<T>(v)?)\n    }\n");
    out.push_str("    Some(match shape {\n");
    for (name, shape) in &sorted {
        if str_of(shape, "type") == "structure" && !exceptions.contains(name.as_str()) {
            let _ = writeln!(out, "        {name:?} => rt::<{}>(value),", type_name(name));
        }
    }
    out.push_str("        _ => return None,\n    })\n}\n\n");

    out.push_str("/// Whether the Rust enum generated for `shape` knows `value`; `None` when `shape` is not an enum.\n");
    out.push_str("#[doc(hidden)]\npub fn enum_knows(shape: &str, value: &str) -> Option<bool> {\n    Some(match shape {\n");
    for (name, shape) in &sorted {
        if str_of(shape, "type") == "string" && shape.get("enum").is_some() {
            let _ = writeln!(
                out,
                "        {name:?} => {}::from(value).is_known(),",
                type_name(name)
            );
        }
    }
    out.push_str("        _ => return None,\n    })\n}\n");
    out
}

fn rust_type_of(shapes: &Map<String, Value>, shape_name: &str) -> String {
    let shape = &shapes[shape_name];
    match str_of(shape, "type") {
        "structure" => {
            if shape.get("document").and_then(Value::as_bool) == Some(true) {
                "serde_json::Value".to_string()
            } else {
                type_name(shape_name)
            }
        }
        "list" => format!(
            "Vec<{}>",
            rust_type_of(shapes, str_of(&shape["member"], "shape"))
        ),
        "map" => format!(
            "BTreeMap<{}, {}>",
            rust_type_of(shapes, str_of(&shape["key"], "shape")),
            rust_type_of(shapes, str_of(&shape["value"], "shape"))
        ),
        "string" if shape.get("enum").is_some() => type_name(shape_name),
        "string" | "blob" => "String".to_string(),
        "integer" => "i32".to_string(),
        "long" => "i64".to_string(),
        "boolean" => "bool".to_string(),
        "double" | "float" => "f64".to_string(),
        "timestamp" => "Timestamp".to_string(),
        other => panic!("unsupported shape type {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(snake("containerDefinitions"), "container_definitions");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(snake("taskARN"), "task_arn");
        assert_eq!(snake("sizeInGiB"), "size_in_gib");
        assert_eq!(variant_name("json-file"), "JsonFile");
        assert_eq!(
            variant_name("WINDOWS_SERVER_2019_FULL"),
            "WindowsServer2019Full"
        );
        assert_eq!(variant_name("X86_64"), "X8664");
        assert_eq!(variant_name("awsvpc"), "Awsvpc");
    }

    /// The committed generated model must be what the generator makes of the vendored model.
    #[test]
    fn generated_model_is_fresh() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let model = std::fs::read_to_string(root.join(crate::ECS_MODEL)).unwrap();
        let want = generate(&Spec {
            model: &model,
            source_name: crate::ECS_MODEL,
        });
        let have = std::fs::read_to_string(root.join(crate::ECS_OUT)).unwrap();
        assert!(
            have == want,
            "{} is stale: run `cargo xtask codegen`",
            crate::ECS_OUT
        );
    }
}
