//! Build tooling for the Berth workspace: `cargo xtask codegen` regenerates the ECS model and
//! the server's operation catalog; `cargo xtask dist [--no-opt]` builds the dashboard into
//! `target/dashboard/`.

mod catalog;
mod codegen;
mod dist;

/// The vendored botocore ECS model, relative to the workspace root.
const ECS_MODEL: &str = "testdata/reference/ecs-service-2.json";
/// Where the generated model lives, relative to the workspace root.
const ECS_OUT: &str = "crates/core/src/model/generated.rs";
/// The models of every service the server's endpoint speaks for, as `(catalog::Service variant,
/// botocore model)`, relative to the workspace root (`.gz` ones are read through gzip). Where
/// they come from: `testdata/reference/README.md`.
const CATALOG_MODELS: &[(&str, &str)] = &[
    ("Ecs", ECS_MODEL),
    (
        "AutoScaling",
        "testdata/reference/application-autoscaling-service-2.json",
    ),
    ("Logs", "testdata/reference/logs-service-2.json.gz"),
    (
        "CloudWatch",
        "testdata/reference/cloudwatch-service-2.json.gz",
    ),
    (
        "CloudTrail",
        "testdata/reference/cloudtrail-service-2.json.gz",
    ),
    (
        "SecretsManager",
        "testdata/reference/secretsmanager-service-2.json.gz",
    ),
    ("Ssm", "testdata/reference/ssm-service-2.json.gz"),
];
/// Where the generated catalog lives, relative to the workspace root.
const CATALOG_OUT: &str = "crates/server/src/catalog/generated.rs";

/// Reads a model, through gzip when its name ends in `.gz`.
fn read_model(root: &std::path::Path, rel: &str) -> Result<String, String> {
    let bytes = std::fs::read(root.join(rel)).map_err(|e| format!("cannot read {rel}: {e}"))?;
    if !rel.ends_with(".gz") {
        return String::from_utf8(bytes).map_err(|e| format!("{rel}: {e}"));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .map_err(|e| format!("cannot gunzip {rel}: {e}"))?;
    Ok(text)
}

/// The generated catalog's source, from the models under `root`.
fn catalog_source(root: &std::path::Path) -> Result<String, String> {
    let texts = CATALOG_MODELS
        .iter()
        .map(|(_, rel)| read_model(root, rel))
        .collect::<Result<Vec<_>, _>>()?;
    let models: Vec<catalog::Model<'_>> = CATALOG_MODELS
        .iter()
        .zip(&texts)
        .map(|((variant, rel), text)| catalog::Model {
            variant,
            text,
            source_name: rel,
        })
        .collect();
    Ok(catalog::generate(&models))
}

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
            let written = catalog_source(&root).and_then(|src| {
                std::fs::write(root.join(CATALOG_OUT), src)
                    .map_err(|e| format!("cannot write {CATALOG_OUT}: {e}"))
            });
            if let Err(e) = written {
                eprintln!("xtask: {e}");
                return std::process::ExitCode::from(2);
            }
            println!("wrote {CATALOG_OUT}");
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
