//! berth-core: Amazon ECS's model and rules as a pure library.
#![warn(missing_docs)]

pub mod deploy;
pub mod json;
pub mod model;
pub mod placement;
pub mod scaling;
