//! The tasks table: every task of a cluster (or of one service), running and stopped, with why
//! it stopped shown by default; virtualised so 10,000 tasks keep a few dozen rows in the DOM, and
//! each row behind its own signal so one task's change touches one row.

use std::sync::Arc;

use crate::wire as w;
use leptos::prelude::*;

use crate::logic::filter::Filter;
use crate::logic::fmt;
use crate::logic::query::paths;
use crate::logic::window::window as vwindow;
use crate::store::store;

use super::ui::{FilterBox, load_line, query_param, ready_when, set_query_param, status_text};

/// Pixel height of one row (the CSS keeps rows at exactly this height).
const ROW_PX: u32 = 34;

/// What a row shows, computed once per change of its task.
#[derive(Clone, PartialEq)]
struct View {
    status: String,
    desired: String,
    health: String,
    revision: String,
    group: String,
    started: String,
    reason: String,
    stop_code: String,
    exit_code: String,
    stopped_at: String,
    retained: bool,
    created_ms: i64,
}

fn view_of(t: &w::Task) -> View {
    let exit = t
        .containers
        .as_ref()
        .and_then(|cs| cs.iter().find_map(|c| c.exit_code))
        .map(|c| c.to_string())
        .unwrap_or_default();
    View {
        status: t.last_status.clone().unwrap_or_default(),
        desired: t.desired_status.clone().unwrap_or_default(),
        health: t
            .health_status
            .as_ref()
            .map(|h| h.as_str().to_string())
            .unwrap_or_default(),
        revision: fmt::family_revision(t.task_definition_arn.as_deref().unwrap_or_default())
            .to_string(),
        group: t.group.clone().unwrap_or_default(),
        started: fmt::time(t.started_at.as_ref()),
        reason: t.stopped_reason.clone().unwrap_or_default(),
        stop_code: t
            .stop_code
            .as_ref()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        exit_code: exit,
        stopped_at: if t.stopped_at.is_some() {
            fmt::time(t.stopped_at.as_ref())
        } else {
            String::new()
        },
        retained: fmt::retained(super::ui::server_now(), t.stopped_at.as_ref()),
        created_ms: fmt::epoch_ms(t.created_at.as_ref()),
    }
}

/// The tasks of `cluster`, or of its service `service`.
#[component]
pub fn TasksTable(cluster: String, #[prop(optional)] service: Option<String>) -> impl IntoView {
    let rows = store().tasks(&cluster);
    let state = rows.state.clone();
    ready_when(state.clone());
    let q = query_param("q");
    let status = query_param("status");
    let set_status = set_query_param("status");
    let group = service.map(|s| format!("service:{s}"));
    let list = rows.list.clone();
    // Filtered and sorted keys (newest first).
    let visible = Memo::new(move |_| {
        let f = Filter::parse(&q.get());
        let st = status.get();
        let mut keep: Vec<(i64, Arc<str>)> = list.with(|l| {
            l.iter()
                .filter_map(|r| {
                    r.data.with(|t| {
                        let v = view_of(t);
                        if group.as_ref().is_some_and(|g| &v.group != g) {
                            return None;
                        }
                        let status_ok = match st.as_str() {
                            "RUNNING" => v.desired == "RUNNING",
                            "STOPPED" => v.desired == "STOPPED",
                            _ => true,
                        };
                        let fields = [
                            ("task", &*r.key),
                            ("status", v.status.as_str()),
                            ("health", v.health.as_str()),
                            ("revision", v.revision.as_str()),
                            ("group", v.group.as_str()),
                            ("reason", v.reason.as_str()),
                            ("code", v.stop_code.as_str()),
                            ("exit", v.exit_code.as_str()),
                        ];
                        (status_ok && f.matches(&fields)).then(|| (v.created_ms, r.key.clone()))
                    })
                })
                .collect()
        });
        keep.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        keep.into_iter().map(|(_, k)| k).collect::<Vec<_>>()
    });
    let scroll = RwSignal::new(0.0_f64);
    let viewport = RwSignal::new(600.0_f64);
    let win =
        Memo::new(move |_| vwindow(visible.with(Vec::len), ROW_PX, scroll.get(), viewport.get()));
    let slice = Memo::new(move |_| {
        let w = win.get();
        visible.with(|v| v[w.start..w.end].to_vec())
    });
    let rows2 = rows.clone();
    let count = move || visible.with(Vec::len);
    let status_select = move || {
        let current = status.get();
        let set = set_status.clone();
        view! {
            <label class="inline">
                "Status "
                <select on:change=move |ev| {
                    let v = event_target_value(&ev);
                    set(if v == "all" { String::new() } else { v })
                }>
                    {[("all", "All"), ("RUNNING", "Running"), ("STOPPED", "Stopped")]
                        .into_iter()
                        .map(|(v, l)| {
                            let selected = current == v || (v == "all" && current.is_empty());
                            view! { <option value=v selected=selected>{l}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
        }
    };
    let cluster2 = cluster.clone();
    view! {
        <div class="table-tools">
            <FilterBox placeholder="Filter tasks: text, status:STOPPED, exit:1, -running" />
            {status_select}
            <span class="muted" aria-live="polite">{move || format!("{} tasks", count())}</span>
        </div>
        {move || load_line(state.get())}
        <div
            class="scroller"
            on:scroll=move |ev| {
                use wasm_bindgen::JsCast;
                if let Some(el) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
                    scroll.set(f64::from(el.scroll_top()));
                    viewport.set(f64::from(el.client_height()));
                }
            }
        >
            <table data-table="tasks" class="fixed-rows">
                <thead>
                    <tr>
                        <th scope="col">"Task"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Health"</th>
                        <th scope="col">"Revision"</th>
                        <th scope="col">"Started"</th>
                        <th scope="col">"Stopped reason"</th>
                        <th scope="col">"Stop code"</th>
                        <th scope="col" class="num">"Exit code"</th>
                        <th scope="col">"Stopped at"</th>
                    </tr>
                </thead>
                <tbody>
                    <tr class="spacer" aria-hidden="true" style:height=move || format!("{}px", win.get().top)></tr>
                    <For
                        each=move || slice.get()
                        key=|k| k.clone()
                        children=move |k| {
                            let row = rows2.list.with_untracked(|l| l.iter().find(|r| r.key == k).cloned());
                            let cluster = cluster2.clone();
                            row.map(move |r| {
                                let d = r.data;
                                let v = Memo::new(move |_| d.with(view_of));
                                let id = k.to_string();
                                view! {
                                    <tr data-key=id.clone() tabindex="-1" aria-selected="false">
                                        <td class="mono">
                                            <a href=paths::task(&cluster, &id)>{id.clone()}</a>
                                        </td>
                                        <td>{move || status_text(v.with(|v| v.status.clone()))}</td>
                                        <td>{move || v.with(|v| v.health.clone())}</td>
                                        <td>{move || v.with(|v| v.revision.clone())}</td>
                                        <td>{move || v.with(|v| v.started.clone())}</td>
                                        <td class="reason" title=move || v.with(|v| v.reason.clone())>
                                            {move || v.with(|v| v.reason.clone())}
                                        </td>
                                        <td>{move || v.with(|v| v.stop_code.clone())}</td>
                                        <td class="num">{move || v.with(|v| v.exit_code.clone())}</td>
                                        <td>
                                            {move || v.with(|v| v.stopped_at.clone())}
                                            {move || {
                                                v.with(|v| v.retained)
                                                    .then(|| view! { <span class="tag">" retained by Berth"</span> })
                                            }}
                                        </td>
                                    </tr>
                                }
                            })
                        }
                    />
                    <tr class="spacer" aria-hidden="true" style:height=move || format!("{}px", win.get().bottom)></tr>
                </tbody>
            </table>
        </div>
    }
}
