//! Validation of `RunTask` inputs (`aws ecs run-task --cli-input-json`, or what a CI step
//! sends): the model's `RunTaskRequest` shape, the rules `RunTask` shares with services
//! ([`super::request_rules`]: launch type, network configuration, placement, …), and its own —
//! `count`, `startedBy`, `group`, and `overrides`, whose container overrides must name
//! containers of the task definition when one is given in [`RunTaskOptions`].
//!
//! What it does not do: resolve the task definition reference or check that the cluster has
//! room; placement against a cluster is [`crate::placement`]'s job.

use super::kind::{InputKind, RequestForm};
use super::request_rules::{self, Common, Out};
use super::rules::is_template;
use super::schema_walk::Walker;
use super::{Finding, Report, Severity, guided, place, syntax_report};
use crate::json;
use crate::model::schema;
use crate::model::{RunTaskRequest, TaskDefinition, TaskOverride};
use std::collections::BTreeSet;

/// What a `RunTask` input is checked against, beyond the document itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunTaskOptions<'a> {
    /// The task definition the input runs (a file's [`Report::task_definition`], or what a
    /// cluster stores): container overrides, the network configuration and the launch type are
    /// checked against it.
    pub task_definition: Option<&'a TaskDefinition>,
}

/// Validates a `RunTask` input given as JSON text. Never fails: a text that is not JSON gives
/// one `json-syntax` error with `syntax_error` set.
///
/// # Example
///
/// ```
/// use berth_core::validate::{validate_run_task, RunTaskOptions, Severity};
/// let report = validate_run_task(
///     r#"{"taskDefinition": "migrate:4", "count": 20, "launchType": "FARGATE",
///         "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}"#,
///     &RunTaskOptions::default(),
/// );
/// let error = report.with_severity(Severity::Error).next().unwrap();
/// assert_eq!(error.message, "count must be between 1 and 10.");
/// assert_eq!(error.path, "/count");
/// ```
pub fn validate_run_task(text: &str, options: &RunTaskOptions<'_>) -> Report {
    let doc = match json::parse(text) {
        Ok(doc) => doc,
        Err(e) => return syntax_report(text, &e, InputKind::RunTask),
    };
    let mut findings = Vec::new();
    let form = match doc.as_object() {
        None => {
            findings.push(Finding {
                code: "type",
                severity: Severity::Error,
                path: String::new(),
                message: format!(
                    "A RunTask input must be a JSON object, found {}.",
                    doc.type_name()
                ),
                help: None,
                on_key: false,
            });
            None
        }
        Some(entries) => {
            let shape = schema::shape("RunTaskRequest").expect("generated model");
            let mut path = String::new();
            Walker {
                findings: &mut findings,
            }
            .structure(entries, shape, None, &mut path);
            let request: RunTaskRequest = guided(&doc, shape, None)
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
            let mut out = Out::default();
            rules(&request, options.task_definition, &mut out);
            findings.append(&mut out.findings);
            Some(RequestForm::RunTask)
        }
    };
    Report {
        diagnostics: place(text, &doc, findings),
        form: None,
        compatibilities: Vec::new(),
        syntax_error: false,
        request: None,
        kind: InputKind::RunTask,
        request_form: form,
    }
}

/// The `RunTask` rules, with pointers relative to the request. The texts of `count`,
/// `startedBy` and overrides are the embedded cluster's.
fn rules(req: &RunTaskRequest, td: Option<&TaskDefinition>, out: &mut Out) {
    let common = Common {
        cluster: req.cluster.as_deref(),
        task_definition: req.task_definition.as_deref(),
        launch_type: req.launch_type.as_ref(),
        capacity_provider_strategy: req.capacity_provider_strategy.as_deref(),
        network_configuration: req.network_configuration.as_ref(),
        placement_constraints: req.placement_constraints.as_deref(),
        placement_strategy: req.placement_strategy.as_deref(),
        platform_version: req.platform_version.as_deref(),
        tags: req.tags.as_deref(),
        update: false,
    };
    request_rules::check(&common, td, out);
    if let Some(count) = req.count {
        if !(1..=10).contains(&count) {
            out.error_help(
                "run-task-count",
                "/count",
                "count must be between 1 and 10.",
                "RunTask starts at most 10 tasks per call; call it again, or run a service.",
            );
        }
    }
    if let Some(s) = req.started_by.as_deref() {
        let valid = s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/_".contains(&b));
        if is_template(s) {
            out.template("/startedBy", "startedBy", s);
        } else if !valid {
            out.error(
                "started-by",
                "/startedBy",
                "startedBy can have up to 128 letters (uppercase and lowercase), numbers, hyphens, forward slashes and underscores.",
            );
        }
    }
    if let Some(group) = req.group.as_deref() {
        let n = group.chars().count();
        if n > 255 {
            out.error(
                "task-group",
                "/group",
                format!("A task group name can be at most 255 characters; this one has {n}."),
            );
        }
    }
    if let Some(o) = &req.overrides {
        overrides(o, td, out);
    }
}

fn overrides(o: &TaskOverride, td: Option<&TaskDefinition>, out: &mut Out) {
    const AT: &str = "/overrides/containerOverrides";
    // Measured as the embedded cluster measures it: the overrides as JSON, in characters.
    let size = serde_json::to_string(o).map_or(0, |s| s.chars().count());
    if size > 8192 {
        out.error_help(
            "overrides-size",
            "/overrides",
            "Container Overrides length must be at most 8192",
            format!("These overrides are {size} characters as JSON; move long commands or environment into the task definition or an environment file."),
        );
    }
    if let (Some(t), Some(memory)) = (td, o.memory.as_deref()) {
        task_memory_override(t, o, memory, out);
    }
    let mut named = BTreeSet::new();
    for (i, co) in o.container_overrides.iter().flatten().enumerate() {
        let Some(name) = co.name.as_deref().filter(|n| !n.trim().is_empty()) else {
            out.error(
                "container-override",
                format!("{AT}/{i}"),
                "Container override name is required.",
            );
            continue;
        };
        if is_template(name) {
            out.template(format!("{AT}/{i}/name"), "The container name", name);
            continue;
        }
        if !named.insert(name) {
            out.warn(
                "container-override",
                format!("{AT}/{i}/name"),
                format!("The container {name} is overridden more than once."),
                Some("Merge the overrides of one container into one entry.".into()),
            );
        }
        if let Some(t) = td {
            let containers: Vec<&str> = t
                .container_definitions
                .iter()
                .flatten()
                .filter_map(|c| c.name.as_deref())
                .collect();
            if !containers.contains(&name) {
                out.error_help(
                    "container-override-unknown",
                    format!("{AT}/{i}/name"),
                    format!(
                        "Override for container named {name} is not a container in the TaskDefinition."
                    ),
                    format!("The task definition's containers: {}.", containers.join(", ")),
                );
            }
        }
    }
}

/// A task-level `memory` override below what a container asks for (its own override first):
/// ECS refuses the launch (artilleryio/artillery#591: `--launch-config '{"cpu":1024,"memory":1280}'`
/// for a task whose container has more).
fn task_memory_override(t: &TaskDefinition, o: &TaskOverride, memory: &str, out: &mut Out) {
    if is_template(memory) {
        return;
    }
    let Ok(task) = crate::model::parse_memory_mib(memory) else {
        return;
    };
    let over = t.container_definitions.iter().flatten().find_map(|c| {
        let name = c.name.as_deref()?;
        let own = o
            .container_overrides
            .iter()
            .flatten()
            .find(|co| co.name.as_deref() == Some(name))
            .and_then(|co| co.memory)
            .or(c.memory)?;
        (u64::try_from(own).ok()? > task).then_some((name, own))
    });
    if let Some((name, own)) = over {
        out.error_help(
            "task-memory-override",
            "/overrides/memory",
            format!("'memory' setting for container '{name}' is greater than for task."),
            format!("The container {name} has memory {own} MiB, above the task's {task} MiB here: raise overrides.memory, or lower the container's memory with a container override."),
        );
    }
}
