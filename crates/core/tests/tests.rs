//! berth-core's integration tests: one binary, one module per subject.

/// The real-world task-definition corpus: parse, round-trip, validate.
mod corpus;
/// The Rust model against the API model it was generated from.
mod model_coverage;
