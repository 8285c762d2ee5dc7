//! berth-web: Berth's dashboard, a Leptos client-side-rendered app compiled to wasm and embedded
//! in the `berth` binary.
//!
//! **What it is for.** Clusters → services → tasks → containers, deployments with honest
//! verdicts, events, container instances and task-definition revisions, with the actions people
//! take on them, kept live by one server-sent-events stream per tab and driven by the keyboard.
//!
//! **How it is cut.** The browser is one more client of the ECS API: [`api`] sends the same
//! operations an AWS SDK sends, typed with `berth_core::model`, through the server's same-origin
//! route, so the dashboard works unchanged whatever backend the server has. [`store`] holds what
//! was loaded, one signal per row; [`live`] turns the change stream into refetches of exactly what
//! changed; [`logic`] is the page logic (URL codec, filter, keymap, verdict, virtual window,
//! palette ranking) in plain Rust with host tests; [`views`] wires them to the DOM.
//!
//! **Sessions.** With login on, [`session`] signs the tab in (the printed login URL's one-time
//! `#token=…`, or a key of the credentials file typed once), keeps the CSRF value and the role in
//! page memory only, and turns every change control off for a viewer or a read-only server.
//!
//! **What it does not do.** No stored credentials, ever (the server holds the AWS ones, the
//! browser an HttpOnly cookie); no polling (in upstream mode the server polls); no second REST
//! API; no server-side rendering (the server only ships static files).

pub mod api;
pub mod islands;
pub mod live;
pub mod logic;
pub mod session;
pub mod store;
pub mod tools;
pub mod views;
pub mod wire;

/// Runs `f` under the tab's root reactive owner, which is never disposed: the signals of the
/// whole tab (the live status, dialogs, settings …) are made here, so no page that made them
/// first can take them along when it goes away.
pub fn global<T>(f: impl FnOnce() -> T) -> T {
    use std::sync::OnceLock;
    static ROOT: OnceLock<leptos::prelude::Owner> = OnceLock::new();
    ROOT.get_or_init(|| leptos::prelude::Owner::new_root(None))
        .with(f)
}

/// The wasm entry point: mounts the app on `<body>`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn main() {
    // A panic aborts the wasm; say why on the console first.
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("berth-web panicked: {info}").into());
    }));
    // The tools module links this crate too (for the islands), and with it this start function:
    // only the first module to start mounts the app.
    let Some(w) = web_sys::window() else {
        return;
    };
    let key = wasm_bindgen::JsValue::from_str("__berthStarted");
    if js_sys::Reflect::get(&w, &key).is_ok_and(|v| v.is_truthy()) {
        return;
    }
    let _ = js_sys::Reflect::set(&w, &key, &wasm_bindgen::JsValue::TRUE);
    leptos::mount::mount_to_body(views::App);
}
