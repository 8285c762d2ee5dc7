//! A task: its containers (status, health, exit code, reason, network bindings), where it runs
//! (instance, zone, an `awsvpc` task's network interface and address), its revision and
//! lifecycle timestamps; stop it.

use std::sync::Arc;

use crate::wire as w;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde_json::json;

use crate::api;
use crate::logic::fmt;
use crate::logic::query::paths;
use crate::store::{Load, store};

use super::island::Island;
use super::ui::{Dialog, RawJson, open_dialog, ready_when, status_text};

/// `/ui/clusters/{cluster}/tasks/{task}`.
#[component]
pub fn TaskPage() -> impl IntoView {
    let params = use_params_map();
    let cluster = Memo::new(move |_| params.with(|p| p.get("cluster").unwrap_or_default()));
    let id = Memo::new(move |_| params.with(|p| p.get("task").unwrap_or_default()));
    move || {
        let (c, t) = (cluster.get(), id.get());
        let rows = store().tasks(&c);
        let state = rows.state.clone();
        let t2 = t.clone();
        let rows2 = rows.clone();
        let task = Memo::new(move |_| rows2.get(&t2).map(|r| r.data.get()));
        ready_when(state.clone());
        let c2 = c.clone();
        let t3 = t.clone();
        let (c4, t4) = (c.clone(), t.clone());
        view! {
            <section class="page">
                <nav class="crumbs" aria-label="Breadcrumbs">
                    <a href=paths::clusters()>"Clusters"</a>
                    " / "
                    <a href=paths::cluster(&c, "tasks")>{c.clone()}</a>
                    " / "
                    <span class="mono">{t.clone()}</span>
                </nav>
                <div class="page-head">
                    <h1 class="mono">{t.clone()}</h1>
                    {move || task.get().map(|t| status_text(t.last_status.unwrap_or_default()))}
                    <span class="spacer"></span>
                    {move || {
                        let running = task.with(|t| t.as_ref().is_some_and(|t| t.desired_status.as_deref() != Some("STOPPED")));
                        let (c, id) = (c2.clone(), t3.clone());
                        running.then(|| view! {
                            <super::ui::WriteButton class="btn danger" label="Stop task" on_click=Box::new(move || stop_dialog(c.clone(), id.clone())) />
                        })
                    }}
                </div>
                {move || {
                    if state.get() != Load::Ready {
                        return super::ui::load_line(state.get()).into_any();
                    }
                    match task.get() {
                        None => view! { <p role="alert" class="error">"The task does not exist (or is past the retention)."</p> }.into_any(),
                        Some(t) => details(&c, t).into_any(),
                    }
                }}
                {
                    // Sections that fetch their own data: rebuilt only when what they depend on
                    // changes, not on every change of the task.
                    let td = Memo::new(move |_| task.with(|t| t.as_ref().and_then(|t| t.task_definition_arn.clone())));
                    let group = Memo::new(move |_| task.with(|t| t.as_ref().and_then(|t| t.group.clone())));
                    let pending = Memo::new(move |_| task.with(|t| t.as_ref().is_some_and(|t| matches!(t.last_status.as_deref(), Some("PROVISIONING" | "PENDING")))));
                    let (c, id) = (c4, t4);
                    move || {
                        let td = td.get()?;
                        let (c, id) = (c.clone(), id.clone());
                        let why = pending.get().then(|| {
                            let props = json!({"cluster": c.clone(), "taskDefinition": td.clone(), "group": group.get().unwrap_or_default()});
                            view! {
                                <h2>"Why pending"</h2>
                                <Island kind="task-placement" props=props />
                            }
                        });
                        let family = fmt::family_of(&td).to_string();
                        Some(view! {
                            {why}
                            <h2>"Logs"</h2>
                            <Island kind="task-logs" props=json!({"taskId": id.clone(), "taskDefinition": td.clone()}) />
                            <h2>"Metrics"</h2>
                            <Island kind="task-metrics" props=json!({"cluster": c, "taskId": id, "family": family}) />
                        })
                    }
                }
            </section>
        }
    }
}

fn details(cluster: &str, t: w::Task) -> impl IntoView + use<> {
    let td = t.task_definition_arn.clone().unwrap_or_default();
    let family = fmt::family_of(&td).to_string();
    let rev = fmt::revision_number(&td).unwrap_or(0);
    let group = t.group.clone().unwrap_or_default();
    let service_link = group.strip_prefix("service:").map(|s| {
        view! { <a href=paths::service(cluster, s, "overview")>{s.to_string()}</a> }
    });
    let instance = t
        .container_instance_arn
        .as_deref()
        .map(|a| fmt::last_segment(a).to_string())
        .unwrap_or_else(|| "—".into());
    let retained = fmt::retained(super::ui::server_now(), t.stopped_at.as_ref());
    let containers = t.containers.clone().unwrap_or_default();
    let task_id = fmt::last_segment(t.task_arn.as_deref().unwrap_or_default()).to_string();
    let version = fmt::epoch_ms(t.stopped_at.as_ref()) + fmt::epoch_ms(t.started_at.as_ref());
    view! {
        <dl class="facts">
            <dt>"Status"</dt>
            <dd>{format!("{} (desired {})", t.last_status.clone().unwrap_or_default(), t.desired_status.clone().unwrap_or_default())}</dd>
            <dt>"Health"</dt>
            <dd>{t.health_status.as_ref().map(|h| h.as_str().to_string()).unwrap_or_else(|| "—".into())}</dd>
            <dt>"Task definition"</dt>
            <dd><a href=paths::revision(&family, rev)>{fmt::family_revision(&td).to_string()}</a></dd>
            <dt>"Group"</dt>
            <dd>{service_link.map(|l| l.into_any()).unwrap_or_else(|| group.clone().into_any())}</dd>
            <dt>"Container instance"</dt>
            <dd class="mono">{instance}</dd>
            <dt>"Availability zone"</dt>
            <dd>{t.availability_zone.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"Network interface"</dt>
            <dd class="mono" data-fact="eni">{eni_text(&t)}</dd>
            <dt>"Launch type"</dt>
            <dd>{t.launch_type.as_ref().map(|l| l.as_str().to_string()).unwrap_or_else(|| "—".into())}</dd>
            <dt>"Started by"</dt>
            <dd>{t.started_by.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"Created"</dt>
            <dd>{fmt::time(t.created_at.as_ref())}</dd>
            <dt>"Started"</dt>
            <dd>{fmt::time(t.started_at.as_ref())}</dd>
            <dt>"Stopping"</dt>
            <dd>{fmt::time(t.stopping_at.as_ref())}</dd>
            <dt>"Stopped"</dt>
            <dd>
                {fmt::time(t.stopped_at.as_ref())}
                {retained.then(|| view! { <span class="tag">" retained by Berth"</span> })}
            </dd>
            <dt>"Stopped reason"</dt>
            <dd>{t.stopped_reason.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"Stop code"</dt>
            <dd>{t.stop_code.as_ref().map(|c| c.as_str().to_string()).unwrap_or_else(|| "—".into())}</dd>
            <dt>"CPU / memory"</dt>
            <dd>{format!("{} / {}", t.cpu.clone().unwrap_or_else(|| "—".into()), t.memory.clone().unwrap_or_else(|| "—".into()))}</dd>
        </dl>
        <h2>"Containers"</h2>
        <table data-table="containers">
            <thead>
                <tr>
                    <th scope="col">"Container"</th>
                    <th scope="col">"Image"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Health"</th>
                    <th scope="col" class="num">"Exit code"</th>
                    <th scope="col">"Reason"</th>
                    <th scope="col">"Network bindings"</th>
                </tr>
            </thead>
            <tbody>
                {containers
                    .into_iter()
                    .map(|c| {
                        let name = c.name.clone().unwrap_or_default();
                        let bindings = c
                            .network_bindings
                            .clone()
                            .unwrap_or_default()
                            .iter()
                            .map(|b| {
                                format!(
                                    "{}:{} → {}/{}",
                                    b.bind_ip.clone().unwrap_or_else(|| "0.0.0.0".into()),
                                    b.host_port.map(|p| p.to_string()).unwrap_or_default(),
                                    b.container_port.map(|p| p.to_string()).unwrap_or_default(),
                                    b.protocol.as_ref().map(|p| p.as_str().to_string()).unwrap_or_else(|| "tcp".into()),
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(", ");
                        view! {
                            <tr data-key=name.clone() tabindex="-1" aria-selected="false">
                                <td>{name.clone()}</td>
                                <td class="mono">{c.image.clone().unwrap_or_default()}</td>
                                <td>{status_text(c.last_status.clone().unwrap_or_default())}</td>
                                <td>{c.health_status.as_ref().map(|h| h.as_str().to_string()).unwrap_or_else(|| "—".into())}</td>
                                <td class="num">{c.exit_code.map(|x| x.to_string()).unwrap_or_default()}</td>
                                <td>{c.reason.clone().unwrap_or_default()}</td>
                                <td class="mono">{if bindings.is_empty() { "—".to_string() } else { bindings }}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        <h2>"As DescribeTasks returns it"</h2>
        <RawJson
            action="DescribeTasks"
            body=json!({"cluster": cluster, "tasks": [task_id], "include": ["TAGS"]})
            member="tasks"
            track=Signal::derive(move || { let _ = version; })
        />
    }
}

/// An `awsvpc` task's ENI: its address (when the runtime gave it one), subnet and status, as
/// `172.17.0.3 · subnet-1 · ATTACHED`; `—` for tasks without one.
fn eni_text(t: &w::Task) -> String {
    let Some(eni) = t
        .attachments
        .iter()
        .flatten()
        .find(|a| a.kind.as_deref() == Some("ElasticNetworkInterface"))
    else {
        return "—".into();
    };
    [
        eni.detail("privateIPv4Address"),
        eni.detail("subnetId"),
        eni.status.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ")
}

fn stop_dialog(cluster: String, id: String) {
    open_dialog(Dialog {
        title: "Stop task".into(),
        body: format!(
            "Stop task {id}. Its containers get SIGTERM, then SIGKILL after their stop timeout; a service starts a replacement."
        ),
        fields: vec![],
        typed_confirm: None,
        danger: true,
        run: Arc::new(move |_| {
            let (cluster, id) = (cluster.clone(), id.clone());
            Box::pin(async move {
                api::ecs_json(
                    "StopTask",
                    json!({"cluster": cluster, "task": id, "reason": "Task stopped by user from the Berth dashboard"}),
                )
                .await?;
                Ok(format!("Task {id} is stopping."))
            })
        }),
    });
}
