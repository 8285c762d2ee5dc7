//! Placement, explained: "why pending" for a service or a PENDING task, "would it place?" for
//! the editor's text, and the cluster's topology (instances by availability zone, their tasks as
//! blocks sized by reserved cpu and memory), all live.
//!
//! The verdicts come from `berth-core::placement` running in the tools module over the
//! cluster's instances and tasks exactly as the ECS API returns them (fetched here as plain
//! JSON), so they agree with the server's own decision. This module only fetches and draws.

use leptos::prelude::*;
use serde_json::{Value, json};

use crate::api;
use crate::logic::feed::chunks;
use crate::logic::fmt;
use crate::logic::query::paths;
use crate::store::{list_all, store};
use crate::tools;

use super::host::ready;

/// The stages of a placement check, in the order ECS applies them, with their headings.
const STAGES: &[(&str, &str)] = &[
    ("status", "Status"),
    ("attributes", "Attributes"),
    ("cpu", "CPU"),
    ("memory", "Memory"),
    ("gpu", "GPU"),
    ("ports", "Ports"),
    ("distinctInstance", "distinctInstance"),
    ("memberOf", "memberOf"),
];

/// A cluster's container instances and non-stopped tasks, as the API returns them.
type State = (Vec<Value>, Vec<Value>);

/// Subscribes the running effect to every container instance and task of `cluster` (the change
/// stream updates them), loading them the first time.
fn track_cluster(cluster: &str) {
    let s = store();
    s.instances(cluster)
        .list
        .with(|l| l.iter().for_each(|r| r.data.track()));
    s.tasks(cluster)
        .list
        .with(|l| l.iter().for_each(|r| r.data.track()));
}

/// Fetches a cluster's [`State`].
pub async fn cluster_state(cluster: &str) -> Result<State, String> {
    let e = |e: api::ApiError| e.to_string();
    let arns = list_all(
        "ListContainerInstances",
        json!({"cluster": cluster, "maxResults": 100}),
        "containerInstanceArns",
    )
    .await
    .map_err(e)?;
    let mut instances = Vec::new();
    for c in chunks(&arns, 100) {
        let v = api::ecs_json(
            "DescribeContainerInstances",
            json!({"cluster": cluster, "containerInstances": c}),
        )
        .await
        .map_err(e)?;
        instances.extend(
            v["containerInstances"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    // desiredStatus RUNNING lists the PENDING tasks as well as the RUNNING ones.
    let arns = list_all(
        "ListTasks",
        json!({"cluster": cluster, "desiredStatus": "RUNNING", "maxResults": 100}),
        "taskArns",
    )
    .await
    .map_err(e)?;
    let mut tasks = Vec::new();
    for c in chunks(&arns, 100) {
        let v = api::ecs_json("DescribeTasks", json!({"cluster": cluster, "tasks": c}))
            .await
            .map_err(e)?;
        tasks.extend(v["tasks"].as_array().cloned().unwrap_or_default());
    }
    Ok((instances, tasks))
}

/// What to explain: a task definition (ARN, or the text of one) and the request's placement.
#[derive(Clone, Debug, PartialEq)]
pub struct Ask {
    pub cluster: String,
    /// A task definition ARN or `family:revision` to describe, or …
    pub task_definition: String,
    /// … the task definition itself (the editor's text).
    pub document: Option<Value>,
    pub group: String,
    pub constraints: Value,
    pub strategies: Value,
}

/// The task definition an [`Ask`] is about.
async fn task_definition(ask: &Ask) -> Result<Value, String> {
    match &ask.document {
        Some(d) => Ok(d.clone()),
        None => Ok(api::ecs_json(
            "DescribeTaskDefinition",
            json!({"taskDefinition": ask.task_definition}),
        )
        .await
        .map_err(|e| e.to_string())?["taskDefinition"]
            .clone()),
    }
}

/// Runs the placement engine (in the tools module) for `ask` over `state`.
async fn explain(ask: Ask, state: State) -> Result<Value, String> {
    let t = tools::load().await?;
    let td = task_definition(&ask).await?;
    let (instances, tasks) = state;
    let input = json!({
        "instances": instances,
        "tasks": tasks,
        "taskDefinition": td,
        "group": ask.group,
        "placementConstraints": ask.constraints,
        "placementStrategy": ask.strategies,
        "seed": 0,
    });
    let v: Value =
        serde_json::from_str(&t.explain(&input.to_string())).map_err(|e| e.to_string())?;
    match v.get("error").and_then(Value::as_str) {
        Some(e) => Err(e.to_string()),
        None => Ok(v),
    }
}

/// Fetches the cluster's state again whenever its instances or tasks change (the change stream
/// updates them), and explains `ask` again whenever it or the state changes — so typing in the
/// editor re-runs only the engine, not the cluster's API calls.
fn live_explanation(ask: Signal<Option<Ask>>) -> RwSignal<Option<Result<Value, String>>> {
    let out = RwSignal::new(None);
    let cluster = Memo::new(move |_| ask.with(|a| a.as_ref().map(|a| a.cluster.clone())));
    let state: RwSignal<Option<Result<State, String>>> = RwSignal::new(None);
    Effect::new(move |_| {
        let Some(c) = cluster.get() else {
            state.set(None);
            return;
        };
        track_cluster(&c);
        leptos::task::spawn_local(async move {
            state.set(Some(cluster_state(&c).await));
        });
    });
    Effect::new(move |_| {
        let (Some(a), Some(st)) = (ask.get(), state.get()) else {
            out.set(None);
            return;
        };
        leptos::task::spawn_local(async move {
            let res = match st {
                Ok(st) => explain(a, st).await,
                Err(e) => Err(e),
            };
            out.set(Some(res));
            ready().set(true);
        });
    });
    out
}

/// One explanation: the verdict, ECS's summary counts, and a row per instance with every stage.
#[component]
pub fn Explanation(result: RwSignal<Option<Result<Value, String>>>) -> impl IntoView {
    move || match result.get() {
        None => view! { <p class="muted">"Checking every container instance…"</p> }.into_any(),
        Some(Err(e)) => view! { <p role="alert" class="error">{e}</p> }.into_any(),
        Some(Ok(v)) => {
            let instances = v["instances"].as_array().cloned().unwrap_or_default();
            let verdict = match v["chosen"].as_str() {
                Some(arn) => view! {
                    <p class="verdict ok" data-testid="verdict">
                        <span class="status status-ok">"places"</span>
                        {format!(" The next task would go to {} ({} of {} instances can take it).",
                            fmt::last_segment(arn), v["eligible"], instances.len())}
                    </p>
                }
                .into_any(),
                None => view! {
                    <p class="verdict bad" data-testid="verdict">
                        <span class="status status-bad">"cannot place"</span>
                        " "
                        {v["message"].as_str().unwrap_or("No container instance can take this task.").to_string()}
                    </p>
                }
                .into_any(),
            };
            let needs = &v["needs"];
            let needs_line = format!(
                "The task needs {} CPU units and {} MiB of memory{}.",
                needs["cpu"],
                needs["memory"],
                needs["ports"]
                    .as_array()
                    .filter(|p| !p.is_empty())
                    .map(|p| format!(
                        ", host ports {}",
                        p.iter()
                            .map(Value::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .unwrap_or_default()
            );
            let summary = v["summary"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, n)| format!("{k}: {n}"))
                        .collect::<Vec<_>>()
                        .join(" · ")
                })
                .unwrap_or_default();
            view! {
                {verdict}
                <p class="muted">{needs_line}</p>
                {(!summary.is_empty()).then(|| view! { <p data-testid="summary">"Rejected by: " {summary}</p> })}
                <table class="plain placement" data-table="placement">
                    <thead>
                        <tr>
                            <th scope="col">"Instance"</th>
                            <th scope="col">"AZ"</th>
                            {STAGES.iter().map(|(_, h)| view! { <th scope="col">{*h}</th> }).collect::<Vec<_>>()}
                        </tr>
                    </thead>
                    <tbody>
                        {instances.into_iter().map(|i| {
                            let arn = i["arn"].as_str().unwrap_or_default().to_string();
                            let id = fmt::last_segment(&arn).to_string();
                            let stages = i["stages"].as_array().cloned().unwrap_or_default();
                            view! {
                                <tr data-instance=id.clone() data-key=id.clone()>
                                    <td class="mono">{id.clone()} <div class="muted">{i["ec2InstanceId"].as_str().unwrap_or_default().to_string()}</div></td>
                                    <td>{i["az"].as_str().unwrap_or("—").to_string()}</td>
                                    {STAGES.iter().map(|(s, _)| {
                                        let st = stages.iter().find(|x| x["stage"] == *s).cloned().unwrap_or(Value::Null);
                                        let pass = st["pass"].as_bool().unwrap_or(true);
                                        let detail = st["detail"].as_str().unwrap_or_default().to_string();
                                        view! {
                                            <td data-stage=*s data-pass=pass.to_string() class=if pass { "pass" } else { "fail" }>
                                                <span class=if pass { "status status-ok" } else { "status status-bad" }>{if pass { "pass" } else { "fail" }}</span>
                                                {(!detail.is_empty()).then(|| view! { <div class="detail">{detail}</div> })}
                                            </td>
                                        }
                                    }).collect::<Vec<_>>()}
                                </tr>
                            }
                        }).collect::<Vec<_>>()}
                    </tbody>
                </table>
            }
            .into_any()
        }
    }
}

/// A service's "why pending": where its next task would land, and why every other instance
/// would not take it.
#[component]
pub fn ServicePlacement(cluster: String, service: String) -> impl IntoView {
    let ask: RwSignal<Option<Ask>> = RwSignal::new(None);
    let failure = RwSignal::new(String::new());
    {
        let (c, s) = (cluster.clone(), service.clone());
        leptos::task::spawn_local(async move {
            match api::ecs_json("DescribeServices", json!({"cluster": c, "services": [s]})).await {
                Ok(v) => {
                    let svc = &v["services"][0];
                    if svc.is_null() {
                        failure.set("ServiceNotFoundException: Service not found.".into());
                        return;
                    }
                    ask.set(Some(Ask {
                        cluster: c,
                        task_definition: svc["taskDefinition"].as_str().unwrap_or_default().into(),
                        document: None,
                        group: format!("service:{}", svc["serviceName"].as_str().unwrap_or(&s)),
                        constraints: svc["placementConstraints"].clone(),
                        strategies: svc["placementStrategy"].clone(),
                    }));
                }
                Err(e) => failure.set(e.to_string()),
            }
        });
    }
    let result = live_explanation(Signal::derive(move || ask.get()));
    view! {
        {move || (!failure.get().is_empty()).then(|| view! { <p role="alert" class="error">{failure.get()}</p> })}
        <Explanation result=result />
    }
}

/// A PENDING task's "why pending".
#[component]
pub fn TaskPlacement(cluster: String, task_definition: String, group: String) -> impl IntoView {
    let ask = Signal::derive(move || {
        Some(Ask {
            cluster: cluster.clone(),
            task_definition: task_definition.clone(),
            document: None,
            group: group.clone(),
            constraints: Value::Null,
            strategies: Value::Null,
        })
    });
    let result = live_explanation(ask);
    view! { <Explanation result=result /> }
}

/// "Would it place?" for the editor's text, in a cluster the user picks.
#[component]
pub fn WouldItPlace(text: RwSignal<String>) -> impl IntoView {
    let clusters = store().clusters();
    let list = clusters.list.clone();
    let chosen = RwSignal::new(String::new());
    let ask = Signal::derive(move || {
        let c = chosen.get();
        if c.is_empty() {
            return None;
        }
        let doc: Value = text.with(|t| serde_json::from_str(t)).ok()?;
        let td = super::editor::register_request(&doc);
        let family = td["family"].as_str().unwrap_or("family").to_string();
        Some(Ask {
            cluster: c,
            task_definition: String::new(),
            group: format!("family:{family}"),
            document: Some(td),
            constraints: Value::Null,
            strategies: Value::Null,
        })
    });
    let result = live_explanation(ask);
    view! {
        <label class="inline">
            "Cluster"
            <select aria-label="Cluster to place in" on:change=move |ev| chosen.set(event_target_value(&ev))>
                <option value="">"Choose a cluster"</option>
                {move || list.with(|l| l.iter().map(|r| {
                    let k = r.key.to_string();
                    view! { <option value=k.clone()>{k.clone()}</option> }
                }).collect::<Vec<_>>())}
            </select>
        </label>
        {move || (!chosen.get().is_empty()).then(|| view! { <Explanation result=result /> })}
    }
}

fn resource(list: &Value, name: &str) -> i64 {
    list.as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == name))
        .and_then(|r| r["integerValue"].as_i64())
        .unwrap_or(0)
}

fn number(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(0)
}

/// What a task reserves: its task-level cpu/memory, else the sum over its containers.
fn reserved(task: &Value) -> (i64, i64) {
    let containers = task["containers"].as_array().cloned().unwrap_or_default();
    let sum = |k: &str, alt: &str| -> i64 {
        containers
            .iter()
            .map(|c| {
                let v = number(&c[k]);
                if v > 0 { v } else { number(&c[alt]) }
            })
            .sum()
    };
    let cpu = match number(&task["cpu"]) {
        0 => sum("cpu", "cpu"),
        n => n,
    };
    let memory = match number(&task["memory"]) {
        0 => sum("memory", "memoryReservation"),
        n => n,
    };
    (cpu, memory)
}

/// `/ui/clusters/{cluster}/topology`: instances grouped by availability zone, each with its
/// tasks as blocks sized by the memory (width) they reserve, updated live.
#[component]
pub fn Topology(cluster: String) -> impl IntoView {
    let data: RwSignal<Option<Result<State, String>>> = RwSignal::new(None);
    {
        let c = cluster.clone();
        Effect::new(move |_| {
            track_cluster(&c);
            let c = c.clone();
            leptos::task::spawn_local(async move {
                data.set(Some(cluster_state(&c).await));
                ready().set(true);
            });
        });
    }
    move || match data.get() {
        None => view! { <p class="muted">"Loading…"</p> }.into_any(),
        Some(Err(e)) => view! { <p role="alert" class="error">{e}</p> }.into_any(),
        Some(Ok((instances, tasks))) => {
            if instances.is_empty() {
                return view! { <p class="muted">"No container instances: Fargate tasks have no instance to show."</p> }.into_any();
            }
            let mut azs: Vec<(String, Vec<Value>)> = Vec::new();
            for i in instances {
                let az = i["attributes"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["name"] == "ecs.availability-zone"))
                    .and_then(|x| x["value"].as_str())
                    .unwrap_or("(no zone)")
                    .to_string();
                match azs.iter_mut().find(|(z, _)| *z == az) {
                    Some((_, l)) => l.push(i),
                    None => azs.push((az, vec![i])),
                }
            }
            azs.sort_by(|a, b| a.0.cmp(&b.0));
            let c = cluster.clone();
            view! {
                <div class="topology" data-testid="topology">
                    {azs.into_iter().map(|(az, list)| view! {
                        <section class="az" data-az=az.clone()>
                            <h3>{az.clone()}</h3>
                            <div class="instances">
                                {list.into_iter().map(|i| {
                                    let arn = i["containerInstanceArn"].as_str().unwrap_or_default().to_string();
                                    let id = fmt::last_segment(&arn).to_string();
                                    let (rc, rm) = (resource(&i["registeredResources"], "CPU").max(1), resource(&i["registeredResources"], "MEMORY").max(1));
                                    let (fc, fm) = (resource(&i["remainingResources"], "CPU"), resource(&i["remainingResources"], "MEMORY"));
                                    let mine: Vec<&Value> = tasks.iter().filter(|t| t["containerInstanceArn"] == arn.as_str()).collect();
                                    view! {
                                        <div class="instance" data-instance=id.clone()>
                                            <div class="instance-head">
                                                <span class="mono">{id.clone()}</span>
                                                " "
                                                {crate::views::ui::status_text(i["status"].as_str().unwrap_or_default().to_string())}
                                            </div>
                                            <div class="muted">{format!("CPU {} of {rc} free · memory {} of {rm} MiB free · {} tasks", fc, fm, mine.len())}</div>
                                            <div class="blocks" role="list" aria-label=format!("Tasks on {id}")>
                                                {mine.into_iter().map(|t| {
                                                    let (cpu, mem) = reserved(t);
                                                    let tid = fmt::last_segment(t["taskArn"].as_str().unwrap_or_default()).to_string();
                                                    let group = t["group"].as_str().unwrap_or_default().to_string();
                                                    let w = (mem as f64 / rm as f64 * 100.0).clamp(2.0, 100.0);
                                                    let h = (cpu as f64 / rc as f64 * 100.0).clamp(20.0, 100.0);
                                                    let hue = group.bytes().fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32)) % 360;
                                                    view! {
                                                        <a role="listitem" class="block" href=paths::task(&c, &tid)
                                                            data-task=tid.clone()
                                                            style:width=format!("{w:.1}%")
                                                            style:height=format!("{:.0}px", 8.0 + h * 0.4)
                                                            style:background=format!("hsl({hue} 55% 55%)")
                                                            title=format!("{tid} · {group} · {cpu} CPU · {mem} MiB · {}", t["lastStatus"].as_str().unwrap_or_default())>
                                                            <span class="sr-only">{format!("{tid} {group} {cpu} CPU {mem} MiB")}</span>
                                                        </a>
                                                    }
                                                }).collect::<Vec<_>>()}
                                            </div>
                                        </div>
                                    }
                                }).collect::<Vec<_>>()}
                            </div>
                        </section>
                    }).collect::<Vec<_>>()}
                </div>
            }
            .into_any()
        }
    }
}
