//! The revision diff: `berth_core::diff` (normalised), each change labelled with the group a UI
//! shows it under, and on request the raw differences normalisation hides.

use berth_core::diff::{Change, ChangeKind};
use berth_core::json::pointer_token;
use berth_core::model::{READ_ONLY_TASK_DEFINITION_MEMBERS, read_task_definition};
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
struct Diffed {
    changes: Vec<Labelled>,
    unified: String,
}

#[derive(Serialize)]
struct Labelled {
    path: String,
    kind: ChangeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<Value>,
    text: String,
    group: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hidden: Option<&'static str>,
}

impl Labelled {
    fn new(c: Change, hidden: Option<&'static str>) -> Self {
        Labelled {
            text: c.to_string(),
            group: group(&c.path),
            path: c.path,
            kind: c.kind,
            before: c.before,
            after: c.after,
            hidden,
        }
    }
}

/// `diff(before_text, after_text, all)`: see the crate documentation for the JSON shape.
pub fn diff(before_text: &str, after_text: &str, all: bool) -> String {
    let before = match read_task_definition(before_text) {
        Ok(i) => i,
        Err(e) => return crate::error(format!("before: {e}")),
    };
    let after = match read_task_definition(after_text) {
        Ok(i) => i,
        Err(e) => return crate::error(format!("after: {e}")),
    };
    let changes = berth_core::diff::diff(&before.request, &after.request);
    let raw_before: Value = serde_json::from_str(before_text).unwrap_or(Value::Null);
    let raw_after: Value = serde_json::from_str(after_text).unwrap_or(Value::Null);
    let (a, b) = (task_definition(&raw_before), task_definition(&raw_after));
    let unified = berth_core::diff::unified(
        &label(a, "before"),
        &label(b, "after"),
        &before.request,
        &after.request,
    );
    let mut hidden = Vec::new();
    if all {
        let mut raw = Vec::new();
        raw_diff(&mut String::new(), "", a, b, &mut raw);
        for c in raw {
            let shown = changes.iter().any(|n| related(&n.path, &c.path));
            if !shown {
                let top = c.path.split('/').nth(1).unwrap_or_default();
                let why = if READ_ONLY_TASK_DEFINITION_MEMBERS.contains(&top) {
                    "metadata"
                } else {
                    "default"
                };
                hidden.push(Labelled::new(c, Some(why)));
            }
        }
    }
    let mut out: Vec<Labelled> = changes
        .into_iter()
        .map(|c| Labelled::new(c, None))
        .collect();
    out.extend(hidden);
    crate::to_json(&Diffed {
        changes: out,
        unified,
    })
}

/// The task definition inside a document: `taskDefinition` of a describe output, else the
/// document.
fn task_definition(doc: &Value) -> &Value {
    match doc.get("taskDefinition") {
        Some(td) if td.is_object() => td,
        _ => doc,
    }
}

/// `family:revision` when the document says both, else `fallback`.
fn label(td: &Value, fallback: &str) -> String {
    match (
        td.get("family").and_then(Value::as_str),
        td.get("revision").and_then(Value::as_u64),
    ) {
        (Some(f), Some(r)) => format!("{f}:{r}"),
        _ => fallback.to_string(),
    }
}

/// Whether one pointer is the other or an ancestor of it.
fn related(a: &str, b: &str) -> bool {
    let under =
        |x: &str, y: &str| x.len() > y.len() && x.starts_with(y) && x[y.len()..].starts_with('/');
    a == b || under(a, b) || under(b, a)
}

/// The group a change is shown under: `image`, `environment`, `secrets`, `ports`, `resources`,
/// `metadata` (read-only members) or `other`.
pub(crate) fn group(path: &str) -> &'static str {
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let Some(&top) = segs.first() else {
        return "other";
    };
    if READ_ONLY_TASK_DEFINITION_MEMBERS.contains(&top) {
        return "metadata";
    }
    match top {
        "cpu" | "memory" | "ephemeralStorage" | "inferenceAccelerators" => "resources",
        "containerDefinitions" => match (segs.get(2).copied(), segs.get(3).copied()) {
            (Some("image" | "repositoryCredentials"), _) => "image",
            (Some("environment" | "environmentFiles"), _) => "environment",
            (Some("secrets"), _) | (Some("logConfiguration"), Some("secretOptions")) => "secrets",
            (Some("portMappings"), _) => "ports",
            (Some("cpu" | "memory" | "memoryReservation" | "resourceRequirements"), _) => {
                "resources"
            }
            _ => "other",
        },
        _ => "other",
    }
}

/// The member that names the elements of a list, by the list's member name (as in
/// `berth_core::diff`'s table), when every element has a distinct one.
fn list_key(name: &str) -> Option<&'static str> {
    Some(match name {
        "containerDefinitions"
        | "volumes"
        | "environment"
        | "secrets"
        | "secretOptions"
        | "ulimits"
        | "properties" => "name",
        "tags" => "key",
        "portMappings" => "containerPort",
        "mountPoints" | "tmpfs" => "containerPath",
        "volumesFrom" => "sourceContainer",
        "dependsOn" => "containerName",
        "systemControls" => "namespace",
        "resourceRequirements" => "type",
        "inferenceAccelerators" => "deviceName",
        _ => return None,
    })
}

fn keyed<'v>(items: &'v [Value], key: &str) -> Option<Vec<(String, &'v Value)>> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let k = match item.get(key)? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        if out.iter().any(|(o, _)| *o == k) {
            return None;
        }
        out.push((k, item));
    }
    Some(out)
}

fn push(out: &mut Vec<Change>, path: &str, kind: ChangeKind, a: Option<&Value>, b: Option<&Value>) {
    out.push(Change {
        path: path.to_string(),
        kind,
        before: a.cloned(),
        after: b.cloned(),
    });
}

/// A plain JSON diff by path: objects member by member, lists named by their key member where
/// they have one (see [`list_key`]), other lists whole.
fn raw_diff(path: &mut String, name: &str, a: &Value, b: &Value, out: &mut Vec<Change>) {
    if a == b {
        return;
    }
    let len = path.len();
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                path.push('/');
                path.push_str(&pointer_token(k));
                match y.get(k) {
                    Some(vb) => raw_diff(path, k, va, vb, out),
                    None => push(out, path, ChangeKind::Removed, Some(va), None),
                }
                path.truncate(len);
            }
            for (k, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                path.push('/');
                path.push_str(&pointer_token(k));
                push(out, path, ChangeKind::Added, None, Some(vb));
                path.truncate(len);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            let pairs = list_key(name).and_then(|k| Some((keyed(x, k)?, keyed(y, k)?)));
            match pairs {
                Some((kx, ky)) => {
                    for (k, va) in &kx {
                        path.push('/');
                        path.push_str(&pointer_token(k));
                        match ky.iter().find(|(o, _)| o == k) {
                            Some((_, vb)) => raw_diff(path, "", va, vb, out),
                            None => push(out, path, ChangeKind::Removed, Some(va), None),
                        }
                        path.truncate(len);
                    }
                    for (k, vb) in ky.iter().filter(|(k, _)| !kx.iter().any(|(o, _)| o == k)) {
                        path.push('/');
                        path.push_str(&pointer_token(k));
                        push(out, path, ChangeKind::Added, None, Some(vb));
                        path.truncate(len);
                    }
                }
                None => push(out, path, ChangeKind::Modified, Some(a), Some(b)),
            }
        }
        _ => push(out, path, ChangeKind::Modified, Some(a), Some(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &str, b: &str, all: bool) -> Value {
        serde_json::from_str(&diff(a, b, all)).unwrap()
    }

    const DESCRIBED: &str = r#"{"taskDefinition": {"taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/web:3",
        "family": "web", "revision": 3, "status": "ACTIVE", "registeredAt": "2026-01-01T00:00:00Z",
        "compatibilities": ["EC2"], "requiresAttributes": [], "networkMode": "bridge",
        "containerDefinitions": [{"name": "app", "image": "nginx:1.26", "cpu": 0, "essential": true,
          "memory": 256, "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
          "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
          "secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db"}],
          "mountPoints": [], "volumesFrom": []}]}}"#;

    const EDITED: &str = r#"{"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.27",
        "memory": 512, "portMappings": [{"containerPort": 80}, {"containerPort": 443}],
        "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}],
        "secrets": [{"name": "DB2", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db"}]}]}"#;

    #[test]
    fn changes_are_grouped_and_match_the_core() {
        let out = run(DESCRIBED, EDITED, false);
        let changes = out["changes"].as_array().unwrap();
        let a = read_task_definition(DESCRIBED).unwrap();
        let b = read_task_definition(EDITED).unwrap();
        let core = berth_core::diff::diff(&a.request, &b.request);
        assert_eq!(changes.len(), core.len());
        for (c, k) in changes.iter().zip(&core) {
            assert_eq!(c["path"], k.path.as_str());
            assert_eq!(c["text"], k.to_string());
            assert!(c.get("hidden").is_none());
        }
        let group_of = |p: &str| {
            changes
                .iter()
                .find(|c| c["path"] == p)
                .unwrap_or_else(|| panic!("no change at {p}: {out}"))["group"]
                .clone()
        };
        assert_eq!(group_of("/containerDefinitions/app/image"), "image");
        assert_eq!(group_of("/containerDefinitions/app/memory"), "resources");
        assert_eq!(
            group_of("/containerDefinitions/app/environment/B/value"),
            "environment"
        );
        assert_eq!(group_of("/containerDefinitions/app/secrets/DB"), "secrets");
        assert_eq!(
            group_of("/containerDefinitions/app/portMappings/443"),
            "ports"
        );
        assert!(
            out["unified"]
                .as_str()
                .unwrap()
                .starts_with("--- web:3\n+++ after\n")
        );
    }

    #[test]
    fn all_shows_what_normalisation_hides() {
        let out = run(DESCRIBED, EDITED, true);
        let changes = out["changes"].as_array().unwrap();
        let hidden: Vec<(&str, &str)> = changes
            .iter()
            .filter_map(|c| Some((c["path"].as_str()?, c["hidden"].as_str()?)))
            .collect();
        for p in [
            "/revision",
            "/taskDefinitionArn",
            "/status",
            "/registeredAt",
            "/compatibilities",
        ] {
            assert!(hidden.contains(&(p, "metadata")), "{p} in {hidden:?}");
        }
        assert!(
            hidden.contains(&("/containerDefinitions/app/essential", "default")),
            "{hidden:?}"
        );
        // A real change is reported once, by the normalised diff, not again as a hidden one.
        assert!(
            !hidden
                .iter()
                .any(|(p, _)| p.contains("image") || p.contains("/environment/B"))
        );
        let revision = changes.iter().find(|c| c["path"] == "/revision").unwrap();
        assert_eq!(revision["group"], "metadata");
        assert_eq!(revision["kind"], "removed");
    }

    #[test]
    fn identical_meaning_is_no_change() {
        let out = run(DESCRIBED, DESCRIBED, true);
        assert_eq!(out["changes"], serde_json::json!([]));
        assert_eq!(out["unified"], "");
    }

    #[test]
    fn unreadable_input_is_an_error() {
        let out = run("{", EDITED, false);
        assert!(
            out["error"].as_str().unwrap().starts_with("before: "),
            "{out}"
        );
        let out = run(EDITED, r#"{"family": 3}"#, true);
        assert!(
            out["error"].as_str().unwrap().starts_with("after: "),
            "{out}"
        );
    }
}
