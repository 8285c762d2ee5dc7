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

use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::components::{Redirect, Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::path;

use crate::live;
use crate::session::{self, Phase};

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

/// The whole app: the sign-in screen until the tab has a session (or login is off), then the
/// router.
#[component]
pub fn App() -> impl IntoView {
    keys::install_theme();
    expose_page_functions();
    session::bootstrap();
    // Only a change of phase re-renders the app (not every session detail).
    let screen = Memo::new(|_| match session::phase().get() {
        Phase::Checking => 0,
        Phase::SignIn(_) => 1,
        Phase::Unreachable(_) => 2,
        Phase::Ready => 3,
    });
    // `Either`s rather than `into_any`: typed views cost the wasm less than erased ones.
    move || match screen.get() {
        3 => Either::Left(view! {
            <Router>
                <Shell />
            </Router>
        }),
        1 | 2 => Either::Right(Either::Left(view! { <SignInScreen /> })),
        _ => Either::Right(Either::Right(view! { <p class="muted">"Loading…"</p> })),
    }
}

/// The screen of a tab without a session (`main[data-testid=sign-in]`): the form is an island
/// (`crate::islands::signin`); a server that did not answer gets "Try again".
#[component]
fn SignInScreen() -> impl IntoView {
    view! {
        <main id="main" class="page" data-testid="sign-in">
            <h1>"Sign in to Berth"</h1>
            {move || match session::phase().get() {
                Phase::Unreachable(m) => Either::Left(view! {
                    <p class="error" role="alert">{format!("The Berth server did not answer: {m}")}</p>
                    <button class="btn primary" on:click=|_| leptos::task::spawn_local(session::refresh(None))>
                        "Try again"
                    </button>
                }),
                Phase::SignIn(m) => Either::Right(view! {
                    <island::Island kind="sign-in" props=serde_json::json!({ "message": m }) />
                }),
                _ => Either::Right(view! { <island::Island kind="sign-in" /> }),
            }}
        </main>
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
    let feed = live::feed();
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
                    <a href="/ui/audit" aria-current=nav_current("/ui/audit")>"Audit"</a>
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
                    data-mode=move || if feed.with(|f| f.polled) { "polled" } else { "live" }
                    title=move || feed.with(|f| f.title())
                >
                    {move || match status.get() {
                        live::Status::Live => feed.with(|f| f.label()),
                        s => s.label().to_string(),
                    }}
                </span>
                {move || session::current().with(|s| s.badge()).map(|b| view! {
                    <span id="role" class="badge" title=session::read_only_reason>{b}</span>
                })}
                <Show when=move || session::current().with(|s| s.login)>
                    <button class="btn ghost" on:click=|_| session::sign_out()>"Sign out"</button>
                </Show>
            </header>
            {move || live::upstream_problem().get().map(|p| view! {
                <p id="upstream-error" class="error banner" role="alert">{p.banner()}</p>
            })}
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
                    <Route path=path!("/ui/task-definitions/:family") view=taskdefs::FamilyPage />
                    <Route
                        path=path!("/ui/task-definitions/:family/:revision")
                        view=taskdefs::RevisionPage
                    />
                    // The whole-page islands (`/ui/editor`, `/ui/diff`, `/ui/audit`) share one
                    // route, after the named ones: every route costs the router's matching code.
                    <Route path=path!("/ui/:tool") view=ToolPage />
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

/// `/ui/editor`, `/ui/diff`, `/ui/audit`: an island that is the whole page.
#[component]
fn ToolPage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    move || {
        let kind = match params.with(|p| p.get("tool")).as_deref() {
            Some("editor") => "editor",
            Some("diff") => "diff",
            Some("audit") => "audit",
            _ => return Either::Right(view! { <NotFound /> }),
        };
        Either::Left(view! { <island::Island kind=kind /> })
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
