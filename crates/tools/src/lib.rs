//! berth-tools: the dashboard's second wasm module, loaded the first time a page needs it.
//!
//! **What it is for.** The parts of the dashboard that compute with `berth-core` in the browser:
//! the task-definition editor (validation on every keystroke with spans, the highlight layer,
//! formatting, bracket matching), the revision diff, the placement view ("why is this task
//! pending, where would it land") and the scaling simulator. They live apart from the main
//! bundle (`berth-web`) because `berth-core`'s validator, serde model, placement engine and time
//! zones are several hundred kilobytes the first page load should not pay for; `cargo xtask dist`
//! builds this crate next to `berth-web` and `index.html` defines `window.__berthTools()`, which
//! imports it once (`berth_web::tools` wraps that for Rust).
//!
//! **How it is cut.** Each export takes and returns strings (JSON, except `match_bracket`), so
//! the boundary to JavaScript is one string copy each way and the same functions run natively
//! (`cargo test -p berth-tools`, `benches/validate.rs`). The Rust functions of this crate *are*
//! the exports (`#[wasm_bindgen]` on a native target only marks them).
//!
//! **What it does not do.** The computing exports below touch no DOM, fetch nothing and keep no
//! state between calls: the views fetch with their own API client and pass what they got. They
//! never panic on any input (a panic would abort the whole module): bad input gives
//! `{"error": "..."}`. (The views that use them — `berth_web::islands` — are compiled into this
//! module too and mounted through [`islands`]; see there.)
//!
//! # The exports and their JSON
//!
//! All offsets called `start`/`end` are UTF-8 byte offsets; `from`/`to` are UTF-16 code-unit
//! offsets, what a JavaScript string index and a textarea's `selectionStart` count.
//!
//! ## `validate(text, launch_types_csv) -> String`
//!
//! `launch_types_csv` is e.g. `"FARGATE"` or `"EC2,FARGATE"` (may be empty): launch types checked
//! beside the document's `requiresCompatibilities`. Returns
//!
//! ```json
//! {"diagnostics": [{"code": "type", "severity": "error"|"warning", "path": "/cpu",
//!                   "message": "...", "help": "..."?,
//!                   "span": {"start": 40, "end": 45, "line": 3, "column": 10}?,
//!                   "from": 40, "to": 45,
//!                   "unclosed": {"start", "end", "from", "to", "line", "column"}?}],
//!  "syntaxError": false, "compatibilities": ["EC2"],
//!  "form": "register-request"|"task-definition"|"describe-output"|null,
//!  "html": "<span class=\"j-punct\">{</span>..."}
//! ```
//!
//! Diagnostics are in document order. `unclosed` appears on a syntax error at the end of the text:
//! the innermost bracket that was never closed. `html` is the text for an editor's highlight
//! layer (a `<pre>` under a transparent textarea): every character escaped, tokens in
//! `<span class="j-key|j-str|j-num|j-lit|j-punct">`, each diagnostic's span in
//! `<mark class="diag diag-error|diag-warning" data-i="N">` (N indexes `diagnostics`; a mark that
//! crosses another is split into several elements with the same `data-i`). A syntax error at the
//! end of the text is an empty `<mark class="diag diag-error diag-eof" data-i="N"></mark>` (give
//! it a border or an `::after` to show it), its unclosed bracket a
//! `<mark class="diag diag-error diag-unclosed" data-i="N">`. A text that is empty or ends with a
//! newline gets a trailing space, so the layer is as tall as the textarea.
//!
//! ## `format(text) -> String`
//!
//! The pretty-printed text itself (2-space indent, members in their order, strings and numbers
//! exactly as written, a trailing newline), or on a syntax error the compact JSON
//! `{"error":"Not valid JSON: … (line L, column C).","from":N,"line":L,"column":C}` (a formatted
//! document never starts with `{"`: its first line is `{` alone).
//!
//! ## `match_bracket(text, utf16_pos) -> i32`
//!
//! The UTF-16 offset of the bracket matching the one at `utf16_pos` or, failing that, the one
//! just before it; `-1` when there is none. Brackets in strings do not count.
//!
//! ## `diff(before_text, after_text, all) -> String`
//!
//! Both texts in any form `berth_core::model::read_task_definition` reads. Returns
//!
//! ```json
//! {"changes": [{"path": "/containerDefinitions/app/image", "kind": "added"|"removed"|"modified",
//!               "before": …?, "after": …?, "text": "~ /containerDefinitions/app/image: \"a\" -> \"b\"",
//!               "group": "image"|"environment"|"secrets"|"ports"|"resources"|"metadata"|"other",
//!               "hidden": "metadata"|"default"?}],
//!  "unified": "--- web:3\n+++ after\n@@ …"}
//! ```
//!
//! `changes` are `berth_core::diff::diff`'s (normalised: ECS defaults filled, read-only members
//! dropped, unordered lists sorted; paths name list elements by their key). With `all`, the raw
//! differences of the two documents' task definitions that normalisation hides follow, each with
//! `hidden`: `"metadata"` for read-only members (`revision`, `taskDefinitionArn`, `status`,
//! `registeredAt`, …), `"default"` for the rest (defaults written out, empty lists, order). The
//! `unified` headers are `family:revision` when a document says both, else `before`/`after`.
//!
//! ## `explain(input_json) -> String`
//!
//! Input: `{"instances": [DescribeContainerInstances containerInstances], "tasks": [DescribeTasks
//! tasks], "taskDefinition": {DescribeTaskDefinition taskDefinition}, "group": "service:web",
//! "placementConstraints": [{"type", "expression"}], "placementStrategy": [{"type", "field"}],
//! "seed": 0, "checkRequiresAttributes": false}` (only `taskDefinition` is required; `group`
//! defaults to `family:<family>`; an empty strategy list means the service default for a
//! `service:` group). See [`explain`] for how the snapshot is built. Returns
//!
//! ```json
//! {"chosen": "arn…"|null, "eligible": 3, "group": "service:web",
//!  "needs": {"cpu": 512, "memory": 1024, "gpu": 0, "ports": ["80/tcp"]},
//!  "instances": [{"arn", "ec2InstanceId", "az": "us-east-1a"|null, "status": "ACTIVE",
//!                 "agentConnected": true,
//!                 "registered": {"cpu", "memory", "gpu"}, "remaining": {"cpu", "memory", "gpu"},
//!                 "tasks": [{"arn", "group", "cpu", "memory"}], "pass": false,
//!                 "stages": [{"stage": "status"|"attributes"|"cpu"|"memory"|"gpu"|"ports"|
//!                                      "distinctInstance"|"memberOf",
//!                             "pass": false, "detail": "needs 4096 MiB, 1024 MiB free of 2048"}]}],
//!  "summary": {"RESOURCE:MEMORY": 3, "MemberOf placement constraint unsatisfied.": 2},
//!  "byStage": {"memory": 3, "memberOf": 2},
//!  "message": "(service web) was unable to place a task because …"|null,
//!  "kind": "CANNOT_PLACE_NOW"|"CAN_NEVER_PLACE"|"NO_CONTAINER_INSTANCES"|null,
//!  "closest": "arn…"|null}
//! ```
//!
//! Every instance lists all eight stages in that order ([`STAGES`]); instances are in the
//! cluster's order (by container-instance id). `summary` counts instances per ECS failure reason
//! (RunTask `failures[].reason`), `byStage` failing rows per stage. `message` is the service
//! event (or RunTask sentence) ECS writes when no instance can take the task.
//!
//! ## `replay(input_json) -> String`
//!
//! Input: `berth_core::scaling::ReplayInput` in Application Auto Scaling's PascalCase:
//!
//! ```json
//! {"Target": {"MinCapacity": 1, "MaxCapacity": 10},
//!  "InitialCapacity": 2,
//!  "Policies": [{"PolicyName": "cpu50", "PolicyType": "TargetTrackingScaling",
//!                "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50,
//!                  "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}}],
//!  "ScheduledActions": [{"ScheduledActionName": "night", "Schedule": "cron(0 22 * * ? *)",
//!                        "Timezone": "Europe/Paris", "ScalableTargetAction": {"MaxCapacity": 3}}],
//!  "Datapoints": [{"Timestamp": "2026-01-01T00:00:00Z", "Values": {"ECSServiceAverageCPUUtilization": 80}}]}
//! ```
//!
//! Step policies add `StepScalingPolicyConfiguration` and the `Alarm` that invokes them
//! (`{"MetricName", "Threshold", "ComparisonOperator", "EvaluationPeriods"?}`). Returns the
//! `Timeline`: `{"InitialCapacity", "FinalCapacity", "Changes": [{"Time", "From", "To",
//! "MinCapacity", "MaxCapacity", "Cause": {"Type": "TargetTracking"|"StepScaling"|"Scheduled",
//! "PolicyName"|"ScheduledActionName"}, "Description", "Bound": "min"|"max"|null}]}`, where
//! `Bound` says the capacity after the change sits on that bound of [min, max] (the rules clamp
//! to it).
//!
//! ## `version() -> String`
//!
//! `{"version": "0.1.0"}`: this crate's version, to check the module matches the page.
//!
//! # Example
//!
//! ```
//! let text = r#"{"family": "web", "cpu": "abc", "containerDefinitions": [
//!     {"name": "app", "image": "nginx:1.27", "memory": 256}]}"#;
//! let out: serde_json::Value = serde_json::from_str(&berth_tools::validate(text, "")).unwrap();
//! let d = &out["diagnostics"][0];
//! assert_eq!(d["path"], "/cpu");
//! let (from, to) = (d["from"].as_u64().unwrap() as usize, d["to"].as_u64().unwrap() as usize);
//! assert_eq!(&text[from..to], "\"abc\"");
//!
//! let timeline = berth_tools::replay(r#"{"Target": {"MinCapacity": 1, "MaxCapacity": 3},
//!     "InitialCapacity": 5, "Datapoints": []}"#);
//! assert!(timeline.contains("\"FinalCapacity\":5"));
//! ```

use wasm_bindgen::prelude::wasm_bindgen;

mod editor;
#[doc(hidden)]
pub mod fixtures;
pub mod islands;
mod placement;
mod revisions;
mod scaling;
mod text;

pub use placement::STAGES;

/// Validates a task definition and renders the editor's highlight layer (see the crate
/// documentation for the JSON).
#[wasm_bindgen]
pub fn validate(text: &str, launch_types_csv: &str) -> String {
    editor::validate(text, launch_types_csv)
}

/// Pretty-prints JSON with two-space indentation, keeping member order and number spelling;
/// `{"error": …}` when the text is not JSON.
#[wasm_bindgen]
pub fn format(text: &str) -> String {
    editor::format(text)
}

/// The UTF-16 offset of the bracket matching the one at (or just before) `utf16_pos`, or -1.
#[wasm_bindgen]
pub fn match_bracket(text: &str, utf16_pos: i32) -> i32 {
    editor::match_bracket(text, utf16_pos)
}

/// The revision diff of two task definitions (see the crate documentation for the JSON).
#[wasm_bindgen]
pub fn diff(before_text: &str, after_text: &str, all: bool) -> String {
    revisions::diff(before_text, after_text, all)
}

/// Where a task would land and why every other instance would not take it, from the ECS API's
/// shapes (see the crate documentation for the JSON).
///
/// The snapshot is built as the embedded cluster builds its placement view, so the browser and
/// the server agree: an instance's `remainingResources` already account for its tasks (tasks
/// only add their group; an instance without `remainingResources` is charged its tasks here);
/// instances and tasks are ordered by id; a task reserves its `cpu`/`memory`, else the sum of its
/// containers', else the task definition's when it runs the same revision.
#[wasm_bindgen]
pub fn explain(input_json: &str) -> String {
    placement::explain(input_json)
}

/// Replays a metric series through scaling policies and scheduled actions (see the crate
/// documentation for the JSON).
#[wasm_bindgen]
pub fn replay(input_json: &str) -> String {
    scaling::replay(input_json)
}

/// `{"version": "<crate version>"}`.
#[wasm_bindgen]
pub fn version() -> String {
    format!("{{\"version\":\"{}\"}}", env!("CARGO_PKG_VERSION"))
}

/// Benchmark inputs: `kind` `"taskdef"` (a task definition of `n` containers) or `"cluster"` (an
/// [`explain`] input over `n` instances); anything else gives an error. Not for the views.
#[doc(hidden)]
#[wasm_bindgen]
pub fn bench_fixture(kind: &str, n: u32) -> String {
    let n = n.min(100_000) as usize;
    match kind {
        "taskdef" => fixtures::task_definition(n),
        "cluster" => fixtures::cluster(n),
        _ => error(format!("unknown fixture {kind:?}")),
    }
}

/// Serialises an answer; never fails for the shapes of this crate.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| error(format!("internal: {e}")))
}

/// `{"error": message}`.
pub(crate) fn error(message: impl Into<String>) -> String {
    serde_json::json!({ "error": message.into() }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic source of arbitrary text (no dependency needed).
    fn noise(seed: u64, len: usize) -> String {
        const PIECES: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\\",
            " ",
            "\n",
            "é",
            "😀",
            "1",
            "-",
            "e",
            "true",
            "nul",
            "\"cpu\"",
            "\"containerDefinitions\"",
            "\"name\"",
            "\"x\"",
            "0.5",
            "\t",
            "<&>",
        ];
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut out = String::new();
        for _ in 0..len {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            out.push_str(PIECES[(s % PIECES.len() as u64) as usize]);
        }
        out
    }

    #[test]
    fn never_panics_on_arbitrary_text() {
        let valid = fixtures::task_definition(2);
        for seed in 0..400u64 {
            let text = if seed % 3 == 0 {
                // A valid document cut short or with noise spliced in.
                let cut = (seed as usize * 37) % valid.len();
                let cut = text::floor_boundary(&valid, cut);
                format!("{}{}", &valid[..cut], noise(seed, 3))
            } else {
                noise(seed, (seed % 60) as usize)
            };
            let v: serde_json::Value =
                serde_json::from_str(&validate(&text, "FARGATE,EC2")).unwrap();
            text::tests::assert_well_formed(v["html"].as_str().unwrap());
            let _ = format(&text);
            for pos in [-1, 0, 1, 5, 1000] {
                let _ = match_bracket(&text, pos);
            }
            let _ = diff(&text, &valid, true);
            let _ = explain(&text);
            let _ = replay(&text);
        }
        let deep = "[".repeat(10_000);
        let _ = validate(&deep, "");
        let _ = format(&deep);
        assert_eq!(match_bracket(&deep, 0), -1);
    }

    #[test]
    fn version_is_json() {
        let v: serde_json::Value = serde_json::from_str(&version()).unwrap();
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn fixtures_are_valid_inputs() {
        for n in [1, 10, 100] {
            let v: serde_json::Value =
                serde_json::from_str(&validate(&bench_fixture("taskdef", n), "")).unwrap();
            assert_eq!(v["syntaxError"], false);
            let errors = v["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["severity"] == "error")
                .count();
            assert_eq!(errors > 0, n > 10, "{}", v["diagnostics"]);
        }
        let v: serde_json::Value =
            serde_json::from_str(&explain(&bench_fixture("cluster", 50))).unwrap();
        assert!(v["eligible"].as_u64().unwrap() > 0, "{v}");
        assert_eq!(v["instances"].as_array().unwrap().len(), 50);
        assert!(bench_fixture("nope", 1).contains("error"));
    }
}
