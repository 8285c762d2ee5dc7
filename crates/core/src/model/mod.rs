//! Serde types for every shape of the Amazon ECS API (`ecs-2014-11-13`), generated from
//! botocore's model, plus the pieces people need around them: timestamps that keep their
//! original spelling, cpu/memory unit strings, and reading the forms in which task definitions
//! are kept (a registration request, or what `aws ecs describe-task-definition` prints).
//!
//! Design decisions:
//! - **Every member is an `Option`**, required or not. A document that ECS would reject must still
//!   be readable so the validator can explain it; "required" is a validation rule
//!   ([`crate::validate`]), not a parse failure.
//! - **Enums keep unknown values** (`Unknown(String)`), so a value from a newer API, or a typo,
//!   survives a round trip and is reported by the validator instead of failing the parse.
//! - **Lossless for every known member**: parse → serialise gives back the same JSON value, except
//!   that explicit `null`s (which ECS treats as absent) are dropped.
//! - The model is generated (`cargo xtask codegen`), never hand-copied; a test proves that every
//!   member and enum value of the API model exists here.

#[rustfmt::skip]
#[allow(missing_docs, clippy::all, clippy::pedantic)] // reason: generated; docs come from the model where it has them
mod generated;
pub mod schema;
mod timestamp;
mod units;
mod wrapper;

pub use generated::*;
pub use timestamp::Timestamp;
pub use units::{UnitError, parse_cpu_units, parse_memory_mib};
pub(crate) use wrapper::normalise_units as normalise_units_in;
pub use wrapper::{
    Input, InputForm, READ_ONLY_TASK_DEFINITION_MEMBERS, ReadError, read_task_definition,
};
