//! What an island needs from the page it lives in: the URL's query (read from `location`,
//! written with `history`), navigation, the page's ready flag and toasts, and the change stream
//! the main app receives — see the [module above](super) for why these cross by `window` and
//! DOM events rather than by signals.
//!
//! It does not route: links inside islands are plain `<a href>`, which the main app's router
//! intercepts like any other link on the page.

use std::sync::OnceLock;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use crate::logic::feed::{Batch, Plan};
use crate::logic::query;

/// Why change controls are off (their tooltip), or `None`: the page's session, taken when the
/// island was mounted (see [`crate::session::sync_from_page`]).
pub use crate::session::read_only_reason as read_only;

/// `location.search`, kept current (popstate, and our own writes).
fn search() -> RwSignal<String> {
    static S: OnceLock<RwSignal<String>> = OnceLock::new();
    *S.get_or_init(|| crate::global(|| RwSignal::new(current_search())))
}

fn current_search() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

fn current_path() -> String {
    web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default()
}

/// Installs (once per tab) the listeners islands rely on: the URL, the forwarded change stream,
/// and the server clock.
pub fn install() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let Some(w) = web_sys::window() else {
            return;
        };
        let on_pop = Closure::<dyn FnMut(web_sys::Event)>::new(|_| {
            search().set(current_search());
        });
        let on_changes =
            Closure::<dyn FnMut(web_sys::CustomEvent)>::new(|e: web_sys::CustomEvent| {
                if let Some(text) = e.detail().as_string()
                    && let Ok(batch) = serde_json::from_str::<Batch>(&text)
                {
                    leptos::task::spawn_local(crate::store::apply(Plan::of(&batch.changes)));
                }
            });
        let on_resync = Closure::<dyn FnMut(web_sys::Event)>::new(|_| {
            crate::store::store().resync();
        });
        let _ = w.add_event_listener_with_callback("popstate", on_pop.as_ref().unchecked_ref());
        let _ = w.add_event_listener_with_callback(
            crate::live::CHANGES_EVENT,
            on_changes.as_ref().unchecked_ref(),
        );
        let _ = w.add_event_listener_with_callback(
            crate::live::RESYNC_EVENT,
            on_resync.as_ref().unchecked_ref(),
        );
        // They live as long as the tab.
        on_pop.forget();
        on_changes.forget();
        on_resync.forget();
        crate::views::ui::load_server_info();
    });
}

/// Calls `window[name](arg)` (a function the main app defined), if it is there.
fn call_page(name: &str, arg: &wasm_bindgen::JsValue) {
    if let Some(w) = web_sys::window()
        && let Ok(f) = js_sys::Reflect::get(&w, &name.into())
        && let Ok(f) = f.dyn_into::<js_sys::Function>()
    {
        let _ = f.call1(&w, arg);
    }
}

/// The page's ready flag (`#app[data-ready]`), as islands see it.
#[derive(Clone, Copy)]
pub struct Ready;

impl Ready {
    /// Marks the page ready (an island never marks it not ready).
    pub fn set(self, ready: bool) {
        if ready {
            call_page(crate::views::PAGE_READY, &wasm_bindgen::JsValue::TRUE);
        }
    }
}

/// The page's ready flag.
pub fn ready() -> Ready {
    Ready
}

/// Shows a toast (`[role=status]`) in the page.
pub fn toast(message: &str) {
    call_page(crate::views::PAGE_TOAST, &message.into());
}

/// Goes to `url` inside the app (the main router follows the `popstate`).
pub fn navigate(url: &str) {
    if let Some(w) = web_sys::window() {
        if let Ok(h) = w.history() {
            let _ = h.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(url));
        }
        search().set(current_search());
        if let Ok(e) = web_sys::Event::new("popstate") {
            let _ = w.dispatch_event(&e);
        }
    }
}

/// The query parameter `key` of the current URL.
pub fn query_param(key: &'static str) -> Memo<String> {
    Memo::new(move |_| {
        search().with(|s| {
            query::parse(s)
                .into_iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_default()
        })
    })
}

/// Sets a query parameter (as the main app's `set_query_param` does: edits within a second of
/// each other replace the history entry).
pub fn set_query_param(key: &'static str) -> impl Fn(String) + Clone + 'static {
    let last = StoredValue::new(0.0_f64);
    move |value: String| {
        let now = js_sys::Date::now();
        let replace = now - last.get_value() < 1000.0;
        last.set_value(now);
        let url = query::with_param(&current_path(), &current_search(), key, &value);
        if let Some(w) = web_sys::window() {
            if let Ok(h) = w.history() {
                let _ = if replace {
                    h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url))
                } else {
                    h.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url))
                };
            }
            search().set(current_search());
            if let Ok(e) = web_sys::Event::new("popstate") {
                let _ = w.dispatch_event(&e);
            }
        }
    }
}
