//! The `berth` server as a library: the HTTP application over the embedded cluster
//! ([`serve::app`]; the dashboard's files in [`assets`], the change stream in [`events`]), so
//! tests drive it in process. The binary (`src/main.rs`) adds the command
//! line. It deliberately holds no ECS logic: the cluster and the core do.

pub mod assets;
pub mod cbor;
pub mod events;
pub mod serve;
