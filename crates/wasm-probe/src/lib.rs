//! A test-only probe: the same berth-core computations, exported from a `wasm32-unknown-unknown`
//! build to JavaScript and callable natively, so `tests/native_vs_wasm.rs` can prove the browser
//! build and the native build agree (same diagnostics, same placement plan for the same seed).
//!
//! It deliberately uses no wasm-bindgen: two exported functions and a string in linear memory
//! are all Node needs, and the probe stays independent of the dashboard's toolchain.

use berth_core::validate::{Options, validate_task_definition};

/// Documents the probe validates, embedded so both builds see the same bytes.
const DOCUMENTS: &[&str] = &[
    include_str!(
        "../../../testdata/corpus/taskdefs/024-aws-samples-amazon-ecs-firelens-examples-fb-newrelic.json"
    ),
    include_str!(
        "../../../testdata/corpus/taskdefs/022-aws-samples-amazon-ecs-firelens-examples-fb-logstash.json"
    ),
    include_str!("../../../testdata/corpus/taskdefs/085-kayac-ecspresso-tests-td-in-tags.json"),
    include_str!(
        "../../../testdata/corpus/taskdefs/123-awsdocs-amazon-ecs-developer-guide-doc-full-template.json"
    ),
    include_str!(
        "../../../testdata/corpus/taskdefs/134-Banbury-inc-banbury-cloud-backend-cli-skeleton.json"
    ),
    "{\"family\": \"x\", \"containerDefinitions\": [",
];

/// How many cases [`case_output`] knows.
pub const CASES: u32 = DOCUMENTS.len() as u32 + 2;

/// The JSON answer of case `n`: validation reports, the reference placement plan, a revision diff.
pub fn case_output(n: u32) -> String {
    let n = n as usize;
    if let Some(doc) = DOCUMENTS.get(n) {
        let report = validate_task_definition(doc, &Options::default());
        return serde_json::to_string(&report).unwrap_or_default();
    }
    match n - DOCUMENTS.len() {
        0 => match berth_core::placement::fixtures::reference_plan() {
            Ok(plan) => serde_json::to_string(&plan).unwrap_or_default(),
            Err(e) => format!("error: {e}"),
        },
        _ => {
            let a = berth_core::model::read_task_definition(DOCUMENTS[0]);
            let b = berth_core::model::read_task_definition(DOCUMENTS[2]);
            match (a, b) {
                (Ok(a), Ok(b)) => {
                    let changes = berth_core::diff::diff(&a.request, &b.request);
                    serde_json::to_string(&changes).unwrap_or_default()
                }
                _ => "error: unreadable".into(),
            }
        }
    }
}

/// Wasm export: computes case `n` and returns `(pointer << 32) | length` of its UTF-8 text in
/// linear memory (the memory is leaked on purpose: a probe answers a handful of calls).
#[unsafe(no_mangle)]
pub extern "C" fn probe_case(n: u32) -> u64 {
    let text: &'static str = Box::leak(case_output(n).into_boxed_str());
    ((text.as_ptr() as usize as u64) << 32) | text.len() as u64
}

/// Wasm export: the number of cases.
#[unsafe(no_mangle)]
pub extern "C" fn probe_cases() -> u32 {
    CASES
}
