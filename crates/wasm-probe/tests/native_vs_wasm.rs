//! The wasm32 build of berth-core gives the same answers as the native build.
//!
//! `scripts/test.sh` builds the probe for `wasm32-unknown-unknown` (release) first; this test
//! runs that build under Node and compares every case with the native computation.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn wasm_build_agrees_with_native() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let wasm = target.join("wasm32-unknown-unknown/release/berth_wasm_probe.wasm");
    assert!(
        wasm.exists(),
        "{} is missing: build it with `cargo build -p berth-wasm-probe --target wasm32-unknown-unknown --release` (scripts/test.sh does)",
        wasm.display()
    );
    let out = Command::new("node")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/run.mjs"))
        .arg(&wasm)
        .output()
        .expect("node runs (Debian: apt-get install nodejs)");
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_wasm: Vec<String> =
        serde_json::from_slice(&out.stdout).expect("probe prints a JSON list");
    let native: Vec<String> = (0..berth_wasm_probe::CASES)
        .map(berth_wasm_probe::case_output)
        .collect();
    assert_eq!(from_wasm.len(), native.len());
    for (i, (w, n)) in from_wasm.iter().zip(&native).enumerate() {
        assert_eq!(w, n, "case {i} differs between wasm and native");
        assert!(!w.starts_with("error"), "case {i}: {w}");
    }
    // The placement case is the fixed reference plan.
    let plan: Vec<String> = serde_json::from_str(&from_wasm[from_wasm.len() - 2]).unwrap();
    assert_eq!(plan, berth_core::placement::fixtures::REFERENCE_PLAN);
}
