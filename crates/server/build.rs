//! Rebuilds `berth` when the dashboard (`cargo xtask dist` → `target/dashboard/`) changes, so
//! a release build embeds the newest one (rust-embed reads the folder at compile time and
//! cannot tell cargo about files that appear later).

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard");
    // A path that does not exist makes cargo rerun the script (and rebuild) every time; an
    // empty folder reads as "not built" all the same.
    if let Err(e) = std::fs::create_dir_all(&dir) {
        println!("cargo:warning=cannot create {}: {e}", dir.display());
    }
    println!("cargo:rerun-if-changed={}", dir.display());
    println!("cargo:rerun-if-changed=build.rs");
}
