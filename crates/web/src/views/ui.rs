//! Pieces every page uses: the page-ready flag, tabs, the filter box (its text lives in the URL),
//! status text, the confirm dialog that runs an action and shows ECS's error, toasts, and the JSON
//! view with a copy button.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use wasm_bindgen::JsCast;

use crate::api::ApiError;
use crate::logic::query;

/// Set once the current screen has its first data (`#app[data-ready]`).
pub fn ready() -> RwSignal<bool> {
    static S: OnceLock<RwSignal<bool>> = OnceLock::new();
    *S.get_or_init(|| crate::global(|| RwSignal::new(false)))
}

/// Marks the screen ready once `state` is loaded.
pub fn ready_when(state: ArcRwSignal<crate::store::Load>) {
    Effect::new(move |_| {
        if state.get() == crate::store::Load::Ready {
            ready().set(true);
        }
    });
}

/// The text of the last action's outcome (`role=status`).
pub fn toast() -> RwSignal<String> {
    static S: OnceLock<RwSignal<String>> = OnceLock::new();
    *S.get_or_init(|| crate::global(|| RwSignal::new(String::new())))
}

/// The query parameter `key` of the current URL.
pub fn query_param(key: &'static str) -> Memo<String> {
    let q = use_query_map();
    Memo::new(move |_| q.with(|q| q.get(key).unwrap_or_default()))
}

/// Sets a query parameter. Edits within a second of each other replace the history entry, so
/// Back goes to the previous filter rather than the previous keystroke.
pub fn set_query_param(key: &'static str) -> impl Fn(String) + Clone + 'static {
    let navigate = use_navigate();
    let location = use_location();
    let last = StoredValue::new(0.0_f64);
    move |value: String| {
        let now = js_sys::Date::now();
        let replace = now - last.get_value() < 1000.0;
        last.set_value(now);
        let path = location.pathname.get_untracked();
        let search = location.search.get_untracked();
        let url = query::with_param(&path, &search, key, &value);
        navigate(
            &url,
            NavigateOptions {
                replace,
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    }
}

/// The filter box of a page's table: `input[type=search]` labelled Filter, bound to `?q=`.
#[component]
pub fn FilterBox(#[prop(into)] placeholder: String) -> impl IntoView {
    let q = query_param("q");
    let set = set_query_param("q");
    view! {
        <label class="filter">
            <span class="sr-only">"Filter"</span>
            <input
                type="search"
                aria-label="Filter"
                placeholder=placeholder
                prop:value=move || q.get()
                on:input=move |ev| set(event_target_value(&ev))
            />
        </label>
    }
}

/// Tabs as links; the active one has `aria-current="page"`.
#[component]
pub fn Tabs(
    tabs: Vec<(&'static str, &'static str, String)>,
    active: Memo<String>,
) -> impl IntoView {
    view! {
        <nav class="tabs" aria-label="Sections">
            {tabs
                .into_iter()
                .map(|(key, label, href)| {
                    view! {
                        <a
                            href=href
                            aria-current=move || (active.get() == key).then_some("page")
                        >
                            {label}
                        </a>
                    }
                })
                .collect_view()}
        </nav>
    }
}

/// A status as text with a tone for colour (`status-ok`, `status-bad` …): never colour alone.
pub fn tone(status: &str) -> &'static str {
    match status {
        "RUNNING" | "ACTIVE" | "HEALTHY" | "COMPLETED" | "SUCCESSFUL" | "PRIMARY" => "ok",
        "STOPPED" | "FAILED" | "UNHEALTHY" | "INACTIVE" | "DEREGISTERING" => "bad",
        "PENDING" | "PROVISIONING" | "ACTIVATING" | "DEACTIVATING" | "STOPPING"
        | "DEPROVISIONING" | "IN_PROGRESS" | "DRAINING" => "warn",
        _ => "neutral",
    }
}

/// A status cell's content.
pub fn status_text(status: String) -> impl IntoView {
    let class = format!("status status-{}", tone(&status));
    let text = if status.is_empty() {
        "—".to_string()
    } else {
        status
    };
    view! { <span class=class>{text}</span> }
}

/// The future a dialog runs: the fields' values in, the toast text or ECS's error out.
pub type Run = Arc<
    dyn Fn(Vec<String>) -> Pin<Box<dyn Future<Output = Result<String, ApiError>>>> + Send + Sync,
>;

/// One input of a dialog.
#[derive(Clone)]
pub struct Field {
    /// The label.
    pub label: String,
    /// The initial value.
    pub value: String,
    /// `text`, `number`, or `select` (with `options`).
    pub kind: &'static str,
    /// `(value, label)` for selects.
    pub options: Vec<(String, String)>,
}

impl Field {
    /// A text field.
    pub fn text(label: &str, value: &str) -> Field {
        Field {
            label: label.into(),
            value: value.into(),
            kind: "text",
            options: Vec::new(),
        }
    }
    /// A number field.
    pub fn number(label: &str, value: i64) -> Field {
        Field {
            label: label.into(),
            value: value.to_string(),
            kind: "number",
            options: Vec::new(),
        }
    }
    /// A select.
    pub fn select(label: &str, options: Vec<(String, String)>) -> Field {
        Field {
            label: label.into(),
            value: options.first().map(|o| o.0.clone()).unwrap_or_default(),
            kind: "select",
            options,
        }
    }
}

/// A dialog that asks, then runs one action.
#[derive(Clone)]
pub struct Dialog {
    /// The heading.
    pub title: String,
    /// What will happen.
    pub body: String,
    /// Inputs.
    pub fields: Vec<Field>,
    /// When set, this text must be typed to enable Confirm.
    pub typed_confirm: Option<String>,
    /// Red Confirm button.
    pub danger: bool,
    /// The action.
    pub run: Run,
}

/// The open dialog, if any.
pub fn dialog() -> RwSignal<Option<Dialog>> {
    static S: OnceLock<RwSignal<Option<Dialog>>> = OnceLock::new();
    *S.get_or_init(|| crate::global(|| RwSignal::new(None)))
}

thread_local! {
    static RETURN_FOCUS: RefCell<Option<web_sys::HtmlElement>> = const { RefCell::new(None) };
}

/// Remembers the focused element, to give focus back when a dialog closes.
pub fn remember_focus() {
    let el = document()
        .active_element()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    RETURN_FOCUS.with(|f| *f.borrow_mut() = el);
}

/// Gives focus back to what had it before the dialog opened.
pub fn restore_focus() {
    RETURN_FOCUS.with(|f| {
        if let Some(el) = f.borrow_mut().take() {
            let _ = el.focus();
        }
    });
}

/// Opens a dialog (remembering the focus to return to).
pub fn open_dialog(d: Dialog) {
    remember_focus();
    dialog().set(Some(d));
}

/// Closes whatever dialog is open; returns whether one was.
pub fn close_dialogs() -> bool {
    let mut closed = false;
    if dialog().get_untracked().is_some() {
        dialog().set(None);
        closed = true;
    }
    for s in [
        super::keys::help_open(),
        super::keys::palette_open(),
        super::keys::settings_open(),
    ] {
        if s.get_untracked() {
            s.set(false);
            closed = true;
        }
    }
    if closed {
        restore_focus();
    }
    closed
}

/// The action dialog, rendered at the app's root.
#[component]
pub fn DialogHost() -> impl IntoView {
    move || {
        dialog().get().map(|d| {
            let values: Vec<RwSignal<String>> =
                d.fields.iter().map(|f| RwSignal::new(f.value.clone())).collect();
            let typed = RwSignal::new(String::new());
            let error = RwSignal::new(String::new());
            let busy = RwSignal::new(false);
            let must_type = d.typed_confirm.clone();
            let must_type2 = must_type.clone();
            let can_confirm = move || {
                !busy.get() && must_type2.as_ref().is_none_or(|t| typed.get() == *t)
            };
            let run = d.run.clone();
            let vals = values.clone();
            let confirm = move || {
                if busy.get_untracked() {
                    return;
                }
                busy.set(true);
                error.set(String::new());
                let args: Vec<String> = vals.iter().map(|v| v.get_untracked()).collect();
                let fut = run(args);
                leptos::task::spawn_local(async move {
                    match fut.await {
                        Ok(msg) => {
                            busy.set(false);
                            toast().set(msg);
                            dialog().set(None);
                            restore_focus();
                        }
                        Err(e) => {
                            busy.set(false);
                            error.set(e.to_string());
                        }
                    }
                });
            };
            let confirm2 = confirm.clone();
            let fields = d
                .fields
                .iter()
                .cloned()
                .zip(values)
                .enumerate()
                .map(|(i, (f, v))| {
                    let id = format!("dlg-field-{i}");
                    let input = if f.kind == "select" {
                        view! {
                            <select id=id.clone() on:change=move |ev| v.set(event_target_value(&ev))>
                                {f.options
                                    .iter()
                                    .map(|(val, label)| {
                                        view! { <option value=val.clone()>{label.clone()}</option> }
                                    })
                                    .collect_view()}
                            </select>
                        }
                        .into_any()
                    } else {
                        view! {
                            <input
                                id=id.clone()
                                type=f.kind
                                min=(f.kind == "number").then_some("0")
                                prop:value=move || v.get()
                                on:input=move |ev| v.set(event_target_value(&ev))
                            />
                        }
                        .into_any()
                    };
                    view! {
                        <div class="field">
                            <label for=id>{f.label.clone()}</label>
                            {input}
                        </div>
                    }
                })
                .collect_view();
            let confirm_class = if d.danger { "btn danger" } else { "btn primary" };
            view! {
                <div class="backdrop" on:click=move |_| { close_dialogs(); }>
                    <div
                        class="dialog"
                        role="dialog"
                        aria-modal="true"
                        aria-labelledby="dlg-title"
                        on:click=|ev| ev.stop_propagation()
                        on:keydown=move |ev: web_sys::KeyboardEvent| {
                            if ev.key() == "Enter" && ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()).is_some() {
                                ev.prevent_default();
                                confirm2();
                            }
                        }
                    >
                        <h2 id="dlg-title">{d.title.clone()}</h2>
                        <p>{d.body.clone()}</p>
                        {fields}
                        {must_type
                            .clone()
                            .map(|name| {
                                view! {
                                    <div class="field">
                                        <label for="dlg-typed">
                                            "Type the service name to confirm"
                                        </label>
                                        <input
                                            id="dlg-typed"
                                            type="text"
                                            autocomplete="off"
                                            placeholder=name
                                            prop:value=move || typed.get()
                                            on:input=move |ev| typed.set(event_target_value(&ev))
                                        />
                                    </div>
                                }
                            })}
                        <Show when=move || !error.get().is_empty()>
                            <p role="alert" class="error">{move || error.get()}</p>
                        </Show>
                        <div class="buttons">
                            <button class="btn" on:click=move |_| { close_dialogs(); }>"Cancel"</button>
                            <button
                                class=confirm_class
                                disabled=move || !can_confirm() || writes_off()
                                title=read_only
                                on:click=move |_| confirm()
                            >
                                {move || if busy.get() { "Working…" } else { "Confirm" }}
                            </button>
                        </div>
                    </div>
                </div>
            }
        })
    }
}

/// Focuses the first field (or the Confirm button) of a dialog that just opened.
pub fn focus_first_in_dialog() {
    let doc = document();
    let el = doc
        .query_selector(
            "[role=dialog] input, [role=dialog] select, [role=dialog] button:last-child",
        )
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(el) = el {
        let _ = el.focus();
    }
}

/// Pretty JSON with a copy button.
#[component]
pub fn JsonView(#[prop(into)] text: Signal<String>) -> impl IntoView {
    let copied = RwSignal::new(false);
    view! {
        <div class="json">
            <button
                class="btn small"
                on:click=move |_| {
                    let clip = window().navigator().clipboard();
                    let _ = clip.write_text(&text.get_untracked());
                    copied.set(true);
                }
            >
                {move || if copied.get() { "Copied" } else { "Copy JSON" }}
            </button>
            <pre tabindex="0" aria-label="JSON">
                <code>{move || text.get()}</code>
            </pre>
        </div>
    }
}

/// The loading / error line of a collection.
pub fn load_line(state: crate::store::Load) -> impl IntoView {
    use crate::store::Load;
    match state {
        Load::Idle | Load::Loading => view! { <p class="muted">"Loading…"</p> }.into_any(),
        Load::Failed(e) => view! { <p role="alert" class="error">{e}</p> }.into_any(),
        Load::Ready => ().into_any(),
    }
}

/// Milliseconds the server's clock is ahead of the browser's (a manual test clock can be hours
/// ahead), from `/_berth/info`'s `now`.
pub fn clock_offset() -> RwSignal<f64> {
    static S: OnceLock<RwSignal<f64>> = OnceLock::new();
    *S.get_or_init(|| crate::global(|| RwSignal::new(0.0)))
}

/// Asks the server for its clock and how its changes arrive (live, or polled from an
/// upstream).
pub fn load_server_info() {
    leptos::task::spawn_local(async {
        if let Ok(info) = crate::api::info().await {
            if let Some(now) = info.get("now").and_then(serde_json::Value::as_f64) {
                clock_offset().set(now * 1000.0 - js_sys::Date::now());
            }
            crate::live::feed().set(crate::logic::session::Feed::of_info(&info));
        }
    });
}

/// Why change controls are off (their tooltip), or `None`; tracked. Every control that would
/// change something is `disabled` with this as its `title` (the server refuses anyway).
pub fn read_only() -> Option<&'static str> {
    crate::session::read_only_reason()
}

/// Whether change controls are off; tracked.
pub fn writes_off() -> bool {
    read_only().is_some()
}

/// A button that changes something: disabled, with [`read_only`]'s reason as its tooltip,
/// while the session may not change anything. One concrete component (not a generic one) for
/// every such button, so the wasm carries its rendering once.
#[component]
pub fn WriteButton(
    /// Its classes (`btn primary` …).
    class: &'static str,
    /// Its text (the accessible name the tests use).
    label: &'static str,
    /// What it does.
    on_click: Box<dyn Fn()>,
) -> impl IntoView {
    view! {
        <button class=class disabled=writes_off title=read_only on:click=move |_| on_click()>
            {label}
        </button>
    }
}

/// The server's current time, as well as the browser can tell.
pub fn server_now() -> chrono::DateTime<chrono::Utc> {
    let ms = js_sys::Date::now() + clock_offset().get_untracked();
    chrono::DateTime::from_timestamp_millis(ms as i64).unwrap_or_default()
}

/// The first element of `member` of an ECS answer, pretty-printed, fetched as plain JSON (so the
/// JSON views need no serialiser for the typed model) and refetched when `track` changes.
#[component]
pub fn RawJson(
    action: &'static str,
    body: serde_json::Value,
    member: &'static str,
    #[prop(into)] track: Signal<()>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    Effect::new(move |_| {
        track.get();
        let body = body.clone();
        leptos::task::spawn_local(async move {
            let t = match crate::api::ecs_json(action, body).await {
                Ok(v) => serde_json::to_string_pretty(
                    v.get(member)
                        .and_then(|m| m.get(0))
                        .unwrap_or(&serde_json::Value::Null),
                )
                .unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            text.set(t);
        });
    });
    view! { <JsonView text=text /> }
}
