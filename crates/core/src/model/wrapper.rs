//! Reading a task definition in the forms people keep it in, and normalising it to the
//! `RegisterTaskDefinition` request that `aws ecs register-task-definition --cli-input-json` takes.

use super::{RegisterTaskDefinitionRequest, Tag, parse_cpu_units, parse_memory_mib};
use serde::Deserialize;

/// Members of `TaskDefinition` that ECS computes and a registration request must not carry.
pub const READ_ONLY_TASK_DEFINITION_MEMBERS: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
];

/// The shape a task-definition document arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputForm {
    /// A `RegisterTaskDefinition` request, as `--cli-input-json` takes it.
    RegisterRequest,
    /// A bare `TaskDefinition` as ECS returns it, with read-only members.
    TaskDefinition,
    /// The output of `aws ecs describe-task-definition`: `{"taskDefinition": {...}, "tags": [...]}`.
    DescribeOutput,
}

impl InputForm {
    /// Recognises the form of a parsed document from its top-level members.
    pub fn detect(has_member: impl Fn(&str) -> bool) -> Self {
        if has_member("taskDefinition") {
            Self::DescribeOutput
        } else if READ_ONLY_TASK_DEFINITION_MEMBERS
            .iter()
            .any(|m| has_member(m))
        {
            Self::TaskDefinition
        } else {
            Self::RegisterRequest
        }
    }

    /// The JSON pointer of the task definition inside the document.
    pub fn root_pointer(self) -> &'static str {
        match self {
            Self::DescribeOutput => "/taskDefinition",
            _ => "",
        }
    }
}

/// A task-definition document read into the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The form it arrived in.
    pub form: InputForm,
    /// The registration request it amounts to, normalised (read-only members dropped, tags of a
    /// describe output moved in, cpu/memory unit strings converted to numbers).
    pub request: RegisterTaskDefinitionRequest,
}

/// Why a document could not be read as a task definition.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The text is not JSON, or a member has the wrong JSON type for the model.
    #[error("not a task definition: {0}")]
    Json(#[from] serde_json::Error),
    /// The document is JSON but not an object.
    #[error("not a task definition: expected a JSON object, found {0}")]
    NotAnObject(&'static str),
}

#[derive(Deserialize)]
struct DescribeOutput {
    #[serde(rename = "taskDefinition")]
    task_definition: RegisterTaskDefinitionRequest,
    #[serde(default)]
    tags: Option<Vec<Tag>>,
}

/// Reads a task definition in any of the [`InputForm`]s and normalises it.
///
/// Normalisation is what ecspresso and the console's "create new revision" do: read-only members
/// are dropped, the describe output's `tags` become the request's `tags`, explicit `null`s are
/// treated as absent, and `cpu`/`memory` unit strings (`"0.25 vCPU"`, `"2 GB"`) become the
/// integer strings ECS stores. Values are not otherwise checked: use [`crate::validate`] for that.
///
/// # Errors
///
/// [`ReadError::Json`] when the text is not JSON or a member has a JSON type the model does not
/// allow (such as a string `containerPort`); [`ReadError::NotAnObject`] when the document (or
/// its `taskDefinition`) is not a JSON object.
///
/// # Example
///
/// ```
/// let text = r#"{"taskDefinition": {"family": "web", "revision": 3, "cpu": "0.5 vCPU",
///   "containerDefinitions": [{"name": "app", "image": "nginx:1.27"}]},
///   "tags": [{"key": "team", "value": "edge"}]}"#;
/// let input = berth_core::model::read_task_definition(text).unwrap();
/// assert_eq!(input.form, berth_core::model::InputForm::DescribeOutput);
/// assert_eq!(input.request.cpu.as_deref(), Some("512"));
/// assert_eq!(input.request.tags.unwrap()[0].key.as_deref(), Some("team"));
/// ```
pub fn read_task_definition(text: &str) -> Result<Input, ReadError> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    if !value.is_object() {
        return Err(ReadError::NotAnObject(json_type(&value)));
    }
    if let Some(inner) = value.get("taskDefinition") {
        if !inner.is_object() {
            return Err(ReadError::NotAnObject(json_type(inner)));
        }
    }
    let form = InputForm::detect(|m| value.get(m).is_some());
    let mut request = match form {
        InputForm::DescribeOutput => {
            let out: DescribeOutput = serde_json::from_value(value)?;
            let mut request = out.task_definition;
            if out.tags.as_ref().is_some_and(|t| !t.is_empty()) || request.tags.is_none() {
                request.tags = out.tags.or(request.tags);
            }
            request
        }
        _ => serde_json::from_value(value)?,
    };
    normalise_units(&mut request);
    Ok(Input { form, request })
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Converts unit strings in task-level cpu/memory to the integer strings ECS stores; leaves
/// values it cannot read as they are (the validator reports them).
pub(crate) fn normalise_units(request: &mut RegisterTaskDefinitionRequest) {
    if let Some(cpu) = &request.cpu {
        if let Ok(units) = parse_cpu_units(cpu) {
            request.cpu = Some(units.to_string());
        }
    }
    if let Some(memory) = &request.memory {
        if let Ok(mib) = parse_memory_mib(memory) {
            request.memory = Some(mib.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_detected() {
        let plain = read_task_definition(r#"{"family":"a","containerDefinitions":[]}"#).unwrap();
        assert_eq!(plain.form, InputForm::RegisterRequest);
        let bare = read_task_definition(r#"{"family":"a","revision":2,"status":"ACTIVE","compatibilities":["EC2"],"containerDefinitions":[]}"#).unwrap();
        assert_eq!(bare.form, InputForm::TaskDefinition);
        let json = serde_json::to_value(&bare.request).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"family":"a","containerDefinitions":[]})
        );
    }

    #[test]
    fn console_nulls_are_absent() {
        let input = read_task_definition(r#"{"family":"a","pidMode":null,"ipcMode":null,"containerDefinitions":[{"name":"x","image":"y","cpu":null}]}"#).unwrap();
        assert_eq!(input.request.pid_mode, None);
        let json = serde_json::to_value(&input.request).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"family":"a","containerDefinitions":[{"name":"x","image":"y"}]})
        );
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        assert!(read_task_definition(r#"{"family": 3}"#).is_err());
        assert!(read_task_definition("[]").is_err());
        assert!(read_task_definition("{").is_err());
    }
}
