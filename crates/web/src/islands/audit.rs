//! The audit page (`/ui/audit`): the server's audit trail — every call that changed something,
//! was denied or failed — read through CloudTrail's own `LookupEvents`, as
//! `aws cloudtrail lookup-events` reads it. A table (time, event, source, user, error code,
//! resources), one lookup attribute and a time range as filters (what CloudTrail allows; they
//! live in the URL), "Load more" with `NextToken`, and each row opens to its full record,
//! pretty-printed, with the secrets already redacted by the server.
//!
//! It is an island (it ships in the tools module) so the first load stays within its budget.
//! The request and the rows are [`crate::logic::audit`]; it records nothing itself.

use leptos::prelude::*;
use serde_json::Value;

use crate::api;
use crate::logic::audit::{ATTRIBUTES, Event, Filters, TARGET_PREFIX, read_page};

use super::host::{navigate, query_param, ready};

async fn lookup(body: Value) -> Result<(Vec<Event>, Option<String>), String> {
    let v: Value = api::call(TARGET_PREFIX, "LookupEvents", &body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(read_page(&v))
}

/// `/ui/audit[?attr=…&value=…&start=…&end=…]`.
#[component]
pub fn AuditPage() -> impl IntoView {
    let (attr, value, start, end) = (
        query_param("attr"),
        query_param("value"),
        query_param("start"),
        query_param("end"),
    );
    let filters = Memo::new(move |_| Filters {
        attr: attr.get(),
        value: value.get(),
        start: start.get(),
        end: end.get(),
    });
    // The form's fields, applied to the URL on Search.
    let draft_attr = RwSignal::new(String::new());
    let draft_value = RwSignal::new(String::new());
    let draft_start = RwSignal::new(String::new());
    let draft_end = RwSignal::new(String::new());
    let events: RwSignal<Vec<Event>> = RwSignal::new(Vec::new());
    let next: RwSignal<Option<String>> = RwSignal::new(None);
    let error = RwSignal::new(String::new());
    let loading = RwSignal::new(true);
    // Answers to an older request (filters changed since) are dropped.
    let generation = StoredValue::new(0_u32);
    let load = move |f: Filters, token: Option<String>| {
        let body = match f.request(token.as_deref()) {
            Ok(b) => b,
            Err(e) => {
                error.set(e);
                events.set(Vec::new());
                next.set(None);
                loading.set(false);
                ready().set(true);
                return;
            }
        };
        let more = token.is_some();
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        loading.set(true);
        leptos::task::spawn_local(async move {
            let res = lookup(body).await;
            if generation.get_value() != mine {
                return;
            }
            match res {
                Ok((page, token)) => {
                    error.set(String::new());
                    if more {
                        events.update(|e| e.extend(page));
                    } else {
                        events.set(page);
                    }
                    next.set(token);
                }
                Err(e) => error.set(e),
            }
            loading.set(false);
            ready().set(true);
        });
    };
    Effect::new(move |_| {
        let f = filters.get();
        draft_attr.set(if f.attr.is_empty() {
            ATTRIBUTES[0].0.to_string()
        } else {
            f.attr.clone()
        });
        draft_value.set(f.value.clone());
        draft_start.set(f.start.clone());
        draft_end.set(f.end.clone());
        load(f, None);
    });
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let f = Filters {
            attr: draft_attr.get_untracked(),
            value: draft_value.get_untracked().trim().to_string(),
            start: draft_start.get_untracked(),
            end: draft_end.get_untracked(),
        };
        if f == filters.get_untracked() {
            load(f, None);
        } else {
            navigate(&format!("/ui/audit{}", f.to_query()));
        }
    };
    let text_input = |label: &'static str, kind: &'static str, sig: RwSignal<String>| {
        view! {
            <label class="field-inline">
                {label}
                <input
                    type=kind
                    aria-label=label
                    step=(kind == "datetime-local").then_some("1")
                    prop:value=move || sig.get()
                    on:input=move |ev| sig.set(event_target_value(&ev))
                />
            </label>
        }
    };
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Audit"</h1>
                <span class="spacer"></span>
                <span class="muted">
                    "Every call that changed something, was denied or failed, as CloudTrail's LookupEvents returns it. Times are UTC."
                </span>
            </div>
            <form class="table-tools" data-testid="audit-filters" on:submit=apply>
                <label class="field-inline">
                    "Attribute"
                    <select aria-label="Attribute" on:change=move |ev| draft_attr.set(event_target_value(&ev))>
                        {ATTRIBUTES
                            .iter()
                            .map(|(k, label)| {
                                view! {
                                    <option value=*k prop:selected=move || draft_attr.get() == *k>{*label}</option>
                                }
                            })
                            .collect::<Vec<_>>()}
                    </select>
                </label>
                {text_input("Value", "text", draft_value)}
                {text_input("From", "datetime-local", draft_start)}
                {text_input("To", "datetime-local", draft_end)}
                <button class="btn primary" type="submit">"Search"</button>
                <button
                    class="btn"
                    type="button"
                    on:click=move |_| {
                        if filters.get_untracked().any() {
                            navigate("/ui/audit");
                        }
                    }
                >
                    "Clear"
                </button>
            </form>
            <Show when=move || !error.get().is_empty()>
                <p role="alert" class="error">{move || error.get()}</p>
            </Show>
            <table data-table="audit">
                <thead>
                    <tr>
                        <th scope="col">"Time"</th>
                        <th scope="col">"Event"</th>
                        <th scope="col">"Source"</th>
                        <th scope="col">"User"</th>
                        <th scope="col">"Error"</th>
                        <th scope="col">"Resources"</th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || events.get()
                        key=|e| e.id.clone()
                        children=move |e| {
                            let open = RwSignal::new(false);
                            let record = e.record.clone();
                            let detail_id = format!("audit-{}", e.id);
                            let detail_id2 = detail_id.clone();
                            view! {
                                <tr
                                    data-key=e.id.clone()
                                    data-event=e.name.clone()
                                    data-error=e.error_code.clone()
                                    tabindex="-1"
                                    aria-selected="false"
                                >
                                    <td class="nowrap">{e.time_text()}</td>
                                    <td>
                                        <button
                                            class="btn small ghost"
                                            aria-expanded=move || if open.get() { "true" } else { "false" }
                                            aria-controls=detail_id
                                            title="Show the full record"
                                            on:click=move |_| open.update(|o| *o = !*o)
                                        >
                                            {e.name.clone()}
                                        </button>
                                    </td>
                                    <td>{e.source.clone()}</td>
                                    <td title=e.access_key_id.clone()>{e.user.clone()}</td>
                                    <td>
                                        {match e.error_code.clone() {
                                            Some(c) => view! { <span class="status status-bad">{c}</span> }.into_any(),
                                            None => view! { <span class="muted">"—"</span> }.into_any(),
                                        }}
                                    </td>
                                    <td>{e.resources_text()}</td>
                                </tr>
                                <tr id=detail_id2 class="detail" hidden=move || !open.get()>
                                    <td colspan="6">
                                        {move || open.get().then(|| view! {
                                            <div class="json">
                                                <pre tabindex="0" data-testid="audit-record">{record.clone()}</pre>
                                            </div>
                                        })}
                                    </td>
                                </tr>
                            }
                        }
                    />
                </tbody>
            </table>
            {move || {
                let n = events.with(Vec::len);
                if loading.get() {
                    view! { <p class="muted">"Loading…"</p> }.into_any()
                } else if n == 0 && error.with(String::is_empty) {
                    let text = if filters.with(Filters::any) {
                        "No audit events match these filters."
                    } else {
                        "No audit events yet. Berth records every call that changes something, is denied or fails."
                    };
                    view! { <p class="muted" data-testid="audit-empty">{text}</p> }.into_any()
                } else {
                    view! {
                        <p class="muted" data-testid="audit-count">
                            {format!("{n} event{}", if n == 1 { "" } else { "s" })}
                        </p>
                    }
                    .into_any()
                }
            }}
            <Show when=move || next.with(Option::is_some)>
                <button
                    class="btn"
                    data-action="load-more"
                    disabled=move || loading.get()
                    on:click=move |_| load(filters.get_untracked(), next.get_untracked())
                >
                    "Load more"
                </button>
            </Show>
        </section>
    }
}
