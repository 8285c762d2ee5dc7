//! A service: overview with drift, deployments with honest verdicts and a live timeline, its
//! tasks (stopped ones included), events and configuration; deploy, force a new deployment,
//! scale, roll back and delete.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use berth_core::model as m;

use crate::wire as w;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::logic::feed::chunks;
use crate::logic::fmt;
use crate::logic::query::paths;
use crate::logic::verdict::Verdict;
use crate::store::{Load, store};

use super::island::Island;
use super::tasks_table::TasksTable;
use super::ui::{Dialog, Field, RawJson, Tabs, WriteButton, open_dialog, ready, status_text};

/// `/ui/clusters/{cluster}/services/{service}/{tab}`.
#[component]
pub fn ServicePage() -> impl IntoView {
    let params = use_params_map();
    let cluster = Memo::new(move |_| params.with(|p| p.get("cluster").unwrap_or_default()));
    let name = Memo::new(move |_| params.with(|p| p.get("service").unwrap_or_default()));
    let tab =
        Memo::new(move |_| params.with(|p| p.get("tab").unwrap_or_else(|| "overview".into())));
    move || {
        let (c, n) = (cluster.get(), name.get());
        let rows = store().services(&c);
        let (c2, n2) = (c.clone(), n.clone());
        let rows2 = rows.clone();
        let svc = Memo::new(move |_| rows2.get(&n2).map(|r| r.data.get()));
        let state = rows.state.clone();
        let tabs = vec![
            ("overview", "Overview", paths::service(&c, &n, "overview")),
            (
                "deployments",
                "Deployments",
                paths::service(&c, &n, "deployments"),
            ),
            ("tasks", "Tasks", paths::service(&c, &n, "tasks")),
            ("events", "Events", paths::service(&c, &n, "events")),
            (
                "placement",
                "Placement",
                paths::service(&c, &n, "placement"),
            ),
            ("scaling", "Scaling", paths::service(&c, &n, "scaling")),
            ("logs", "Logs", paths::service(&c, &n, "logs")),
            ("metrics", "Metrics", paths::service(&c, &n, "metrics")),
            (
                "configuration",
                "Configuration",
                paths::service(&c, &n, "configuration"),
            ),
        ];
        let st = state.clone();
        Effect::new(move |_| {
            if st.get() == Load::Ready
                && !matches!(
                    tab.get().as_str(),
                    "tasks" | "placement" | "scaling" | "logs" | "metrics"
                )
            {
                ready().set(true);
            }
        });
        // Whether the service exists: a memo of its own, so the tabs below are not rebuilt (and
        // logs, scaling and metrics not refetched) on every change of the service.
        let exists = Memo::new(move |_| svc.with(Option::is_some));
        let body = {
            let (c, n) = (c2.clone(), n.clone());
            move || {
                if state.get() != Load::Ready {
                    return super::ui::load_line(state.get()).into_any();
                }
                if !exists.get() {
                    return view! {
                        <p role="alert" class="error">
                            "ServiceNotFoundException: Service not found."
                        </p>
                    }
                    .into_any();
                }
                match tab.get().as_str() {
                    "deployments" => view! { <Deployments cluster=c.clone() service=n.clone() svc=svc /> }.into_any(),
                    "tasks" => view! { <TasksTable cluster=c.clone() service=n.clone() /> }.into_any(),
                    "events" => view! { <Events svc=svc /> }.into_any(),
                    t @ ("placement" | "scaling" | "logs" | "metrics") => {
                        let kind = match t {
                            "placement" => "service-placement",
                            "scaling" => "scaling",
                            "logs" => "service-logs",
                            _ => "service-metrics",
                        };
                        view! { <Island kind=kind props=json!({"cluster": c.clone(), "service": n.clone()}) /> }.into_any()
                    }
                    "configuration" => view! {
                        <RawJson
                            action="DescribeServices"
                            body=json!({"cluster": c.clone(), "services": [n.clone()], "include": ["TAGS"]})
                            member="services"
                            track=Signal::derive(move || svc.track())
                        />
                    }
                    .into_any(),
                    _ => view! { <Overview cluster=c.clone() svc=svc /> }.into_any(),
                }
            }
        };
        view! {
            <section class="page">
                <nav class="crumbs" aria-label="Breadcrumbs">
                    <a href=paths::clusters()>"Clusters"</a>
                    " / "
                    <a href=paths::cluster(&c, "services")>{c.clone()}</a>
                    " / "
                    <span>{n.clone()}</span>
                </nav>
                <div class="page-head">
                    <h1>{n.clone()}</h1>
                    {move || svc.get().map(|s| status_text(s.status.unwrap_or_default()))}
                    <span class="spacer"></span>
                    <Actions cluster=c.clone() svc=svc />
                </div>
                <Tabs tabs=tabs active=tab />
                {body}
            </section>
        }
    }
}

fn primary(s: &w::Service) -> Option<&w::Deployment> {
    s.deployments
        .as_ref()?
        .iter()
        .find(|d| d.status.as_deref() == Some("PRIMARY"))
}

#[component]
fn Overview(cluster: String, svc: Memo<Option<w::Service>>) -> impl IntoView {
    move || {
        svc.get().map(|s| {
            let desired = s.desired_count.unwrap_or(0);
            let running = s.running_count.unwrap_or(0);
            let pending = s.pending_count.unwrap_or(0);
            let td = s.task_definition.clone().unwrap_or_default();
            let family = fmt::family_of(&td).to_string();
            let rev = fmt::revision_number(&td).unwrap_or(0);
            let drift = (running != desired).then(|| {
                view! {
                    <span class="badge warn" role="note">
                        {format!("Drift: {running} of {desired} running")}
                    </span>
                }
            });
            let p = primary(&s).cloned();
            let controller = s
                .deployment_controller
                .as_ref()
                .and_then(|d| d.r#type.clone())
                .unwrap_or_else(|| "ECS".into());
            let sets = s.task_sets.clone().unwrap_or_default();
            let external = controller == "EXTERNAL";
            let service = s.service_name.clone().unwrap_or_default();
            let task_sets = (controller != "ECS").then(|| {
                view! { <TaskSets cluster=cluster.clone() service=service sets=sets external=external /> }
            });
            let events: Vec<w::ServiceEvent> =
                s.events.clone().unwrap_or_default().into_iter().take(5).collect();
            view! {
                <div class="cards">
                    <div class="card">
                        <span class="label">"Desired"</span>
                        <span class="big" data-count="desired">{desired}</span>
                    </div>
                    <div class="card">
                        <span class="label">"Running"</span>
                        <span class="big" data-count="running">{running}</span>
                    </div>
                    <div class="card">
                        <span class="label">"Pending"</span>
                        <span class="big" data-count="pending">{pending}</span>
                    </div>
                    {drift}
                </div>
                <dl class="facts">
                    <dt>"Task definition"</dt>
                    <dd><a href=paths::revision(&family, rev)>{fmt::family_revision(&td).to_string()}</a></dd>
                    <dt>"Cluster"</dt>
                    <dd><a href=paths::cluster(&cluster, "services")>{cluster.clone()}</a></dd>
                    <dt>"Launch type"</dt>
                    <dd>{s.launch_type.as_ref().map(|l| l.as_str().to_string()).unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Scheduling"</dt>
                    <dd>{s.scheduling_strategy.as_ref().map(|l| l.as_str().to_string()).unwrap_or_else(|| "REPLICA".into())}</dd>
                    <dt>"Primary deployment"</dt>
                    <dd>
                        {p.map(|d| {
                            format!(
                                "{} · {} · {}/{} running",
                                d.id.clone().unwrap_or_default(),
                                d.rollout_state.as_ref().map(|r| r.as_str().to_string()).unwrap_or_default(),
                                d.running_count.unwrap_or(0),
                                d.desired_count.unwrap_or(0),
                            )
                        })}
                    </dd>
                    <dt>"Deployment controller"</dt>
                    <dd data-fact="controller">{controller.clone()}</dd>
                    <dt>"Created"</dt>
                    <dd>{fmt::time(s.created_at.as_ref())}</dd>
                </dl>
                {task_sets}
                <h2>"Latest events"</h2>
                <ul class="events">
                    {events
                        .into_iter()
                        .map(|e| {
                            view! {
                                <li>
                                    <time>{fmt::time(e.created_at.as_ref())}</time>
                                    " "
                                    {e.message.unwrap_or_default()}
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            }
        })
    }
}

/// An ECS call on one service (`cluster` and `service` added to `body`), answering `done`.
fn service_call(
    action: &'static str,
    cluster: String,
    service: String,
    body: serde_json::Value,
    done: String,
) -> std::pin::Pin<Box<dyn Future<Output = Result<String, ApiError>>>> {
    Box::pin(async move {
        let mut b = body;
        b["cluster"] = json!(cluster);
        b["service"] = json!(service);
        api::ecs_json(action, b).await?;
        Ok(done)
    })
}

/// The row actions of an EXTERNAL service's task set: make it PRIMARY, scale it, delete it
/// (with `force` when it is PRIMARY, as ECS requires).
fn task_set_actions(cluster: String, service: String, t: &w::TaskSet) -> impl IntoView + use<> {
    let id = t.id.clone().unwrap_or_default();
    let status = t.status.clone().unwrap_or_default();
    let scale_now = t.scale.as_ref().and_then(|s| s.value).unwrap_or(0.0);
    let (c1, s1, id1) = (cluster.clone(), service.clone(), id.clone());
    let primary = move || {
        let (cluster, service, id) = (c1.clone(), s1.clone(), id1.clone());
        open_dialog(Dialog {
            title: "Make primary".into(),
            body: format!(
                "Make task set {id} the PRIMARY one of {service}; the current PRIMARY becomes ACTIVE and the service takes this set's task definition, launch and network."
            ),
            fields: vec![],
            typed_confirm: None,
            danger: false,
            run: Arc::new(move |_| {
                service_call(
                    "UpdateServicePrimaryTaskSet",
                    cluster.clone(),
                    service.clone(),
                    json!({"primaryTaskSet": id}),
                    format!("Task set {id} is PRIMARY."),
                )
            }),
        });
    };
    let (c2, s2, id2) = (cluster.clone(), service.clone(), id.clone());
    let scale = move || {
        let (cluster, service, id) = (c2.clone(), s2.clone(), id2.clone());
        open_dialog(Dialog {
            title: "Scale task set".into(),
            body: format!(
                "Set the share of {service}'s desired count that task set {id} runs, in percent (now {scale_now}%)."
            ),
            fields: vec![Field::number("Scale (percent)", scale_now.round() as i64)],
            typed_confirm: None,
            danger: false,
            run: Arc::new(move |v| {
                let raw = v.into_iter().next().unwrap_or_default();
                match raw.trim().parse::<f64>() {
                    Ok(p) if (0.0..=100.0).contains(&p) => service_call(
                        "UpdateTaskSet",
                        cluster.clone(),
                        service.clone(),
                        json!({"taskSet": id, "scale": {"value": p, "unit": "PERCENT"}}),
                        format!("Task set {id} scaled to {p}%."),
                    ),
                    _ => Box::pin(async move {
                        Err(ApiError {
                            code: "InvalidParameterException".into(),
                            message: format!(
                                "The scale is a number of percent from 0 to 100, not {raw:?}."
                            ),
                        })
                    }),
                }
            }),
        });
    };
    let is_primary = status == "PRIMARY";
    let (c3, s3, id3) = (cluster, service, id);
    let delete = move || {
        let (cluster, service, id) = (c3.clone(), s3.clone(), id3.clone());
        open_dialog(Dialog {
            title: "Delete task set".into(),
            body: if is_primary {
                format!(
                    "Delete the PRIMARY task set {id} of {service} (with force): its tasks are stopped and the service has no PRIMARY set until another is made one."
                )
            } else {
                format!("Delete task set {id} of {service}: it drains and its tasks are stopped.")
            },
            fields: vec![],
            typed_confirm: None,
            danger: true,
            run: Arc::new(move |_| {
                service_call(
                    "DeleteTaskSet",
                    cluster.clone(),
                    service.clone(),
                    json!({"taskSet": id, "force": is_primary}),
                    format!("Task set {id} is draining."),
                )
            }),
        });
    };
    let draining = status == "DRAINING";
    (!draining).then(|| {
        view! {
            <div class="actions" role="group" aria-label="Task set actions">
                {(!is_primary).then(|| view! { <WriteButton class="btn" label="Make primary" on_click=Box::new(primary) /> })}
                <WriteButton class="btn" label="Scale task set" on_click=Box::new(scale) />
                <WriteButton class="btn danger" label="Delete task set" on_click=Box::new(delete) />
            </div>
        }
    })
}

/// The task sets of a service with an EXTERNAL or CODE_DEPLOY deployment controller: which
/// one is PRIMARY, what each runs, its share of the desired count and whether it is steady;
/// for an EXTERNAL service, the actions on each (a CODE_DEPLOY service's sets are CodeDeploy's).
#[component]
fn TaskSets(
    cluster: String,
    service: String,
    sets: Vec<w::TaskSet>,
    external: bool,
) -> impl IntoView {
    let empty = sets.is_empty().then(|| {
        view! { <p class="empty">"No task sets: create one with CreateTaskSet."</p> }
    });
    view! {
        <h2>"Task sets"</h2>
        {empty}
        <table data-table="task-sets">
            <thead>
                <tr>
                    <th scope="col">"Task set"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Revision"</th>
                    <th scope="col">"Scale"</th>
                    <th scope="col">"Running"</th>
                    <th scope="col">"Stability"</th>
                    <th scope="col">"External id"</th>
                    {external.then(|| view! { <th scope="col">"Actions"</th> })}
                </tr>
            </thead>
            <tbody>
                {sets
                    .into_iter()
                    .map(|t| {
                        let id = t.id.clone().unwrap_or_default();
                        let td = t.task_definition.clone().unwrap_or_default();
                        let scale = t
                            .scale
                            .as_ref()
                            .and_then(|s| s.value)
                            .map(|v| format!("{v}%"))
                            .unwrap_or_default();
                        let counts = format!(
                            "{}/{}",
                            t.running_count.unwrap_or(0),
                            t.computed_desired_count.unwrap_or(0)
                        );
                        view! {
                            <tr data-key=id.clone()>
                                <td>{id.clone()}</td>
                                <td data-col="status">{t.status.clone().unwrap_or_default()}</td>
                                <td>{fmt::family_revision(&td).to_string()}</td>
                                <td data-col="scale">{scale}</td>
                                <td data-col="running">{counts}</td>
                                <td data-col="stability">{t.stability_status.clone().unwrap_or_default()}</td>
                                <td>{t.external_id.clone().unwrap_or_else(|| "—".into())}</td>
                                {external.then(|| view! { <td>{task_set_actions(cluster.clone(), service.clone(), &t)}</td> })}
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Events(svc: Memo<Option<w::Service>>) -> impl IntoView {
    let events = Memo::new(move |_| {
        svc.with(|s| {
            s.as_ref()
                .and_then(|s| s.events.clone())
                .unwrap_or_default()
        })
    });
    view! {
        <table data-table="events">
            <thead>
                <tr>
                    <th scope="col">"Time"</th>
                    <th scope="col">"Message"</th>
                </tr>
            </thead>
            <tbody>
                <For
                    each=move || events.get()
                    key=|e| e.id.clone().unwrap_or_default()
                    children=move |e| {
                        view! {
                            <tr data-key=e.id.clone().unwrap_or_default() tabindex="-1" aria-selected="false">
                                <td class="nowrap">{fmt::time(e.created_at.as_ref())}</td>
                                <td>{e.message.clone().unwrap_or_default()}</td>
                            </tr>
                        }
                    }
                />
            </tbody>
        </table>
    }
}

/// One deployment as the page shows it.
#[derive(Clone, PartialEq)]
struct Dep {
    d: w::ServiceDeployment,
    id: String,
    verdict: Verdict,
    target_td: Option<String>,
    rollback_td: Option<String>,
    /// The task definition of the (first) source revision: what the deployment replaced.
    source_td: Option<String>,
}

async fn load_deployments(cluster: &str, service: &str) -> Result<Vec<Dep>, ApiError> {
    // Plain JSON where only an ARN or two is read: typed model types cost the wasm their
    // whole deserialiser.
    let list = api::ecs_json(
        "ListServiceDeployments",
        json!({"cluster": cluster, "service": service, "maxResults": 100}),
    )
    .await?;
    let arns: Vec<String> = list["serviceDeployments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["serviceDeploymentArn"].as_str().map(str::to_string))
        .collect();
    let mut deps = Vec::new();
    for chunk in chunks(&arns, 20) {
        let r: w::DescribeServiceDeploymentsResponse = api::ecs(
            "DescribeServiceDeployments",
            &json!({"serviceDeploymentArns": chunk}),
        )
        .await?;
        deps.extend(r.service_deployments.unwrap_or_default());
    }
    let mut revision_arns: Vec<String> = Vec::new();
    for d in &deps {
        if let Some(a) = d
            .target_service_revision
            .as_ref()
            .and_then(|t| t.arn.clone())
        {
            revision_arns.push(a);
        }
        if let Some(a) = d
            .rollback
            .as_ref()
            .and_then(|r| r.service_revision_arn.clone())
        {
            revision_arns.push(a);
        }
        if let Some(a) = d
            .source_service_revisions
            .as_ref()
            .and_then(|s| s.first())
            .and_then(|s| s.arn.clone())
        {
            revision_arns.push(a);
        }
    }
    revision_arns.sort();
    revision_arns.dedup();
    let mut tds: HashMap<String, String> = HashMap::new();
    for chunk in chunks(&revision_arns, 20) {
        let r = api::ecs_json(
            "DescribeServiceRevisions",
            json!({"serviceRevisionArns": chunk}),
        )
        .await?;
        for rev in r["serviceRevisions"].as_array().into_iter().flatten() {
            if let (Some(a), Some(td)) = (
                rev["serviceRevisionArn"].as_str(),
                rev["taskDefinition"].as_str(),
            ) {
                tds.insert(a.to_string(), td.to_string());
            }
        }
    }
    let mut out: Vec<Dep> = deps
        .into_iter()
        .map(|d| {
            let target_td = d
                .target_service_revision
                .as_ref()
                .and_then(|t| t.arn.as_ref())
                .and_then(|a| tds.get(a).cloned());
            let rollback_td = d
                .rollback
                .as_ref()
                .and_then(|r| r.service_revision_arn.as_ref())
                .and_then(|a| tds.get(a).cloned());
            let source_td = d
                .source_service_revisions
                .as_ref()
                .and_then(|s| s.first())
                .and_then(|s| s.arn.as_ref())
                .and_then(|a| tds.get(a).cloned());
            Dep {
                source_td,
                id: fmt::last_segment(d.service_deployment_arn.as_deref().unwrap_or_default())
                    .to_string(),
                verdict: Verdict::of(&d),
                d,
                target_td,
                rollback_td,
            }
        })
        .collect();
    out.sort_by_key(|d| std::cmp::Reverse(fmt::epoch_ms(d.d.created_at.as_ref())));
    Ok(out)
}

fn timeline(
    d: &w::ServiceDeployment,
    events: &[w::ServiceEvent],
    id: &str,
) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    let mut push = |t: Option<&m::Timestamp>, what: String| {
        if t.is_some() {
            out.push((fmt::epoch_ms(t), fmt::time(t), what));
        }
    };
    push(d.created_at.as_ref(), "Created".into());
    push(d.started_at.as_ref(), "Started rolling out".into());
    if let Some(r) = &d.rollback {
        push(
            r.started_at.as_ref(),
            format!("Rollback started: {}", r.reason.clone().unwrap_or_default()),
        );
    }
    push(d.stopped_at.as_ref(), "Stopped".into());
    push(
        d.finished_at.as_ref(),
        format!(
            "Finished: {}",
            d.status
                .as_ref()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default()
        ),
    );
    for e in events {
        let msg = e.message.clone().unwrap_or_default();
        if !id.is_empty() && msg.contains(id) {
            push(e.created_at.as_ref(), msg);
        }
    }
    out.sort_by_key(|x| x.0);
    out
}

#[component]
fn Deployments(cluster: String, service: String, svc: Memo<Option<w::Service>>) -> impl IntoView {
    let deps: RwSignal<Option<Result<Vec<Dep>, String>>> = RwSignal::new(None);
    let (c, s) = (cluster.clone(), service.clone());
    // Refetch whenever the service changes (the change stream updates it).
    Effect::new(move |_| {
        svc.track();
        let (c, s) = (c.clone(), s.clone());
        leptos::task::spawn_local(async move {
            let r = load_deployments(&c, &s).await.map_err(|e| e.to_string());
            deps.set(Some(r));
        });
    });
    let tasks = store().tasks(&cluster);
    move || {
        let events = svc.with(|s| {
            s.as_ref()
                .and_then(|s| s.events.clone())
                .unwrap_or_default()
        });
        match deps.get() {
            None => view! { <p class="muted">"Loading…"</p> }.into_any(),
            Some(Err(e)) => view! { <p role="alert" class="error">{e}</p> }.into_any(),
            Some(Ok(list)) => {
                let tasks = tasks.clone();
                let cluster = cluster.clone();
                view! {
                    <table data-table="deployments">
                        <thead>
                            <tr>
                                <th scope="col">"Deployment"</th>
                                <th scope="col">"Verdict"</th>
                                <th scope="col">"Revision"</th>
                                <th scope="col">"Circuit breaker"</th>
                                <th scope="col">"Started"</th>
                                <th scope="col">"Finished"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {list
                                .into_iter()
                                .map(|dep| {
                                    let back_to = dep.rollback_td.as_deref().and_then(fmt::revision_number);
                                    let detail = dep.verdict.detail(back_to);
                                    let tone = match dep.verdict.key() {
                                        "succeeded" => "ok",
                                        "failed" => "bad",
                                        "in-progress" => "warn",
                                        _ => "neutral",
                                    };
                                    let progress = match dep.verdict {
                                        Verdict::InProgress { running, desired } => Some(view! {
                                            <progress max=desired.max(1) value=running aria-label="Running of desired"></progress>
                                        }),
                                        _ => None,
                                    };
                                    let cb = dep.d.deployment_circuit_breaker.as_ref().map(|b| {
                                        format!(
                                            "{} · {} of {} failed",
                                            b.status.as_ref().map(|s| s.as_str().to_string()).unwrap_or_default(),
                                            b.failure_count.unwrap_or(0),
                                            b.threshold.unwrap_or(0)
                                        )
                                    }).unwrap_or_else(|| "—".into());
                                    let failed: Vec<String> = tasks.list.with(|l| {
                                        l.iter()
                                            .filter(|r| r.data.with(|t| {
                                                t.started_by.as_deref().is_some_and(|s| s.ends_with(&dep.id))
                                                    && t.last_status.as_deref() == Some("STOPPED")
                                                    && (t.stop_code.as_ref().is_some_and(|c| c.as_str() == "TaskFailedToStart")
                                                        || t.containers.iter().flatten().any(|c| c.exit_code.is_some_and(|x| x != 0)))
                                            }))
                                            .map(|r| r.key.to_string())
                                            .collect()
                                    });
                                    let rev = dep.target_td.clone().unwrap_or_default();
                                    let tl = timeline(&dep.d, &events, &dep.id);
                                    let cluster = cluster.clone();
                                    view! {
                                        <tr data-key=dep.id.clone() data-verdict=dep.verdict.key()>
                                            <td class="mono">
                                                <details>
                                                    <summary>{dep.id.clone()}</summary>
                                                    <ol class="timeline" aria-label="Timeline">
                                                        {tl.into_iter().map(|(_, t, what)| view! {
                                                            <li><time>{t}</time>" "{what}</li>
                                                        }).collect_view()}
                                                    </ol>
                                                    {(!failed.is_empty()).then(|| view! {
                                                        <p>"Failed tasks: "
                                                            {failed.into_iter().map(|id| {
                                                                let href = paths::task(&cluster, &id);
                                                                view! { <a class="mono" href=href>{id}</a>" " }
                                                            }).collect_view()}
                                                        </p>
                                                    })}
                                                </details>
                                            </td>
                                            <td>
                                                <span class=format!("status status-{tone}")>{dep.verdict.label()}</span>
                                                " "
                                                <span class="detail">{detail}</span>
                                                {progress}
                                            </td>
                                            <td>
                                                {fmt::family_revision(&rev).to_string()}
                                                {dep.source_td.clone().filter(|s| *s != rev).map(|s| view! {
                                                    " " <a class="small" data-action="diff" href=paths::diff(fmt::family_revision(&s), fmt::family_revision(&rev))>
                                                        {format!("diff from {}", fmt::family_revision(&s))}
                                                    </a>
                                                })}
                                            </td>
                                            <td>{cb}</td>
                                            <td class="nowrap">{fmt::time(dep.d.started_at.as_ref())}</td>
                                            <td class="nowrap">{fmt::time(dep.d.finished_at.as_ref())}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                .into_any()
            }
        }
    }
}

fn update(
    cluster: String,
    service: String,
    body: serde_json::Value,
    done: String,
) -> std::pin::Pin<Box<dyn Future<Output = Result<String, ApiError>>>> {
    service_call("UpdateService", cluster, service, body, done)
}

#[component]
fn Actions(cluster: String, svc: Memo<Option<w::Service>>) -> impl IntoView {
    let name = move || {
        svc.with(|s| {
            s.as_ref()
                .and_then(|s| s.service_name.clone())
                .unwrap_or_default()
        })
    };
    let family = move || {
        svc.with(|s| {
            s.as_ref()
                .and_then(|s| s.task_definition.clone())
                .map(|t| fmt::family_of(&t).to_string())
                .unwrap_or_default()
        })
    };
    // Load the family's revisions now, so the Deploy dialog can offer them.
    Effect::new(move |_| {
        let fam = family();
        if !fam.is_empty() {
            store().revisions(&fam);
        }
    });
    let c1 = cluster.clone();
    let deploy = move || {
        let (cluster, service, fam) = (c1.clone(), name(), family());
        let revs = store().revisions(&fam).list.get_untracked();
        let mut options: Vec<(String, String)> = revs
            .iter()
            .filter(|r| r.data.with_untracked(|r| r.status == "ACTIVE"))
            .map(|r| {
                r.data
                    .with_untracked(|r| (r.arn.clone(), format!("{fam}:{}", r.revision)))
            })
            .collect();
        if options.is_empty() {
            options.push((fam.clone(), format!("{fam} (latest ACTIVE revision)")));
        }
        open_dialog(Dialog {
            title: "Deploy".into(),
            body: format!("Start a rolling deployment of {service} with the chosen revision."),
            fields: vec![Field::select("Revision", options)],
            typed_confirm: None,
            danger: false,
            run: Arc::new(move |v| {
                let td = v.into_iter().next().unwrap_or_default();
                update(
                    cluster.clone(),
                    service.clone(),
                    json!({"taskDefinition": td}),
                    format!("Deployment of {} started.", fmt::family_revision(&td)),
                )
            }),
        });
    };
    let c2 = cluster.clone();
    let force = move || {
        let (cluster, service) = (c2.clone(), name());
        open_dialog(Dialog {
            title: "Force new deployment".into(),
            body: format!("Replace every task of {service} with a new one of the same revision."),
            fields: vec![],
            typed_confirm: None,
            danger: false,
            run: Arc::new(move |_| {
                update(
                    cluster.clone(),
                    service.clone(),
                    json!({"forceNewDeployment": true}),
                    "New deployment started.".into(),
                )
            }),
        });
    };
    let c3 = cluster.clone();
    let scale = move || {
        let (cluster, service) = (c3.clone(), name());
        let current = svc.with_untracked(|s| s.as_ref().and_then(|s| s.desired_count).unwrap_or(0));
        open_dialog(Dialog {
            title: "Scale".into(),
            body: format!("Set the desired number of tasks of {service} (now {current})."),
            fields: vec![Field::number("Desired tasks", i64::from(current))],
            typed_confirm: None,
            danger: false,
            run: Arc::new(move |v| {
                let raw = v.into_iter().next().unwrap_or_default();
                match raw.trim().parse::<i64>() {
                    Ok(n) if n >= 0 => update(
                        cluster.clone(),
                        service.clone(),
                        json!({"desiredCount": n}),
                        format!("Desired count set to {n}."),
                    ),
                    _ => Box::pin(async move {
                        Err(ApiError {
                            code: "InvalidParameterException".into(),
                            message: format!(
                                "Desired tasks must be a whole number of 0 or more, not {raw:?}."
                            ),
                        })
                    }),
                }
            }),
        });
    };
    let c4 = cluster.clone();
    let rollback = move || {
        let (cluster, service) = (c4.clone(), name());
        leptos::task::spawn_local(async move {
            let deps = load_deployments(&cluster, &service).await;
            let (body, run): (String, super::ui::Run) = match deps {
                Err(e) => (
                    e.to_string(),
                    Arc::new(move |_| {
                        let e = e.clone();
                        Box::pin(async move { Err(e) })
                    }),
                ),
                Ok(list) => {
                    let current = list.first().cloned();
                    let in_progress = current.as_ref().is_some_and(|d| {
                        matches!(d.verdict, Verdict::InProgress { .. } | Verdict::Pending)
                    });
                    let last_good = list
                        .iter()
                        .skip(1)
                        .find(|d| d.verdict == Verdict::Succeeded)
                        .and_then(|d| d.target_td.clone());
                    match (in_progress, current, last_good) {
                        (true, Some(cur), _) => {
                            let arn = cur.d.service_deployment_arn.clone().unwrap_or_default();
                            (
                                format!(
                                    "Stop deployment {} and roll back to the last completed deployment (StopServiceDeployment, ROLLBACK).",
                                    cur.id
                                ),
                                Arc::new(move |_| {
                                    let arn = arn.clone();
                                    Box::pin(async move {
                                        api::ecs_json("StopServiceDeployment", json!({"serviceDeploymentArn": arn, "stopType": "ROLLBACK"})).await?;
                                        Ok("Rollback requested.".to_string())
                                    })
                                }),
                            )
                        }
                        (_, _, Some(td)) => {
                            let (cluster, service) = (cluster.clone(), service.clone());
                            (
                                format!(
                                    "Deploy {} again, the revision of the last completed deployment.",
                                    fmt::family_revision(&td)
                                ),
                                Arc::new(move |_| {
                                    update(
                                        cluster.clone(),
                                        service.clone(),
                                        json!({"taskDefinition": td}),
                                        format!("Rolling back to {}.", fmt::family_revision(&td)),
                                    )
                                }),
                            )
                        }
                        _ => {
                            let e = ApiError {
                                code: "InvalidParameterException".into(),
                                message:
                                    "There is no earlier completed deployment to roll back to."
                                        .into(),
                            };
                            (
                                "There is no earlier completed deployment to roll back to.".into(),
                                Arc::new(move |_| {
                                    let e = e.clone();
                                    Box::pin(async move { Err(e) })
                                }),
                            )
                        }
                    }
                }
            };
            open_dialog(Dialog {
                title: "Roll back".into(),
                body,
                fields: vec![],
                typed_confirm: None,
                danger: true,
                run,
            });
        });
    };
    let c5 = cluster.clone();
    let delete = move || {
        let (cluster, service) = (c5.clone(), name());
        open_dialog(Dialog {
            title: "Delete service".into(),
            body: format!(
                "Delete {service}: its tasks are stopped (DeleteService with force) and it becomes INACTIVE. This cannot be undone."
            ),
            fields: vec![],
            typed_confirm: Some(service.clone()),
            danger: true,
            run: Arc::new(move |_| {
                let (cluster, service) = (cluster.clone(), service.clone());
                Box::pin(async move {
                    api::ecs_json(
                        "DeleteService",
                        json!({"cluster": cluster, "service": service, "force": true}),
                    )
                    .await?;
                    Ok(format!("Service {service} deleted."))
                })
            }),
        });
    };
    // A service whose task sets carry its revision is deployed through them (EXTERNAL) or by
    // CodeDeploy: ECS refuses UpdateService's deployments there, so they are not offered.
    let rolling = move || {
        svc.with(|s| {
            s.as_ref()
                .and_then(|s| s.deployment_controller.as_ref())
                .and_then(|d| d.r#type.as_deref())
                .is_none_or(|t| t == "ECS")
        })
    };
    let deploy = Arc::new(deploy);
    let force = Arc::new(force);
    let rollback = Arc::new(rollback);
    view! {
        <div class="actions" role="group" aria-label="Service actions">
            {move || {
                let (deploy, force) = (deploy.clone(), force.clone());
                rolling().then(|| view! {
                    <WriteButton class="btn primary" label="Deploy" on_click=Box::new(move || deploy()) />
                    <WriteButton class="btn" label="Force new deployment" on_click=Box::new(move || force()) />
                })
            }}
            <WriteButton class="btn" label="Scale" on_click=Box::new(scale) />
            {move || {
                let rollback = rollback.clone();
                rolling().then(|| view! {
                    <WriteButton class="btn" label="Roll back" on_click=Box::new(move || rollback()) />
                })
            }}
            <WriteButton class="btn danger" label="Delete service" on_click=Box::new(delete) />
        </div>
    }
}
