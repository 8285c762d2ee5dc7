//! Validation of task definitions that agrees with ECS.
//!
//! [`validate_task_definition`] reads a document in any form people keep task definitions in
//! (see [`crate::model::InputForm`]) and reports **every** finding, not the first:
//!
//! 1. a walk against the API model's shapes ([`crate::model::schema`]): JSON types, required
//!    members, enum values, lengths, ranges, patterns, and unknown members with a "did you mean";
//! 2. the rules ECS applies on `RegisterTaskDefinition` that the model cannot express (the
//!    Fargate cpu/memory table, network-mode and port rules, links, `dependsOn`, volumes, secrets
//!    and the execution role, log drivers, health checks, memory and cpu totals, 10 containers,
//!    64 KiB, …), checked for every launch type in `requiresCompatibilities`;
//! 3. warnings for what ECS accepts but is very likely a mistake (`:latest` images, secrets in
//!    `environment`, no health check, no logs, no memory limit at all).
//!
//! Errors carry ECS's exact message where it is known (`docs/ecs-semantics.md` §1.12); where ECS's
//! text is not known the message is ours and says so in the rule catalogue ([`RULES`]).
//!
//! The validator also computes `compatibilities` the way ECS does. It does no IO and never
//! panics on any input; it runs in the browser (wasm32) as well as natively.
//!
//! The inputs that *use* a task definition are validated the same way, with the same
//! [`Diagnostic`]s: [`validate_service`] for `CreateService` / `UpdateService` inputs (ecspresso's
//! service definitions and `describe-services` output included) and [`validate_run_task`] for
//! `RunTask` inputs, optionally against the task definition they run ([`ServiceOptions`],
//! [`RunTaskOptions`]). [`detect_kind`] tells the three kinds apart by their members. Their rules
//! are catalogued in [`REQUEST_RULES`].

mod diagnostic;
mod kind;
mod request_rules;
mod rules;
mod run_task;
mod schema_walk;
mod service;

pub use diagnostic::{Diagnostic, Severity, Span};
pub use kind::{InputKind, RequestForm, detect_kind};
pub use request_rules::{ReferenceFault, reference_fault};
pub use run_task::{RunTaskOptions, validate_run_task};
pub use service::{ServiceOptions, validate_service};

use crate::json::{self, Node};
use crate::model::schema::{self, Shape, ShapeKind};
use crate::model::{Compatibility, InputForm, RegisterTaskDefinitionRequest, Tag, TaskDefinition};

/// What to validate against, beyond what the document says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Launch types to check in addition to the document's `requiresCompatibilities` (as
    /// `berth validate --launch-type FARGATE` does). When both are empty, ECS checks EC2 only.
    pub launch_types: Vec<Compatibility>,
}

/// The result of validating one document.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// Every finding, in document order.
    pub diagnostics: Vec<Diagnostic>,
    /// The form the document was in; `None` when it is not JSON or not an object.
    pub form: Option<InputForm>,
    /// The launch types ECS would list in `compatibilities` (empty when ECS would reject it).
    pub compatibilities: Vec<Compatibility>,
    /// Whether the text is not JSON at all (the CLI exits 2 for this).
    pub syntax_error: bool,
    /// The registration request the document amounts to (normalised), when it could be read.
    #[serde(skip)]
    pub request: Option<RegisterTaskDefinitionRequest>,
    /// What the document is: a task definition, a service, or a `RunTask` input.
    pub kind: InputKind,
    /// The form of a service or `RunTask` document; `None` for task definitions (see `form`).
    pub request_form: Option<RequestForm>,
}

impl Report {
    /// Whether ECS would reject the document.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// The findings of one severity.
    pub fn with_severity(&self, severity: Severity) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(move |d| d.severity == severity)
    }

    /// The task definition as ECS would store it, for checking a service or `RunTask` input
    /// against it ([`ServiceOptions::task_definition`]): the registration request with the
    /// `compatibilities` computed here. `compatibilities` is left out (unknown) when ECS would
    /// reject the task definition. `None` when the document could not be read as one.
    ///
    /// ```
    /// use berth_core::validate::{validate_task_definition, Options};
    /// let td = validate_task_definition(
    ///     r#"{"family": "web", "networkMode": "awsvpc",
    ///         "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "memory": 256}]}"#,
    ///     &Options::default(),
    /// );
    /// let td = td.task_definition().unwrap();
    /// assert_eq!(td.container_definitions.unwrap()[0].name.as_deref(), Some("app"));
    /// assert_eq!(td.compatibilities.unwrap()[0].as_str(), "EC2");
    /// ```
    pub fn task_definition(&self) -> Option<TaskDefinition> {
        let request = self.request.as_ref()?;
        // The two shapes share their member names; the request's tags are not stored.
        let mut td: TaskDefinition = serde_json::to_value(request)
            .and_then(serde_json::from_value)
            .ok()?;
        td.compatibilities = (!self.has_errors()).then(|| self.compatibilities.clone());
        Some(td)
    }
}

/// A finding before it is placed in the source text.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    /// JSON pointer relative to the task definition.
    pub path: String,
    pub message: String,
    pub help: Option<String>,
    /// Underline the member's name rather than its value (unknown members).
    pub on_key: bool,
}

/// Validates a task definition given as JSON text.
///
/// Accepts a `RegisterTaskDefinition` request, a `TaskDefinition` with read-only members, or
/// `aws ecs describe-task-definition` output. Never fails: a text that is not JSON gives a report
/// with one `json-syntax` error at the offending position and `syntax_error` set.
///
/// # Example
///
/// ```
/// use berth_core::validate::{validate_task_definition, Options, Severity};
/// let text = r#"{
///   "family": "web",
///   "requiresCompatibilities": ["FARGATE"],
///   "networkMode": "bridge",
///   "cpu": "256", "memory": "512",
///   "containerDefinitions": [{"name": "app", "image": "nginx:1.27"}]
/// }"#;
/// let report = validate_task_definition(text, &Options::default());
/// let error = report.with_severity(Severity::Error).next().unwrap();
/// assert_eq!(error.message, "Fargate only supports network mode ‘awsvpc’.");
/// assert_eq!(error.path, "/networkMode");
/// assert_eq!(error.span.unwrap().line, 4);
/// ```
pub fn validate_task_definition(text: &str, options: &Options) -> Report {
    let doc = match json::parse(text) {
        Ok(doc) => doc,
        Err(e) => return syntax_report(text, &e, InputKind::TaskDefinition),
    };
    let mut findings = Vec::new();
    let Some(root_entries) = doc.as_object() else {
        findings.push(Finding {
            code: "type",
            severity: Severity::Error,
            path: String::new(),
            message: format!(
                "A task definition must be a JSON object, found {}.",
                doc.type_name()
            ),
            help: None,
            on_key: false,
        });
        return finish(text, &doc, "", findings, None, Vec::new());
    };
    let form = InputForm::detect(|m| doc.get(m).is_some());
    let request_shape = schema::shape("RegisterTaskDefinitionRequest").expect("generated model");
    let read_only_shape = schema::shape("TaskDefinition").expect("generated model");
    let root_pointer = form.root_pointer();

    let mut walker = schema_walk::Walker {
        findings: &mut findings,
    };
    let td_node = match form {
        InputForm::DescribeOutput => {
            let tags_shape = schema::shape("Tags").expect("generated model");
            let mut path = String::new();
            for e in root_entries {
                path.clear();
                path.push('/');
                path.push_str(&json::pointer_token(&e.key));
                match e.key.as_ref() {
                    "taskDefinition" => {}
                    "tags" => walker.walk(&e.value, tags_shape, &mut path),
                    _ => walker.findings.push(Finding {
                        code: "unknown-member",
                        severity: Severity::Warning,
                        path: path.clone(),
                        message: format!("Unknown member '{}' beside 'taskDefinition'.", e.key),
                        help: Some(
                            "describe-task-definition output has only 'taskDefinition' and 'tags'."
                                .into(),
                        ),
                        on_key: true,
                    }),
                }
            }
            doc.get("taskDefinition").unwrap_or(&doc)
        }
        _ => &doc,
    };
    let mut path = root_pointer.to_string();
    walk_root(
        &mut walker,
        td_node,
        request_shape,
        read_only_shape,
        &mut path,
    );
    let type_errors = findings.iter().any(|f| matches!(f.code, "type" | "range"));

    // Rules that work on an absolute pointer must know where the task definition starts.
    let mut rule_findings = Vec::new();
    let request = typed_request(
        text,
        &doc,
        td_node,
        form,
        type_errors,
        request_shape,
        read_only_shape,
    );
    let compatibilities = match &request {
        Some(req) => rules::check(req, text, options, td_node, &mut rule_findings),
        None => Vec::new(),
    };
    // The describe output's own `tags` (beside `taskDefinition`) become the request's tags.
    let wrapper_tags = form == InputForm::DescribeOutput
        && doc
            .get("tags")
            .and_then(Node::as_array)
            .is_some_and(|t| !t.is_empty());
    for mut f in rule_findings {
        if !(wrapper_tags && (f.path == "/tags" || f.path.starts_with("/tags/"))) {
            f.path.insert_str(0, root_pointer);
        }
        findings.push(f);
    }
    // Where ECS has its own text for a value outside the model's enumeration (a task definition's
    // `distinctInstance` constraint), that text replaces the generic enum finding.
    let explained: std::collections::BTreeSet<String> = findings
        .iter()
        .filter(|f| f.code == "placement-constraint-type")
        .map(|f| f.path.clone())
        .collect();
    findings.retain(|f| !(f.code == "enum" && explained.contains(&f.path)));
    let compatibilities = if findings.iter().any(|f| f.severity == Severity::Error) {
        Vec::new()
    } else {
        compatibilities
    };
    finish(text, &doc, root_pointer, findings, request, compatibilities)
}

fn walk_root(
    walker: &mut schema_walk::Walker<'_>,
    node: &Node<'_>,
    request_shape: &'static Shape,
    read_only_shape: &'static Shape,
    path: &mut String,
) {
    // Read-only members (revision, status, …) are accepted at the top level and checked
    // against the TaskDefinition shape; everything else against the registration request.
    match (&node.value, node.as_object()) {
        (_, Some(entries)) => walker.structure(entries, request_shape, Some(read_only_shape), path),
        // `{"taskDefinition": null}` has no task definition at all; null is not "absent" here.
        (json::Value::Null, _) => walker.findings.push(Finding {
            code: "type",
            severity: Severity::Error,
            path: path.clone(),
            message: format!(
                "'{}' must be an object, found null.",
                schema_walk::last_token(path)
            ),
            help: None,
            on_key: false,
        }),
        _ => walker.walk(node, request_shape, path),
    }
}

/// The typed request: straight from the text when every member has the right JSON type, else
/// from the parsed tree with ill-typed values left out (so the rules still see the rest).
fn typed_request(
    text: &str,
    doc: &Node<'_>,
    td_node: &Node<'_>,
    form: InputForm,
    type_errors: bool,
    request_shape: &'static Shape,
    read_only_shape: &'static Shape,
) -> Option<RegisterTaskDefinitionRequest> {
    #[derive(serde::Deserialize)]
    struct Describe {
        #[serde(rename = "taskDefinition")]
        task_definition: RegisterTaskDefinitionRequest,
        #[serde(default)]
        tags: Option<Vec<Tag>>,
    }
    let fast = if type_errors {
        None
    } else if form == InputForm::DescribeOutput {
        serde_json::from_str::<Describe>(text).ok().map(|d| {
            let mut r = d.task_definition;
            if d.tags.as_ref().is_some_and(|t| !t.is_empty()) || r.tags.is_none() {
                r.tags = d.tags.or(r.tags);
            }
            r
        })
    } else {
        serde_json::from_str::<RegisterTaskDefinitionRequest>(text).ok()
    };
    let mut request = match fast {
        Some(r) => r,
        None => {
            let value = guided(td_node, request_shape, Some(read_only_shape))?;
            let mut r: RegisterTaskDefinitionRequest = serde_json::from_value(value).ok()?;
            if form == InputForm::DescribeOutput {
                if let Some(tags) = doc
                    .get("tags")
                    .and_then(|t| guided(t, schema::shape("Tags")?, None))
                {
                    if let Ok(tags) = serde_json::from_value::<Vec<Tag>>(tags) {
                        if !tags.is_empty() || r.tags.is_none() {
                            r.tags = Some(tags);
                        }
                    }
                }
            }
            r
        }
    };
    crate::model::normalise_units_in(&mut request);
    Some(request)
}

/// Converts a node to JSON the typed model accepts, leaving out values of the wrong type
/// (in lists they become the element type's empty value, so indices still match the source).
fn guided(
    node: &Node<'_>,
    shape: &'static Shape,
    root_extra: Option<&'static Shape>,
) -> Option<serde_json::Value> {
    use json::Value as J;
    use serde_json::Value as S;
    match (&node.value, shape.kind) {
        (J::Null, _) => None,
        (J::Object(entries), ShapeKind::Structure { .. }) => {
            let mut map = serde_json::Map::new();
            for e in entries {
                let member = shape
                    .member(&e.key)
                    .or_else(|| root_extra.and_then(|x| x.member(&e.key)));
                if let Some(m) = member {
                    if shape.member(&e.key).is_none() {
                        continue; // read-only members are not part of the request
                    }
                    if let Some(v) = guided(&e.value, schema::by_index(m.shape), None) {
                        map.insert(e.key.to_string(), v);
                    }
                }
            }
            Some(S::Object(map))
        }
        (J::Array(items), ShapeKind::List { member, .. }) => {
            let element = schema::by_index(member);
            Some(S::Array(
                items
                    .iter()
                    .map(|i| guided(i, element, None).unwrap_or_else(|| empty_value(element)))
                    .collect(),
            ))
        }
        (J::Object(entries), ShapeKind::Map { value, .. }) => {
            let vs = schema::by_index(value);
            Some(S::Object(
                entries
                    .iter()
                    .filter_map(|e| guided(&e.value, vs, None).map(|v| (e.key.to_string(), v)))
                    .collect(),
            ))
        }
        (J::String(s), ShapeKind::String { .. } | ShapeKind::Blob) => {
            Some(S::String(s.to_string()))
        }
        (J::Number(n), ShapeKind::Integer { .. }) => {
            let v = n.parse::<i64>().ok()?;
            if shape.name != "Long" && i32::try_from(v).is_err() {
                return None;
            }
            Some(S::from(v))
        }
        (J::Number(n), ShapeKind::Double { .. }) => serde_json::from_str(n).ok(),
        (J::Bool(b), ShapeKind::Boolean) => Some(S::Bool(*b)),
        (J::Number(_) | J::String(_), ShapeKind::Timestamp) => Some(node.to_serde()),
        (_, ShapeKind::Document) => Some(node.to_serde()),
        _ => None,
    }
}

fn empty_value(shape: &Shape) -> serde_json::Value {
    use serde_json::Value as S;
    match shape.kind {
        ShapeKind::Structure { .. } | ShapeKind::Map { .. } => S::Object(serde_json::Map::new()),
        ShapeKind::List { .. } => S::Array(Vec::new()),
        ShapeKind::String { .. } | ShapeKind::Blob | ShapeKind::Timestamp => {
            S::String(String::new())
        }
        ShapeKind::Integer { .. } | ShapeKind::Double { .. } => S::from(0),
        ShapeKind::Boolean => S::Bool(false),
        ShapeKind::Document => S::Null,
    }
}

fn finish(
    text: &str,
    doc: &Node<'_>,
    root_pointer: &str,
    findings: Vec<Finding>,
    request: Option<RegisterTaskDefinitionRequest>,
    compatibilities: Vec<Compatibility>,
) -> Report {
    let form = if doc.as_object().is_some() {
        Some(InputForm::detect(|m| doc.get(m).is_some()))
    } else {
        None
    };
    let _ = root_pointer;
    let diagnostics = place(text, doc, findings);
    Report {
        diagnostics,
        form,
        compatibilities,
        syntax_error: false,
        request,
        kind: InputKind::TaskDefinition,
        request_form: None,
    }
}

/// The source range a finding is about: the value at `path` (or its member name), else the
/// opening of the nearest enclosing value that exists (for missing members).
fn locate(text: &str, doc: &Node<'_>, path: &str, on_key: bool) -> Span {
    let (node, complete) = doc.resolve(path);
    let (start, end) = if complete && on_key {
        // Find the entry in the parent whose value is this node.
        let parent_path = &path[..path.rfind('/').unwrap_or(0)];
        let (parent, _) = doc.resolve(parent_path);
        parent
            .as_object()
            .and_then(|es| es.iter().rev().find(|e| std::ptr::eq(&e.value, node)))
            .map_or((node.range.start, node.range.end), |e| {
                (e.key_range.start, e.key_range.end)
            })
    } else if complete {
        // A whole container (or other object) is best shown by its name; a multi-line value by
        // its opening bracket, so the underline stays on one line.
        match node.get("name").filter(|n| n.as_str().is_some()) {
            Some(name) if node.as_object().is_some() => (name.range.start, name.range.end),
            _ if text[node.range.start..node.range.end].contains('\n') => {
                (node.range.start, node.range.start + 1)
            }
            _ => (node.range.start, node.range.end),
        }
    } else {
        (node.range.start, (node.range.start + 1).min(node.range.end))
    };
    let (line, column) = json::line_column(text, start);
    Span {
        start,
        end,
        line,
        column,
    }
}

/// The report of a text that is not JSON: one `json-syntax` error at the offending character.
pub(crate) fn syntax_report(text: &str, e: &json::SyntaxError, kind: InputKind) -> Report {
    // Underline the whole character at the offset, never half of a multi-byte one.
    let mut start = e.offset.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let end = text[start..]
        .chars()
        .next()
        .map_or(start, |c| start + c.len_utf8());
    let (line, column) = json::line_column(text, start);
    Report {
        diagnostics: vec![Diagnostic {
            code: "json-syntax",
            severity: Severity::Error,
            path: String::new(),
            message: format!(
                "Not valid JSON: {} (line {line}, column {column}).",
                e.message
            ),
            help: None,
            span: Some(Span {
                start,
                end,
                line,
                column,
            }),
        }],
        form: None,
        compatibilities: Vec::new(),
        syntax_error: true,
        request: None,
        kind,
        request_form: None,
    }
}

/// Places findings in the source text, in document order.
pub(crate) fn place(text: &str, doc: &Node<'_>, findings: Vec<Finding>) -> Vec<Diagnostic> {
    let mut diagnostics: Vec<Diagnostic> = findings
        .into_iter()
        .map(|f| {
            let span = locate(text, doc, &f.path, f.on_key);
            Diagnostic {
                code: f.code,
                severity: f.severity,
                path: f.path,
                message: f.message,
                help: f.help,
                span: Some(span),
            }
        })
        .collect();
    diagnostics.sort_by_key(|d| d.span.map_or(0, |s| s.start));
    diagnostics
}

/// Every rule the task-definition validator applies: (code, description). Descriptions starting
/// with `ECS` quote ECS's own message; the others' messages are ours.
pub const RULES: &[(&str, &str)] = rules::CATALOGUE;

/// The rules of [`validate_service`] and [`validate_run_task`] beyond the shape rules they share
/// with task definitions (`type`, `enum`, `required`, … in [`RULES`]), in the same form.
pub const REQUEST_RULES: &[(&str, &str)] = request_rules::CATALOGUE;

/// Every rule of every validator: [`RULES`] then [`REQUEST_RULES`] (codes are unique across both).
pub fn all_rules() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    RULES.iter().chain(REQUEST_RULES)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod request_tests;
