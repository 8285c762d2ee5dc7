//! Page logic in plain Rust, with plain `#[test]`s: nothing here touches the DOM, a signal or the
//! network, so it runs and is tested on the host. Components only wire these to the view.

pub mod audit;
pub mod feed;
pub mod filter;
pub mod fmt;
pub mod keymap;
pub mod palette;
pub mod query;
pub mod session;
pub mod verdict;
pub mod window;
