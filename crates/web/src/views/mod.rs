//! The components: the app shell (header, live chip, dialogs, keyboard) and one module per
//! screen. Views read the [`crate::store`] and call [`crate::api`]; decisions live in
//! [`crate::logic`].

mod cluster;
mod clusters;
mod island;
mod keys;
mod service;
mod task;
mod taskdefs;
mod tasks_table;
pub(crate) mod ui;

use leptos::prelude::*;
use leptos_router::components::{Redirect, Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::path;

use crate::live;

/// The `window` function islands call to mark the page ready (`#app[data-ready]`).
pub const PAGE_READY: &str = "__berthReady";
/// The `window` function islands call to show a toast.
pub const PAGE_TOAST: &str = "__berthToast";

/// Puts [`PAGE_READY`] and [`PAGE_TOAST`] on `window` (once per tab).
fn expose_page_functions() {
    use wasm_bindgen::prelude::Closure;
    let Some(w) = web_sys::window() else {
        return;
    };
    let ready = Closure::<dyn Fn(wasm_bindgen::JsValue)>::new(|_| ui::ready().set(true));
    let toast = Closure::<dyn Fn(wasm_bindgen::JsValue)>::new(|m: wasm_bindgen::JsValue| {
        ui::toast().set(m.as_string().unwrap_or_default());
    });
    let _ = js_sys::Reflect::set(&w, &PAGE_READY.into(), ready.as_ref());
    let _ = js_sys::Reflect::set(&w, &PAGE_TOAST.into(), toast.as_ref());
    ready.forget();
    toast.forget();
}

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    keys::install_theme();
    expose_page_functions();
    ui::load_server_info();
    live::start();
    view! {
        <Router>
            <Shell />
        </Router>
    }
}

#[component]
fn Shell() -> impl IntoView {
    keys::install_keys();
    let location = use_location();
    // A new screen is not ready until it has its data; Esc-back restores the row focus.
    Effect::new(move |prev: Option<String>| {
        let path = location.pathname.get();
        if prev.as_deref() != Some(path.as_str()) {
            ui::ready().set(false);
        }
        set_timeout(keys::restore_row, std::time::Duration::from_millis(120));
        path
    });
    Effect::new(move |_| {
        if ui::dialog().with(Option::is_some) {
            request_animation_frame(ui::focus_first_in_dialog);
        }
    });
    let status = live::status();
    let nav_current = move |prefix: &'static str| {
        move || {
            location
                .pathname
                .get()
                .starts_with(prefix)
                .then_some("page")
        }
    };
    view! {
        <div id="app" data-ready=move || ui::ready().get().then_some("")>
            <a class="skip" href="#main">"Skip to content"</a>
            <header class="top">
                <a class="brand" href="/ui/clusters">"Berth"</a>
                <nav aria-label="Main">
                    <a href="/ui/clusters" aria-current=nav_current("/ui/clusters")>"Clusters"</a>
                    <a href="/ui/task-definitions" aria-current=nav_current("/ui/task-definitions")>
                        "Task definitions"
                    </a>
                </nav>
                <span class="spacer"></span>
                <button
                    class="btn ghost"
                    title="Go to (Ctrl+K)"
                    on:click=move |_| {
                        ui::remember_focus();
                        keys::palette_open().set(true);
                    }
                >
                    "Go to… "
                    <kbd>"Ctrl K"</kbd>
                </button>
                <button
                    class="btn ghost"
                    on:click=move |_| {
                        ui::remember_focus();
                        keys::help_open().set(true);
                    }
                >
                    "Shortcuts"
                </button>
                <button
                    class="btn ghost"
                    on:click=move |_| {
                        ui::remember_focus();
                        keys::settings_open().set(true);
                    }
                >
                    "Settings"
                </button>
                <span
                    id="live"
                    class="chip"
                    data-state=move || status.get().key()
                    title="Changes arrive over one server-sent-events stream"
                >
                    {move || status.get().label()}
                </span>
            </header>
            <main id="main" tabindex="-1">
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("/") view=|| view! { <Redirect path="/ui/clusters" /> } />
                    <Route path=path!("/ui") view=|| view! { <Redirect path="/ui/clusters" /> } />
                    <Route path=path!("/ui/clusters") view=clusters::ClustersPage />
                    <Route path=path!("/ui/clusters/:cluster") view=cluster::ClusterPage />
                    <Route path=path!("/ui/clusters/:cluster/tasks/:task") view=task::TaskPage />
                    <Route
                        path=path!("/ui/clusters/:cluster/services/:service")
                        view=service::ServicePage
                    />
                    <Route
                        path=path!("/ui/clusters/:cluster/services/:service/:tab")
                        view=service::ServicePage
                    />
                    <Route path=path!("/ui/clusters/:cluster/:tab") view=cluster::ClusterPage />
                    <Route path=path!("/ui/task-definitions") view=taskdefs::FamiliesPage />
                    <Route path=path!("/ui/editor") view=|| view! { <island::Island kind="editor" /> } />
                    <Route path=path!("/ui/diff") view=|| view! { <island::Island kind="diff" /> } />
                    <Route path=path!("/ui/task-definitions/:family") view=taskdefs::FamilyPage />
                    <Route
                        path=path!("/ui/task-definitions/:family/:revision")
                        view=taskdefs::RevisionPage
                    />
                </Routes>
            </main>
            <ui::DialogHost />
            <keys::HelpDialog />
            <keys::SettingsDialog />
            <keys::Palette />
            <div class="toast" role="status" aria-live="polite">
                {move || ui::toast().get()}
            </div>
        </div>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    ui::ready().set(true);
    view! {
        <section class="page">
            <h1>"Not found"</h1>
            <p>"Nothing lives at this address. " <a href="/ui/clusters">"Go to the clusters"</a> "."</p>
        </section>
    }
}
