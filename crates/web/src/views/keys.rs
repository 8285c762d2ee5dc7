//! The keyboard, the palette, the help and settings dialogs, and the theme. The decisions are
//! [`crate::logic::keymap`] and [`crate::logic::palette`]; this module only listens and acts.

use std::sync::OnceLock;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};
use wasm_bindgen::JsCast;

use crate::logic::keymap::{Command, HELP, Keymap, Press};
use crate::logic::palette::{Entry, rank};
use crate::logic::query::{decode, paths};
use crate::store::store;

use super::ui::{close_dialogs, remember_focus};

fn flag(cell: &'static OnceLock<RwSignal<bool>>) -> RwSignal<bool> {
    *cell.get_or_init(|| crate::global(|| RwSignal::new(false)))
}

/// Whether the shortcuts dialog is open.
pub fn help_open() -> RwSignal<bool> {
    static S: OnceLock<RwSignal<bool>> = OnceLock::new();
    flag(&S)
}
/// Whether the palette is open.
pub fn palette_open() -> RwSignal<bool> {
    static S: OnceLock<RwSignal<bool>> = OnceLock::new();
    flag(&S)
}
/// Whether the settings dialog is open.
pub fn settings_open() -> RwSignal<bool> {
    static S: OnceLock<RwSignal<bool>> = OnceLock::new();
    flag(&S)
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

fn stored(key: &str) -> Option<String> {
    storage().and_then(|s| s.get_item(key).ok().flatten())
}

fn store_item(key: &str, value: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(key, value);
    }
}

/// The user's settings (persisted in `localStorage`).
#[derive(Clone, Copy)]
pub struct Settings {
    /// `system`, `light` or `dark`.
    pub theme: RwSignal<String>,
    /// Single-key shortcuts on.
    pub single_keys: RwSignal<bool>,
    /// What the system prefers (dark?).
    pub system_dark: RwSignal<bool>,
}

/// The settings of this tab.
pub fn settings() -> Settings {
    static S: OnceLock<Settings> = OnceLock::new();
    *S.get_or_init(|| {
        crate::global(|| Settings {
            theme: RwSignal::new(stored("berth.theme").unwrap_or_else(|| "system".into())),
            single_keys: RwSignal::new(stored("berth.singleKeys").as_deref() != Some("off")),
            system_dark: RwSignal::new(false),
        })
    })
}

/// Applies the theme to `<html data-theme>` and follows the system setting.
pub fn install_theme() {
    let s = settings();
    if let Ok(Some(mq)) = window().match_media("(prefers-color-scheme: dark)") {
        s.system_dark.set(mq.matches());
        let cb = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(
            move |e: web_sys::Event| {
                if let Some(m) = e.dyn_ref::<web_sys::MediaQueryListEvent>() {
                    s.system_dark.set(m.matches());
                }
            },
        );
        let _ = mq.add_event_listener_with_callback("change", cb.as_ref().unchecked_ref());
        cb.forget();
    }
    Effect::new(move |_| {
        let theme = s.theme.get();
        let dark = match theme.as_str() {
            "dark" => true,
            "light" => false,
            _ => s.system_dark.get(),
        };
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-theme", if dark { "dark" } else { "light" });
        }
    });
}

fn in_field(target: Option<web_sys::EventTarget>) -> bool {
    let Some(el) = target.and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else {
        return false;
    };
    matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
        || el.get_attribute("contenteditable").is_some()
}

fn current_cluster(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/ui/clusters/")?;
    let c = rest.split('/').next().filter(|c| !c.is_empty())?;
    Some(decode(c))
}

fn rows() -> Vec<web_sys::HtmlElement> {
    let mut out = Vec::new();
    if let Ok(list) = document().query_selector_all("table[data-table] tbody tr[data-key]") {
        for i in 0..list.length() {
            if let Some(el) = list
                .item(i)
                .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
            {
                out.push(el);
            }
        }
    }
    out
}

/// Remembered row focus per list URL, so Esc back to a list focuses the same row.
fn remembered() -> &'static std::sync::Mutex<std::collections::HashMap<String, String>> {
    static S: OnceLock<std::sync::Mutex<std::collections::HashMap<String, String>>> =
        OnceLock::new();
    S.get_or_init(Default::default)
}

fn url_key() -> String {
    let l = window().location();
    format!(
        "{}{}",
        l.pathname().unwrap_or_default(),
        l.search().unwrap_or_default()
    )
}

fn select_row(el: &web_sys::HtmlElement) {
    for r in rows() {
        let _ = r.set_attribute("aria-selected", "false");
    }
    let _ = el.set_attribute("aria-selected", "true");
    let _ = el.focus();
    if let Some(k) = el.get_attribute("data-key") {
        remembered()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(url_key(), k);
    }
}

fn move_row(delta: i32) {
    let rows = rows();
    if rows.is_empty() {
        return;
    }
    let current = rows
        .iter()
        .position(|r| r.get_attribute("aria-selected").as_deref() == Some("true"));
    let next = match current {
        None => 0,
        Some(i) => (i as i32 + delta).clamp(0, rows.len() as i32 - 1) as usize,
    };
    select_row(&rows[next]);
}

/// Gives the remembered row of this URL its focus back (after Back).
pub fn restore_row() {
    let key = remembered()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&url_key())
        .cloned();
    if let Some(k) = key
        && let Some(el) = rows()
            .into_iter()
            .find(|r| r.get_attribute("data-key").as_deref() == Some(k.as_str()))
    {
        select_row(&el);
    }
}

fn open_row() {
    if let Some(row) = rows()
        .into_iter()
        .find(|r| r.get_attribute("aria-selected").as_deref() == Some("true"))
        && let Ok(Some(a)) = row.query_selector("a[href]")
        && let Ok(a) = a.dyn_into::<web_sys::HtmlElement>()
    {
        a.click();
    }
}

/// Installs the window's keydown listener.
pub fn install_keys() {
    let navigate = use_navigate();
    let location = use_location();
    let keymap = StoredValue::new(Keymap::new(settings().single_keys.get_untracked()));
    let handle = window_event_listener(leptos::ev::keydown, move |ev: web_sys::KeyboardEvent| {
        let dialog_open = super::ui::dialog().get_untracked().is_some()
            || help_open().get_untracked()
            || palette_open().get_untracked()
            || settings_open().get_untracked();
        let press = Press {
            key: ev.key(),
            ctrl: ev.ctrl_key(),
            meta: ev.meta_key(),
            alt: ev.alt_key(),
            in_field: in_field(ev.target()),
            at_ms: js_sys::Date::now(),
        };
        let mut cmd = None;
        keymap.update_value(|k| {
            k.single_keys = settings().single_keys.get_untracked();
            cmd = k.feed(&press);
        });
        let Some(cmd) = cmd else { return };
        if dialog_open && !matches!(cmd, Command::Back) {
            return;
        }
        let go = |path: String| navigate(&path, NavigateOptions::default());
        match cmd {
            Command::Back => {
                if !close_dialogs() && !press.in_field {
                    let _ = window().history().map(|h| h.back());
                } else if press.in_field
                    && let Some(el) = ev
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
                {
                    let _ = el.blur();
                }
                return;
            }
            Command::Palette => {
                remember_focus();
                palette_open().set(true);
            }
            Command::Help => {
                remember_focus();
                help_open().set(true);
            }
            Command::GoClusters => go(paths::clusters()),
            Command::GoTaskDefinitions => go(paths::families()),
            Command::GoServices | Command::GoTasks => {
                let path = location.pathname.get_untracked();
                let tab = if cmd == Command::GoServices {
                    "services"
                } else {
                    "tasks"
                };
                match current_cluster(&path) {
                    Some(c) => go(paths::cluster(&c, tab)),
                    None => go(paths::clusters()),
                }
            }
            Command::FocusFilter => {
                if let Ok(Some(el)) = document().query_selector("input[type=search]")
                    && let Ok(el) = el.dyn_into::<web_sys::HtmlElement>()
                {
                    let _ = el.focus();
                }
            }
            Command::Down => move_row(1),
            Command::Up => move_row(-1),
            Command::Open => {
                // Enter on a focused link or button does its own thing.
                let on_control = document()
                    .active_element()
                    .is_some_and(|e| matches!(e.tag_name().as_str(), "A" | "BUTTON" | "SUMMARY"));
                if on_control {
                    return;
                }
                open_row();
            }
        }
        ev.prevent_default();
    });
    on_cleanup(move || handle.remove());
}

/// The shortcuts dialog.
#[component]
pub fn HelpDialog() -> impl IntoView {
    view! {
        <Show when=move || help_open().get()>
            <div class="backdrop" on:click=move |_| { close_dialogs(); }>
                <div
                    class="dialog"
                    role="dialog"
                    aria-modal="true"
                    aria-labelledby="help-title"
                    on:click=|ev| ev.stop_propagation()
                >
                    <h2 id="help-title">"Keyboard shortcuts"</h2>
                    <table class="plain">
                        <thead>
                            <tr>
                                <th scope="col">"Keys"</th>
                                <th scope="col">"Action"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {HELP
                                .iter()
                                .map(|(k, what)| {
                                    view! {
                                        <tr>
                                            <td>
                                                <kbd>{*k}</kbd>
                                            </td>
                                            <td>{*what}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                    <p class="muted">
                        "Single-key shortcuts can be turned off in Settings; Ctrl+K and Esc always work."
                    </p>
                    <div class="buttons">
                        <button class="btn" on:click=move |_| { close_dialogs(); }>"Close"</button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

/// The settings dialog: theme and single-key shortcuts.
#[component]
pub fn SettingsDialog() -> impl IntoView {
    let s = settings();
    let radio = move |value: &'static str, label: &'static str| {
        view! {
            <label class="radio">
                <input
                    type="radio"
                    name="theme"
                    value=value
                    prop:checked=move || s.theme.get() == value
                    on:change=move |_| {
                        s.theme.set(value.to_string());
                        store_item("berth.theme", value);
                    }
                />
                {label}
            </label>
        }
    };
    view! {
        <Show when=move || settings_open().get()>
            <div class="backdrop" on:click=move |_| { close_dialogs(); }>
                <div
                    class="dialog"
                    role="dialog"
                    aria-modal="true"
                    aria-labelledby="settings-title"
                    on:click=|ev| ev.stop_propagation()
                >
                    <h2 id="settings-title">"Settings"</h2>
                    <fieldset>
                        <legend>"Theme"</legend>
                        {radio("system", "System")}
                        {radio("light", "Light")}
                        {radio("dark", "Dark")}
                    </fieldset>
                    <label class="check">
                        <input
                            type="checkbox"
                            prop:checked=move || s.single_keys.get()
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                s.single_keys.set(on);
                                store_item("berth.singleKeys", if on { "on" } else { "off" });
                            }
                        />
                        "Single-key shortcuts"
                    </label>
                    <div class="buttons">
                        <button class="btn" on:click=move |_| { close_dialogs(); }>"Close"</button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

fn palette_entries() -> Vec<Entry> {
    let s = store();
    let mut out = Vec::new();
    let clusters: Vec<String> = s
        .clusters()
        .list
        .with_untracked(|l| l.iter().map(|r| r.key.to_string()).collect());
    for c in &clusters {
        out.push(Entry {
            kind: "Cluster",
            label: c.clone(),
            href: paths::cluster(c, "services"),
        });
    }
    for c in &clusters {
        for r in s.services(c).list.get_untracked() {
            out.push(Entry {
                kind: "Service",
                label: format!("{c}/{}", r.key),
                href: paths::service(c, &r.key, "overview"),
            });
        }
        for r in s.tasks(c).list.get_untracked().iter().take(2000) {
            out.push(Entry {
                kind: "Task",
                label: format!("{c}/{}", r.key),
                href: paths::task(c, &r.key),
            });
        }
    }
    for r in s.families().list.get_untracked() {
        out.push(Entry {
            kind: "Family",
            label: r.key.to_string(),
            href: paths::family(&r.key),
        });
    }
    out
}

/// Follows the palette's active option (its link, so the router navigates).
fn follow(i: usize) {
    palette_open().set(false);
    let link = document()
        .get_element_by_id(&format!("palette-opt-{i}"))
        .and_then(|li| li.query_selector("a").ok().flatten())
        .and_then(|a| a.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(a) = link {
        a.click();
    }
}

/// The Ctrl/Cmd+K palette.
#[component]
pub fn Palette() -> impl IntoView {
    let query = RwSignal::new(String::new());
    let active = RwSignal::new(0usize);
    let input = NodeRef::<leptos::html::Input>::new();
    // Entries are gathered when the palette opens (and follow the clusters as they load).
    let entries = Memo::new(move |_| {
        if palette_open().get() {
            store().clusters.list.track();
            palette_entries()
        } else {
            Vec::new()
        }
    });
    let results = Memo::new(move |_| {
        let q = query.get();
        entries.with(|e| rank(e, &q, 12).into_iter().cloned().collect::<Vec<_>>())
    });
    Effect::new(move |_| {
        if palette_open().get() {
            query.set(String::new());
            active.set(0);
            request_animation_frame(move || {
                if let Some(i) = input.get_untracked() {
                    let _ = i.focus();
                }
            });
        }
    });
    view! {
        <Show when=move || palette_open().get()>
            <div class="backdrop" on:click=move |_| { close_dialogs(); }>
                <div
                    class="dialog palette"
                    role="dialog"
                    aria-modal="true"
                    aria-label="Go to"
                    on:click=|ev| ev.stop_propagation()
                >
                    <input
                        node_ref=input
                        type="text"
                        role="combobox"
                        aria-label="Go to"
                        aria-expanded="true"
                        aria-controls="palette-list"
                        aria-autocomplete="list"
                        aria-activedescendant=move || format!("palette-opt-{}", active.get())
                        placeholder="Cluster, service, task or family…"
                        prop:value=move || query.get()
                        on:input=move |ev| {
                            query.set(event_target_value(&ev));
                            active.set(0);
                        }
                        on:keydown=move |ev: web_sys::KeyboardEvent| {
                            let n = results.with_untracked(Vec::len);
                            match ev.key().as_str() {
                                "ArrowDown" => {
                                    ev.prevent_default();
                                    active.update(|a| *a = (*a + 1).min(n.saturating_sub(1)));
                                }
                                "ArrowUp" => {
                                    ev.prevent_default();
                                    active.update(|a| *a = a.saturating_sub(1));
                                }
                                "Enter" => {
                                    ev.prevent_default();
                                    if n > 0 {
                                        follow(active.get_untracked());
                                    }
                                }
                                _ => {}
                            }
                        }
                    />
                    <ul id="palette-list" role="listbox" aria-label="Results">
                        {move || {
                            results
                                .get()
                                .into_iter()
                                .enumerate()
                                .map(|(i, e)| {
                                    view! {
                                        <li
                                            id=format!("palette-opt-{i}")
                                            role="option"
                                            aria-selected=move || (active.get() == i).to_string()
                                        >
                                            <a href=e.href.clone() tabindex="-1" on:click=move |_| palette_open().set(false)>
                                                <span class="kind">{e.kind}</span>
                                                " "
                                                {e.label.clone()}
                                            </a>
                                        </li>
                                    }
                                })
                                .collect_view()
                        }}
                    </ul>
                </div>
            </div>
        </Show>
    }
}
