//! Task-definition families, their revisions, and one revision as read-only JSON with copy
//! buttons; create a service from a revision, deregister a revision.

use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde_json::json;

use crate::api;
use crate::logic::filter::Filter;
use crate::logic::query::paths;
use crate::store::store;

use super::ui::{
    Dialog, FilterBox, JsonView, WriteButton, load_line, open_dialog, query_param, ready_when,
    status_text,
};

/// `/ui/task-definitions`.
#[component]
pub fn FamiliesPage() -> impl IntoView {
    let rows = store().families();
    let state = rows.state.clone();
    ready_when(state.clone());
    let q = query_param("q");
    let list = rows.list.clone();
    let visible = Memo::new(move |_| {
        let f = Filter::parse(&q.get());
        list.with(|l| {
            l.iter()
                .filter(|r| {
                    r.data
                        .with(|s| f.matches(&[("family", &*r.key), ("status", s)]))
                })
                .map(|r| (r.key.to_string(), r.data.get()))
                .collect::<Vec<_>>()
        })
    });
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Task definitions"</h1>
                <FilterBox placeholder="Filter families" />
                <span class="spacer"></span>
                <a class="btn primary" href="/ui/editor">"New task definition"</a>
            </div>
            {move || load_line(state.get())}
            <table data-table="families">
                <thead>
                    <tr>
                        <th scope="col">"Family"</th>
                        <th scope="col">"Status"</th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || visible.get()
                        key=|(k, s)| format!("{k}#{s}")
                        children=move |(k, s)| {
                            view! {
                                <tr data-key=k.clone() tabindex="-1" aria-selected="false">
                                    <td><a href=paths::family(&k)>{k.clone()}</a></td>
                                    <td>{status_text(s)}</td>
                                </tr>
                            }
                        }
                    />
                </tbody>
            </table>
        </section>
    }
}

/// `/ui/task-definitions/{family}`.
#[component]
pub fn FamilyPage() -> impl IntoView {
    let params = use_params_map();
    let family = Memo::new(move |_| params.with(|p| p.get("family").unwrap_or_default()));
    move || {
        let f = family.get();
        let rows = store().revisions(&f);
        let state = rows.state.clone();
        ready_when(state.clone());
        let list = rows.list.clone();
        let f2 = f.clone();
        view! {
            <section class="page">
                <nav class="crumbs" aria-label="Breadcrumbs">
                    <a href=paths::families()>"Task definitions"</a>
                    " / "
                    <span>{f.clone()}</span>
                </nav>
                <div class="page-head">
                    <h1>{f.clone()}</h1>
                </div>
                {move || load_line(state.get())}
                {
                    // The diff page picks any two revisions; this starts it at the last two.
                    let (f, list) = (f.clone(), list.clone());
                    move || {
                        let revs: Vec<u32> = list.with(|l| l.iter().map(|r| r.data.with(|d| d.revision)).collect());
                        let last = revs.iter().copied().max()?;
                        let prev = revs.iter().copied().filter(|r| *r < last).max()?;
                        Some(view! {
                            <p data-testid="compare">
                                <a class="btn" data-action="compare" href=paths::diff(&format!("{f}:{prev}"), &format!("{f}:{last}"))>"Compare revisions"</a>
                            </p>
                        })
                    }
                }
                <table data-table="revisions">
                    <thead>
                        <tr>
                            <th scope="col">"Revision"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col">"Actions"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || list.get()
                            key=|r| r.key.clone()
                            children=move |r| {
                                let d = RwSignal::from(r.data);
                                let f = f2.clone();
                                let rev = d.with_untracked(|r| r.revision);
                                let arn = d.with_untracked(|r| r.arn.clone());
                                view! {
                                    <tr data-key=rev.to_string() tabindex="-1" aria-selected="false">
                                        <td><a href=paths::revision(&f, rev)>{format!("{f}:{rev}")}</a></td>
                                        <td>{move || status_text(d.with(|r| r.status.clone()))}</td>
                                        <td>
                                            {move || {
                                                let arn = arn.clone();
                                                (d.with(|r| r.status == "ACTIVE")).then(|| view! {
                                                    <WriteButton class="btn small" label="Deregister" on_click=Box::new(move || deregister_dialog(arn.clone())) />
                                                })
                                            }}
                                        </td>
                                    </tr>
                                }
                            }
                        />
                    </tbody>
                </table>
            </section>
        }
    }
}

/// `/ui/task-definitions/{family}/{revision}`.
#[component]
pub fn RevisionPage() -> impl IntoView {
    let params = use_params_map();
    let family = Memo::new(move |_| params.with(|p| p.get("family").unwrap_or_default()));
    let revision = Memo::new(move |_| params.with(|p| p.get("revision").unwrap_or_default()));
    let data: RwSignal<Option<Result<serde_json::Value, String>>> = RwSignal::new(None);
    // Refetch when the URL changes or the family's revisions change (deregistered …).
    Effect::new(move |_| {
        let (f, r) = (family.get(), revision.get());
        store().revisions(&f).list.track();
        leptos::task::spawn_local(async move {
            // Plain JSON: the page shows it as it came, and needs no typed task definition.
            let res = api::ecs_json(
                "DescribeTaskDefinition",
                json!({"taskDefinition": format!("{f}:{r}"), "include": ["TAGS"]}),
            )
            .await
            .map_err(|e| e.to_string());
            data.set(Some(res));
            super::ui::ready().set(true);
        });
    });
    move || {
        let (f, r) = (family.get(), revision.get());
        let body = match data.get() {
            None => view! { <p class="muted">"Loading…"</p> }.into_any(),
            Some(Err(e)) => view! { <p role="alert" class="error">{e}</p> }.into_any(),
            Some(Ok(resp)) => {
                let td = &resp["taskDefinition"];
                let arn = td["taskDefinitionArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let status = td["status"].as_str().unwrap_or_default().to_string();
                let text = serde_json::to_string_pretty(&resp).unwrap_or_default();
                let active = status == "ACTIVE";
                let arn2 = arn.clone();
                view! {
                    <div class="page-head">
                        <h1>{format!("{f}:{r}")}</h1>
                        {status_text(status)}
                        <span class="spacer"></span>
                        <a class="btn" data-action="edit" href=paths::editor(&format!("{f}:{r}"))>"New revision…"</a>
                        {r.parse::<u32>().ok().filter(|n| *n > 1).map(|n| view! {
                            <a class="btn" data-action="diff-previous" href=paths::diff(&format!("{f}:{}", n - 1), &format!("{f}:{n}"))>
                                {format!("Diff from {}", n - 1)}
                            </a>
                        })}
                        {active.then(|| {
                            let arn = arn.clone();
                            view! {
                                <WriteButton class="btn primary" label="Create service" on_click=Box::new(move || super::cluster::create_service_dialog(None, Some(arn.clone()))) />
                                <WriteButton class="btn danger" label="Deregister" on_click=Box::new(move || deregister_dialog(arn2.clone())) />
                            }
                        })}
                    </div>
                    <JsonView text=Signal::derive(move || text.clone()) />
                }
                .into_any()
            }
        };
        view! {
            <section class="page">
                <nav class="crumbs" aria-label="Breadcrumbs">
                    <a href=paths::families()>"Task definitions"</a>
                    " / "
                    <a href=paths::family(&f)>{f.clone()}</a>
                    " / "
                    <span>{r.clone()}</span>
                </nav>
                {body}
            </section>
        }
    }
}

fn deregister_dialog(arn: String) {
    let name = crate::logic::fmt::family_revision(&arn).to_string();
    open_dialog(Dialog {
        title: "Deregister revision".into(),
        body: format!(
            "Deregister {name}: it becomes INACTIVE. Running tasks and services keep it; new ones cannot use it."
        ),
        fields: vec![],
        typed_confirm: None,
        danger: true,
        run: Arc::new(move |_| {
            let (arn, name) = (arn.clone(), name.clone());
            Box::pin(async move {
                api::ecs_json("DeregisterTaskDefinition", json!({"taskDefinition": arn})).await?;
                Ok(format!("{name} deregistered."))
            })
        }),
    });
}
