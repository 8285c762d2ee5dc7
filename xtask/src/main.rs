//! Build tooling for the Berth workspace: `cargo xtask codegen` regenerates the ECS model;
//! `cargo xtask dist [--no-opt]` builds the dashboard into `target/dashboard/`.

mod codegen;
mod dist;

/// The vendored botocore ECS model, relative to the workspace root.
const ECS_MODEL: &str = "testdata/reference/ecs-service-2.json";
/// Where the generated model lives, relative to the workspace root.
const ECS_OUT: &str = "crates/core/src/model/generated.rs";

fn main() -> std::process::ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match task.as_str() {
        "codegen" => {
            let model = match std::fs::read_to_string(root.join(ECS_MODEL)) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("xtask: cannot read {ECS_MODEL}: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            let src = codegen::generate(&codegen::Spec {
                model: &model,
                source_name: ECS_MODEL,
            });
            if let Err(e) = std::fs::write(root.join(ECS_OUT), src) {
                eprintln!("xtask: cannot write {ECS_OUT}: {e}");
                return std::process::ExitCode::from(2);
            }
            println!("wrote {ECS_OUT}");
            std::process::ExitCode::SUCCESS
        }
        "dist" => {
            let no_opt = std::env::args().skip(2).any(|a| a == "--no-opt");
            match dist::run(&root, &dist::Options { no_opt }) {
                Ok(out) => {
                    println!("dashboard built in {}", out.display());
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("xtask dist: {e}");
                    std::process::ExitCode::from(1)
                }
            }
        }
        _ => {
            eprintln!("usage: cargo xtask codegen | cargo xtask dist [--no-opt]");
            std::process::ExitCode::from(2)
        }
    }
}
