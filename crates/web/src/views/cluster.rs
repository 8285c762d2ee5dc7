//! A cluster: its capacity providers, services, tasks, container instances (with remaining cpu
//! and memory and the capacity provider that launched them), and the events of all its services
//! merged, newest first.

use crate::wire as w;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde_json::json;

use crate::api;
use crate::logic::filter::Filter;
use crate::logic::fmt;
use crate::logic::query::paths;
use crate::store::store;

use super::tasks_table::TasksTable;
use super::ui::{
    Dialog, Field, FilterBox, Tabs, WriteButton, load_line, open_dialog, query_param, ready_when,
    status_text,
};

/// `/ui/clusters/{cluster}/{tab}`.
#[component]
pub fn ClusterPage() -> impl IntoView {
    let params = use_params_map();
    let cluster = Memo::new(move |_| params.with(|p| p.get("cluster").unwrap_or_default()));
    let tab =
        Memo::new(move |_| params.with(|p| p.get("tab").unwrap_or_else(|| "services".into())));
    move || {
        let c = cluster.get();
        let tabs = vec![
            ("services", "Services", paths::cluster(&c, "services")),
            ("tasks", "Tasks", paths::cluster(&c, "tasks")),
            (
                "instances",
                "Container instances",
                paths::cluster(&c, "instances"),
            ),
            ("topology", "Topology", paths::cluster(&c, "topology")),
            ("events", "Events", paths::cluster(&c, "events")),
        ];
        let c2 = c.clone();
        view! {
            <section class="page">
                <nav class="crumbs" aria-label="Breadcrumbs">
                    <a href=paths::clusters()>"Clusters"</a>
                    " / "
                    <span>{c.clone()}</span>
                </nav>
                <div class="page-head">
                    <h1>{c.clone()}</h1>
                    <ClusterCounts cluster=c.clone() />
                </div>
                <Tabs tabs=tabs active=tab />
                {move || {
                    let c = c2.clone();
                    match tab.get().as_str() {
                        "tasks" => view! { <TasksTable cluster=c /> }.into_any(),
                        "instances" => view! { <Instances cluster=c /> }.into_any(),
                        "events" => view! { <ClusterEvents cluster=c /> }.into_any(),
                        "topology" => view! { <super::island::Island kind="topology" props=json!({"cluster": c}) /> }.into_any(),
                        _ => view! { <Services cluster=c /> }.into_any(),
                    }
                }}
            </section>
        }
    }
}

#[component]
fn ClusterCounts(cluster: String) -> impl IntoView {
    let rows = store().clusters();
    let c = cluster.clone();
    let data = Memo::new(move |_| rows.get(&c).map(|r| r.data.get()));
    move || {
        data.get().map(|d| {
            view! {
                <p class="counts">
                    {status_text(d.status.clone().unwrap_or_default())}
                    " · " {d.active_services_count.unwrap_or(0)} " services · "
                    {d.running_tasks_count.unwrap_or(0)} " running · "
                    {d.pending_tasks_count.unwrap_or(0)} " pending · "
                    {d.registered_container_instances_count.unwrap_or(0)} " instances"
                    {providers(&d)}
                </p>
            }
        })
    }
}

/// " · capacity providers: A, B" when the cluster has any.
fn providers(c: &w::Cluster) -> String {
    match c.capacity_providers.as_deref() {
        Some(p) if !p.is_empty() => format!(" · capacity providers: {}", p.join(", ")),
        _ => String::new(),
    }
}

fn deployment_state(s: &w::Service) -> String {
    s.deployments
        .as_ref()
        .and_then(|ds| ds.iter().find(|d| d.status.as_deref() == Some("PRIMARY")))
        .and_then(|d| d.rollout_state.as_ref().map(|r| r.as_str().to_string()))
        .unwrap_or_default()
}

#[component]
fn Services(cluster: String) -> impl IntoView {
    let rows = store().services(&cluster);
    let state = rows.state.clone();
    ready_when(state.clone());
    let q = query_param("q");
    let list = rows.list.clone();
    let visible = Memo::new(move |_| {
        let f = Filter::parse(&q.get());
        list.with(|l| {
            l.iter()
                .filter(|r| {
                    r.data.with(|s| {
                        f.matches(&[
                            ("name", &*r.key),
                            ("status", s.status.as_deref().unwrap_or_default()),
                            (
                                "taskdefinition",
                                s.task_definition.as_deref().unwrap_or_default(),
                            ),
                            ("deployment", &deployment_state(s)),
                        ])
                    })
                })
                .map(|r| r.key.clone())
                .collect::<Vec<_>>()
        })
    });
    let rows2 = rows.clone();
    let c_for_create = cluster.clone();
    view! {
        <div class="table-tools">
            <FilterBox placeholder="Filter services" />
            <WriteButton
                class="btn primary"
                label="Create service"
                on_click=Box::new(move || create_service_dialog(Some(c_for_create.clone()), None))
            />
        </div>
        {move || load_line(state.get())}
        <table data-table="services">
            <thead>
                <tr>
                    <th scope="col">"Service"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col" class="num">"Desired"</th>
                    <th scope="col" class="num">"Running"</th>
                    <th scope="col" class="num">"Pending"</th>
                    <th scope="col">"Task definition"</th>
                    <th scope="col">"Deployment"</th>
                    <th scope="col">"Launch type"</th>
                </tr>
            </thead>
            <tbody>
                <For
                    each=move || visible.get()
                    key=|k| k.clone()
                    children=move |k| {
                        let row = rows2.list.with_untracked(|l| l.iter().find(|r| r.key == k).cloned());
                        let cluster = cluster.clone();
                        row.map(move |r| {
                            let d = RwSignal::from(r.data);
                            let name = k.to_string();
                            view! {
                                <tr data-key=name.clone() tabindex="-1" aria-selected="false">
                                    <td><a href=paths::service(&cluster, &name, "overview")>{name.clone()}</a></td>
                                    <td>{move || status_text(d.with(|s| s.status.clone().unwrap_or_default()))}</td>
                                    <td class="num" data-col="desired">{move || d.with(|s| s.desired_count.unwrap_or(0))}</td>
                                    <td class="num" data-col="running">{move || d.with(|s| s.running_count.unwrap_or(0))}</td>
                                    <td class="num" data-col="pending">{move || d.with(|s| s.pending_count.unwrap_or(0))}</td>
                                    <td>{move || d.with(|s| fmt::family_revision(s.task_definition.as_deref().unwrap_or_default()).to_string())}</td>
                                    <td>{move || status_text(d.with(deployment_state))}</td>
                                    <td>{move || d.with(|s| s.launch_type.as_ref().map(|l| l.as_str().to_string()).unwrap_or_else(|| "—".into()))}</td>
                                </tr>
                            }
                        })
                    }
                />
            </tbody>
        </table>
    }
}

/// Opens the "Create service" dialog (from a cluster, or from a revision).
pub fn create_service_dialog(cluster: Option<String>, task_definition: Option<String>) {
    let clusters: Vec<(String, String)> = store()
        .clusters()
        .list
        .get_untracked()
        .iter()
        .map(|r| (r.key.to_string(), r.key.to_string()))
        .collect();
    let mut fields = vec![Field::text("Service name", "")];
    let fixed_cluster = cluster.clone();
    if fixed_cluster.is_none() {
        fields.push(Field::select("Cluster", clusters));
    }
    let fixed_td = task_definition.clone();
    if fixed_td.is_none() {
        fields.push(Field::text(
            "Task definition (family or family:revision)",
            "",
        ));
    }
    fields.push(Field::number("Desired tasks", 1));
    open_dialog(Dialog {
        title: "Create service".into(),
        body: match &task_definition {
            Some(td) => format!("A REPLICA service running {}.", fmt::family_revision(td)),
            None => "A REPLICA service that keeps the desired number of tasks running.".into(),
        },
        fields,
        typed_confirm: None,
        danger: false,
        run: std::sync::Arc::new(move |v: Vec<String>| {
            let mut it = v.into_iter();
            let name = it.next().unwrap_or_default();
            let cluster = fixed_cluster
                .clone()
                .unwrap_or_else(|| it.next().unwrap_or_default());
            let td = fixed_td
                .clone()
                .unwrap_or_else(|| it.next().unwrap_or_default());
            let desired = it.next().unwrap_or_default();
            Box::pin(async move {
                let desired: i64 = desired.trim().parse().map_err(|_| api::ApiError {
                    code: "InvalidParameterException".into(),
                    message: "Desired tasks must be a whole number.".into(),
                })?;
                api::ecs_json(
                    "CreateService",
                    json!({"cluster": cluster, "serviceName": name, "taskDefinition": td, "desiredCount": desired}),
                )
                .await?;
                let href = paths::service(&cluster, &name, "overview");
                if let Some(w) = web_sys::window() {
                    let _ = w.history().map(|h| {
                        h.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&href))
                    });
                    // Let the router see the new URL.
                    if let Ok(ev) = web_sys::Event::new("popstate") {
                        let _ = w.dispatch_event(&ev);
                    }
                }
                Ok(format!("Created service {name}."))
            })
        }),
    });
}

fn remaining(i: &w::ContainerInstance, name: &str) -> (i64, i64) {
    let get = |res: &Option<Vec<w::Resource>>| {
        res.as_ref()
            .and_then(|rs| rs.iter().find(|r| r.name.as_deref() == Some(name)))
            .and_then(|r| r.integer_value)
            .map(i64::from)
            .unwrap_or(0)
    };
    (get(&i.remaining_resources), get(&i.registered_resources))
}

fn attribute(i: &w::ContainerInstance, name: &str) -> String {
    i.attributes
        .as_ref()
        .and_then(|a| a.iter().find(|a| a.name.as_deref() == Some(name)))
        .and_then(|a| a.value.clone())
        .unwrap_or_default()
}

#[component]
fn Instances(cluster: String) -> impl IntoView {
    let rows = store().instances(&cluster);
    let state = rows.state.clone();
    ready_when(state.clone());
    let q = query_param("q");
    let list = rows.list.clone();
    let visible = Memo::new(move |_| {
        let f = Filter::parse(&q.get());
        list.with(|l| {
            l.iter()
                .filter(|r| {
                    r.data.with(|i| {
                        f.matches(&[
                            ("id", &*r.key),
                            ("status", i.status.as_deref().unwrap_or_default()),
                            ("az", &attribute(i, "ecs.availability-zone")),
                            ("type", &attribute(i, "ecs.instance-type")),
                            (
                                "provider",
                                i.capacity_provider_name.as_deref().unwrap_or_default(),
                            ),
                        ])
                    })
                })
                .map(|r| r.key.clone())
                .collect::<Vec<_>>()
        })
    });
    let rows2 = rows.clone();
    view! {
        <div class="table-tools">
            <FilterBox placeholder="Filter instances" />
        </div>
        {move || load_line(state.get())}
        <table data-table="instances">
            <thead>
                <tr>
                    <th scope="col">"Container instance"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Availability zone"</th>
                    <th scope="col">"Instance type"</th>
                    <th scope="col">"Capacity provider"</th>
                    <th scope="col" class="num">"CPU free / registered"</th>
                    <th scope="col" class="num">"Memory free / registered (MiB)"</th>
                    <th scope="col" class="num">"Running"</th>
                    <th scope="col" class="num">"Pending"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                <For
                    each=move || visible.get()
                    key=|k| k.clone()
                    children=move |k| {
                        let row = rows2.list.with_untracked(|l| l.iter().find(|r| r.key == k).cloned());
                        let cluster = cluster.clone();
                        row.map(move |r| {
                            let d = RwSignal::from(r.data);
                            let id = k.to_string();
                            let id2 = id.clone();
                            let cluster2 = cluster.clone();
                            view! {
                                <tr data-key=id.clone() tabindex="-1" aria-selected="false">
                                    <td class="mono">{id.clone()}</td>
                                    <td>{move || status_text(d.with(|i| i.status.clone().unwrap_or_default()))}</td>
                                    <td>{move || d.with(|i| attribute(i, "ecs.availability-zone"))}</td>
                                    <td>{move || d.with(|i| attribute(i, "ecs.instance-type"))}</td>
                                    <td data-col="provider">{move || d.with(|i| i.capacity_provider_name.clone().unwrap_or_else(|| "—".into()))}</td>
                                    <td class="num" data-col="cpu">{move || d.with(|i| { let (f, r) = remaining(i, "CPU"); format!("{f} / {r}") })}</td>
                                    <td class="num" data-col="memory">{move || d.with(|i| { let (f, r) = remaining(i, "MEMORY"); format!("{f} / {r}") })}</td>
                                    <td class="num">{move || d.with(|i| i.running_tasks_count.unwrap_or(0))}</td>
                                    <td class="num">{move || d.with(|i| i.pending_tasks_count.unwrap_or(0))}</td>
                                    <td>
                                        {move || {
                                            let draining = d.with(|i| i.status.as_deref() == Some("DRAINING"));
                                            let (label, target) = if draining { ("Activate", "ACTIVE") } else { ("Drain", "DRAINING") };
                                            let cluster = cluster2.clone();
                                            let id = id2.clone();
                                            view! {
                                                <WriteButton class="btn small" label=label on_click=Box::new(move || instance_state_dialog(cluster.clone(), id.clone(), target)) />
                                            }
                                        }}
                                    </td>
                                </tr>
                            }
                        })
                    }
                />
            </tbody>
        </table>
    }
}

fn instance_state_dialog(cluster: String, id: String, target: &'static str) {
    let (title, body) = if target == "DRAINING" {
        (
            "Drain container instance",
            format!(
                "Set {id} to DRAINING: no new tasks are placed on it, and service tasks move elsewhere as the deployment limits allow."
            ),
        )
    } else {
        (
            "Activate container instance",
            format!("Set {id} back to ACTIVE so tasks can be placed on it."),
        )
    };
    open_dialog(Dialog {
        title: title.into(),
        body,
        fields: Vec::new(),
        typed_confirm: None,
        danger: target == "DRAINING",
        run: std::sync::Arc::new(move |_| {
            let (cluster, id) = (cluster.clone(), id.clone());
            Box::pin(async move {
                let r = api::ecs_json(
                    "UpdateContainerInstancesState",
                    json!({"cluster": cluster, "containerInstances": [id], "status": target}),
                )
                .await?;
                if let Some(f) = r
                    .get("failures")
                    .and_then(|f| f.as_array())
                    .and_then(|f| f.first())
                {
                    return Err(api::ApiError {
                        code: f
                            .get("reason")
                            .and_then(|v| v.as_str())
                            .unwrap_or("Failure")
                            .into(),
                        message: f
                            .get("detail")
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .into(),
                    });
                }
                Ok(format!("Container instance {id} is {target}."))
            })
        }),
    });
}

#[component]
fn ClusterEvents(cluster: String) -> impl IntoView {
    let rows = store().services(&cluster);
    let state = rows.state.clone();
    ready_when(state.clone());
    let q = query_param("q");
    let list = rows.list.clone();
    let events = Memo::new(move |_| {
        let f = Filter::parse(&q.get());
        let mut all: Vec<(i64, String, String, String, String)> = Vec::new();
        list.with(|l| {
            for r in l {
                r.data.with(|s| {
                    for e in s.events.iter().flatten() {
                        let msg = e.message.clone().unwrap_or_default();
                        if f.matches(&[("service", &*r.key), ("message", &msg)]) {
                            all.push((
                                fmt::epoch_ms(e.created_at.as_ref()),
                                e.id.clone().unwrap_or_default(),
                                fmt::time(e.created_at.as_ref()),
                                r.key.to_string(),
                                msg,
                            ));
                        }
                    }
                })
            }
        });
        all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        all
    });
    view! {
        <div class="table-tools">
            <FilterBox placeholder="Filter events (e.g. unable to place)" />
        </div>
        {move || load_line(state.get())}
        <table data-table="events">
            <thead>
                <tr>
                    <th scope="col">"Time"</th>
                    <th scope="col">"Service"</th>
                    <th scope="col">"Message"</th>
                </tr>
            </thead>
            <tbody>
                <For
                    each=move || events.get()
                    key=|e| e.1.clone()
                    children=move |(_, id, time, service, msg)| {
                        view! {
                            <tr data-key=id tabindex="-1" aria-selected="false">
                                <td class="nowrap">{time}</td>
                                <td>{service}</td>
                                <td>{msg}</td>
                            </tr>
                        }
                    }
                />
            </tbody>
        </table>
    }
}
