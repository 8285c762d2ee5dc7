//! Every valid task definition of the corpus (real files written by other people) parses,
//! round-trips losslessly and validates with no error; each file that SOURCES.tsv flags as
//! invalid gets the error it describes.

use berth_core::model::{
    InputForm, RegisterTaskDefinitionRequest, Tag, TaskDefinition, read_task_definition,
};
use berth_core::validate::{Options, Severity, validate_task_definition};
use serde_json::Value;
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/corpus/taskdefs"
    ))
}

fn files() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert_eq!(out.len(), 142, "the corpus has 142 task definitions");
    out
}

/// The files SOURCES.tsv flags as not registrable as they are, with the rule (code) and the
/// JSON pointer of the problem it describes.
const FLAGGED: &[(&str, &str, &str)] = &[
    ("022-", "type", "/containerDefinitions/1/portMappings"),
    (
        "032-",
        "firelens-config-file",
        "/containerDefinitions/0/firelensConfiguration/options/config-file-type",
    ),
    ("049-", "enum", "/networkMode"),
    ("074-", "task-cpu-invalid", "/cpu"),
    ("079-", "enum", "/networkMode"),
    (
        "085-",
        "proxy-configuration",
        "/taskDefinition/proxyConfiguration/containerName",
    ),
    ("088-", "enum", "/networkMode"),
    ("108-", "family-invalid", "/family"),
    (
        "110-",
        "type",
        "/containerDefinitions/0/portMappings/0/containerPort",
    ),
    ("111-", "link-unknown", "/containerDefinitions/1/links/0"),
    (
        "121-",
        "container-memory-required",
        "/containerDefinitions/0",
    ),
    ("123-", "image-required", "/containerDefinitions/0/image"),
    (
        "126-",
        "mount-unknown-volume",
        "/containerDefinitions/0/mountPoints/0/sourceVolume",
    ),
    (
        "133-",
        "container-memory-required",
        "/containerDefinitions/0",
    ),
    ("134-", "image-required", "/containerDefinitions/0/image"),
    ("136-", "image-required", "/containerDefinitions/1/image"),
    ("137-", "image-required", "/containerDefinitions/0/image"),
    ("138-", "image-required", "/containerDefinitions/0/image"),
];

fn flagged(name: &str) -> Option<(&'static str, &'static str)> {
    FLAGGED
        .iter()
        .find(|(p, _, _)| name.starts_with(p))
        .map(|(_, code, path)| (*code, *path))
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[test]
fn valid_files_validate_clean_and_flagged_files_get_their_error() {
    let mut problems = Vec::new();
    for (name, text) in files() {
        let report = validate_task_definition(&text, &Options::default());
        let errors: Vec<_> = report.with_severity(Severity::Error).collect();
        match flagged(&name) {
            None => {
                if !errors.is_empty() {
                    problems.push(format!(
                        "{name}: unexpected errors:\n  {}",
                        errors
                            .iter()
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                            .join("\n  ")
                    ));
                }
                if report.compatibilities.is_empty() {
                    problems.push(format!("{name}: no compatibilities computed"));
                }
            }
            Some((code, path)) => {
                if !errors
                    .iter()
                    .any(|e| e.code == code && e.path.starts_with(path))
                {
                    problems.push(format!(
                        "{name}: expected {code} at {path}, got:\n  {}",
                        errors
                            .iter()
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                            .join("\n  ")
                    ));
                }
                if !report.compatibilities.is_empty() {
                    problems.push(format!("{name}: an invalid file has compatibilities"));
                }
            }
        }
        for d in &report.diagnostics {
            let span = d.span.expect("every diagnostic has a span");
            assert!(
                span.start <= span.end && span.end <= text.len(),
                "{name}: {d} has a bad span"
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_parsable_file_round_trips_losslessly() {
    let mut checked = 0;
    for (name, text) in files() {
        let mut original: Value = serde_json::from_str(&text).unwrap();
        strip_nulls(&mut original);
        // Lossless for every known member: unknown ones are reported by the validator, not kept.
        let report = validate_task_definition(&text, &Options::default());
        for d in report
            .diagnostics
            .iter()
            .filter(|d| d.code == "unknown-member")
        {
            let (parent, key) = d.path.rsplit_once('/').unwrap();
            if let Some(obj) = original.pointer_mut(parent).and_then(Value::as_object_mut) {
                obj.remove(key);
            }
        }
        let Ok(input) = read_task_definition(&text) else {
            // Only files with JSON type errors may fail to read.
            let (code, _) = flagged(&name).unwrap_or_else(|| panic!("{name} does not read"));
            assert_eq!(code, "type", "{name}");
            continue;
        };
        let back = match input.form {
            InputForm::RegisterRequest => {
                let typed: RegisterTaskDefinitionRequest = serde_json::from_str(&text).unwrap();
                serde_json::to_value(typed).unwrap()
            }
            InputForm::TaskDefinition | InputForm::DescribeOutput => {
                // TaskDefinition has no `tags`; they travel beside it (in the wrapper or inline).
                let round_trip_tags = |tags: Value| -> Value {
                    serde_json::to_value(serde_json::from_value::<Vec<Tag>>(tags).unwrap()).unwrap()
                };
                let mut inner = if input.form == InputForm::DescribeOutput {
                    original["taskDefinition"].clone()
                } else {
                    original.clone()
                };
                let inline_tags = inner.as_object_mut().unwrap().remove("tags");
                let td: TaskDefinition = serde_json::from_value(inner).unwrap();
                let mut v = serde_json::to_value(td).unwrap();
                if let Some(tags) = inline_tags {
                    v.as_object_mut()
                        .unwrap()
                        .insert("tags".into(), round_trip_tags(tags));
                }
                if input.form == InputForm::DescribeOutput {
                    let mut wrapper = serde_json::json!({"taskDefinition": v});
                    if let Some(tags) = original.get("tags") {
                        wrapper["tags"] = round_trip_tags(tags.clone());
                    }
                    v = wrapper;
                }
                v
            }
        };
        assert_eq!(back, original, "{name} does not round-trip");
        // The normalised request is itself a valid registration request that reads back the same.
        let again = read_task_definition(&serde_json::to_string(&input.request).unwrap()).unwrap();
        assert_eq!(
            again.request, input.request,
            "{name}: normalisation is not stable"
        );
        checked += 1;
    }
    assert!(checked >= 138, "{checked}");
}
