//! The `berth` server as a library: the HTTP application over the embedded cluster
//! ([`serve::app`]; the dashboard's files in [`assets`], the change stream in [`events`]), so
//! tests drive it in process. The binary (`src/main.rs`) adds the command
//! line. It deliberately holds no ECS logic: the cluster and the core do.

pub mod assets;
pub mod audit;
pub mod catalog;
pub mod cbor;
pub mod credentials;
pub mod events;
pub mod guard;
pub mod poll;
pub mod proxy;
pub mod runtime;
pub mod serve;
pub mod session;
pub mod sigv4;
pub mod tmds;
pub mod upstream;
