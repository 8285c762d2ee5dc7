//! berth-core: Amazon ECS's model and rules as a pure library.
//!
//! What it is for: everything about ECS that can be *computed* — the API's shapes
//! ([`model`], generated from the official model), whether a task definition is one ECS accepts
//! ([`validate`], with spans into the source text from [`json`]), where tasks would land and why
//! others cannot ([`placement`]), what a rolling deployment does next and when the circuit
//! breaker trips ([`deploy`]), what Service Auto Scaling would do with a metric series
//! ([`scaling`]), what really changed between two revisions ([`diff`]), and the AWS JSON wire
//! envelope ([`protocol`]), what ECS fills in when it stores a task definition
//! ([`registered`]), the members ECS always returns on services, tasks and container
//! instances ([`described`]), and what the scheduler of an EXTERNAL service does with its task
//! sets ([`task_sets`]).
//!
//! What it deliberately does not do: IO, async, clocks or threads. It returns data (a plan, a
//! step, diagnostics) and leaves performing it to the embedded cluster, the server, or your tool.
//! That keeps it deterministic and testable, and lets the same code run in the browser
//! (`wasm32-unknown-unknown`): randomness is a seeded parameter, time is an input.
//!
//! # Example
//!
//! ```
//! use berth_core::validate::{validate_task_definition, Options, Severity};
//!
//! let text = r#"{"family": "web", "containerDefinitions": [
//!     {"name": "app", "image": "nginx:1.27", "memory": 256,
//!      "portMappings": [{"containerPort": 80, "hostPort": 8080}],
//!      "dependsOn": [{"containerName": "db", "condition": "START"}]}]}"#;
//! let report = validate_task_definition(text, &Options::default());
//! let error = report.with_severity(Severity::Error).next().unwrap();
//! assert_eq!(error.message, "Cannot depend on container + 'db' because it does not exist");
//! assert_eq!(error.path, "/containerDefinitions/0/dependsOn/0/containerName");
//! let span = error.span.unwrap();
//! assert_eq!(&text[span.start..span.end], "\"db\"");
//!
//! // The typed model reads the same text, losslessly for every known member.
//! let input = berth_core::model::read_task_definition(text).unwrap();
//! assert_eq!(input.request.family.as_deref(), Some("web"));
//! ```
#![warn(missing_docs)]

pub mod account;
pub mod deploy;
pub mod described;
pub mod diff;
pub mod json;
pub mod model;
pub mod placement;
pub mod protocol;
pub mod registered;
pub mod scaling;
pub mod task_sets;
pub mod validate;
