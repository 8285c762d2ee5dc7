//! The tab's one change stream (`GET /_berth/events`, server-sent events). The browser's
//! `EventSource` reconnects by itself and sends `Last-Event-ID`; the server replays what was
//! missed or says `resync`, and the store reloads. When the stream is closed for good (an HTTP
//! error), a new one is opened after a pause and everything is reloaded — unless the server
//! says the session is gone, then the sign-in screen shows. No view polls.
//!
//! In upstream mode the server polls the real service and sends the same events (the chip then
//! says "Polled"), plus `upstream` events: `{"ok":false,"message","at"}` while the upstream
//! fails (a banner; what is on screen stays) and `{"ok":true}` once it answers again.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use std::cell::RefCell;

use crate::logic::feed::{Batch, Plan};
use crate::logic::session::{Feed, UpstreamProblem, upstream_event};
use crate::store::store;

/// The chip's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Opening the first stream.
    Connecting,
    /// Events flow.
    Live,
    /// The stream dropped; the browser is reconnecting.
    Reconnecting,
}

impl Status {
    /// The chip's text.
    pub fn label(self) -> &'static str {
        match self {
            Status::Connecting => "Connecting…",
            Status::Live => "Live",
            Status::Reconnecting => "Reconnecting…",
        }
    }
    /// `data-state`.
    pub fn key(self) -> &'static str {
        match self {
            Status::Connecting => "connecting",
            Status::Live => "live",
            Status::Reconnecting => "reconnecting",
        }
    }
}

/// The stream's status, for the chip.
pub fn status() -> RwSignal<Status> {
    use std::sync::OnceLock;
    static S: OnceLock<RwSignal<Status>> = OnceLock::new();
    *S.get_or_init(|| crate::global(|| RwSignal::new(Status::Connecting)))
}

/// How changes reach the server (live, or polled from an upstream), from `/_berth/info`.
pub fn feed() -> RwSignal<Feed> {
    use std::sync::OnceLock;
    static S: OnceLock<RwSignal<Feed>> = OnceLock::new();
    *S.get_or_init(|| crate::global(|| RwSignal::new(Feed::default())))
}

/// The upstream's current failure, while there is one.
pub fn upstream_problem() -> RwSignal<Option<UpstreamProblem>> {
    use std::sync::OnceLock;
    static S: OnceLock<RwSignal<Option<UpstreamProblem>>> = OnceLock::new();
    *S.get_or_init(|| crate::global(|| RwSignal::new(None)))
}

thread_local! {
    /// The open stream, and whether the tab wants one (false once signed out).
    static STREAM: RefCell<(Option<web_sys::EventSource>, bool)> = const { RefCell::new((None, false)) };
}

/// The `window` event each change batch is re-dispatched as (its `detail` is the batch's JSON
/// text), for the islands in the tools module, which have their own store.
pub const CHANGES_EVENT: &str = "berth:changes";
/// The `window` event a `resync` is re-dispatched as.
pub const RESYNC_EVENT: &str = "berth:resync";

fn forward(name: &str, detail: Option<&str>) {
    let Some(w) = web_sys::window() else {
        return;
    };
    let init = web_sys::CustomEventInit::new();
    if let Some(d) = detail {
        init.set_detail(&d.into());
    }
    if let Ok(e) = web_sys::CustomEvent::new_with_event_init_dict(name, &init) {
        let _ = w.dispatch_event(&e);
    }
}

/// Opens the stream (once: a second call while one is open does nothing).
pub fn start() {
    let open_already = STREAM.with(|s| {
        let mut s = s.borrow_mut();
        s.1 = true;
        s.0.is_some()
    });
    if !open_already {
        open(false);
    }
}

/// Closes the stream for good (signed out); [`start`] opens a new one.
pub fn stop() {
    let es = STREAM.with(|s| {
        let mut s = s.borrow_mut();
        s.1 = false;
        s.0.take()
    });
    if let Some(es) = es {
        es.close();
    }
    status().set(Status::Connecting);
}

fn open(after_failure: bool) {
    if !STREAM.with(|s| s.borrow().1) {
        return;
    }
    let Ok(es) = web_sys::EventSource::new("/_berth/events") else {
        status().set(Status::Reconnecting);
        retry_later();
        return;
    };
    let mut first_hello = true;
    let on_hello =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_e: web_sys::MessageEvent| {
            status().set(Status::Live);
            if after_failure && first_hello {
                store().resync();
                forward(RESYNC_EVENT, None);
            }
            first_hello = false;
        });
    let on_changes =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|e: web_sys::MessageEvent| {
            let Some(text) = e.data().as_string() else {
                return;
            };
            if let Ok(batch) = serde_json::from_str::<Batch>(&text) {
                let plan = Plan::of(&batch.changes);
                leptos::task::spawn_local(crate::store::apply(plan));
            }
            forward(CHANGES_EVENT, Some(&text));
        });
    let on_resync =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|_e: web_sys::MessageEvent| {
            store().resync();
            forward(RESYNC_EVENT, None);
        });
    let on_upstream =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|e: web_sys::MessageEvent| {
            if let Some(text) = e.data().as_string() {
                upstream_problem().set(upstream_event(&text));
            }
        });
    let es_for_error = es.clone();
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_e: web_sys::Event| {
        status().set(Status::Reconnecting);
        // CLOSED (2): the browser gave up (an HTTP error); open a new stream later.
        if es_for_error.ready_state() == 2 {
            STREAM.with(|s| {
                let mut s = s.borrow_mut();
                if s.0.as_ref() == Some(&es_for_error) {
                    s.0 = None;
                }
            });
            retry_later();
        }
    });
    let _ = es.add_event_listener_with_callback("hello", on_hello.as_ref().unchecked_ref());
    let _ = es.add_event_listener_with_callback("changes", on_changes.as_ref().unchecked_ref());
    let _ = es.add_event_listener_with_callback("resync", on_resync.as_ref().unchecked_ref());
    let _ = es.add_event_listener_with_callback("upstream", on_upstream.as_ref().unchecked_ref());
    es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    STREAM.with(|s| s.borrow_mut().0 = Some(es));
    // The handlers live as long as the tab.
    on_hello.forget();
    on_changes.forget();
    on_resync.forget();
    on_upstream.forget();
    on_error.forget();
}

fn retry_later() {
    let cb = Closure::once_into_js(|| {
        leptos::task::spawn_local(async {
            if crate::session::still_signed_in().await {
                open(true);
            }
        });
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 1000);
    }
}
