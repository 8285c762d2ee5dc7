//! A service's auto scaling: its scalable target, policies and scheduled actions (the
//! Application Auto Scaling API), forms to change them, and a simulator — type or draw a metric
//! series and see the capacity timeline `berth-core::scaling::replay` computes in the tools
//! module, with each step's reason and the min/max clamps: the rules the local cluster applies.
//!
//! It evaluates nothing itself; the tools module does.

use leptos::prelude::*;
use serde_json::{Value, json};

use crate::api::{self, ApiError};
use crate::tools;

use super::host::{read_only, ready, toast};

const AAS: &str = "AnyScaleFrontendService";
const DIMENSION: &str = "ecs:service:DesiredCount";
const CPU: &str = "ECSServiceAverageCPUUtilization";
const MEMORY: &str = "ECSServiceAverageMemoryUtilization";

async fn aas(action: &str, body: Value) -> Result<Value, ApiError> {
    api::call(AAS, action, &body).await
}

/// What Application Auto Scaling holds for one service.
#[derive(Clone, Debug, Default, PartialEq)]
struct Config {
    target: Option<Value>,
    policies: Vec<Value>,
    scheduled: Vec<Value>,
}

async fn load(resource: &str) -> Result<Config, ApiError> {
    let ns = json!({"ServiceNamespace": "ecs"});
    let mut b = ns.clone();
    b["ResourceIds"] = json!([resource]);
    let targets = aas("DescribeScalableTargets", b).await?;
    let mut b = ns.clone();
    b["ResourceId"] = json!(resource);
    let policies = aas("DescribeScalingPolicies", b.clone()).await?;
    let scheduled = aas("DescribeScheduledActions", b).await?;
    let list = |v: &Value, k: &str| v[k].as_array().cloned().unwrap_or_default();
    Ok(Config {
        target: list(&targets, "ScalableTargets").into_iter().next(),
        policies: list(&policies, "ScalingPolicies"),
        scheduled: list(&scheduled, "ScheduledActions"),
    })
}

/// Parses a typed series: numbers separated by spaces, commas or new lines.
pub fn parse_series(s: &str) -> Result<Vec<f64>, String> {
    s.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("{t:?} is not a number"))
        })
        .collect()
}

/// The `ReplayInput` (berth-core's JSON) for a series of one value per minute.
fn replay_input(config: &Config, initial: i64, metric: &str, series: &[f64]) -> Value {
    let t0 = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(); // 2026-01-01
    let target = config
        .target
        .clone()
        .unwrap_or_else(|| json!({"MinCapacity": 0, "MaxCapacity": 10}));
    let policies: Vec<Value> = config
        .policies
        .iter()
        .filter(|p| p["PolicyType"] == "TargetTrackingScaling" || !p["Alarm"].is_null())
        .map(|p| {
            json!({
                "PolicyName": p["PolicyName"],
                "PolicyType": p["PolicyType"],
                "TargetTrackingScalingPolicyConfiguration": p["TargetTrackingScalingPolicyConfiguration"],
                "StepScalingPolicyConfiguration": p["StepScalingPolicyConfiguration"],
                "Alarm": p["Alarm"],
            })
        })
        .map(|mut p| {
            if let Some(o) = p.as_object_mut() {
                o.retain(|_, v| !v.is_null());
            }
            p
        })
        .collect();
    let scheduled: Vec<Value> = config
        .scheduled
        .iter()
        .map(|a| {
            let mut a = a.clone();
            if let Some(o) = a.as_object_mut() {
                o.retain(|k, v| {
                    !v.is_null()
                        && matches!(
                            k.as_str(),
                            "ScheduledActionName"
                                | "Schedule"
                                | "Timezone"
                                | "StartTime"
                                | "EndTime"
                                | "ScalableTargetAction"
                        )
                });
            }
            a
        })
        .collect();
    json!({
        "Target": {
            "MinCapacity": target["MinCapacity"],
            "MaxCapacity": target["MaxCapacity"],
            "SuspendedState": target["SuspendedState"].as_object().map(|_| target["SuspendedState"].clone()),
        },
        "InitialCapacity": initial,
        "Policies": policies,
        "ScheduledActions": scheduled,
        "CreatedAt": t0.to_rfc3339(),
        "Datapoints": series.iter().enumerate().map(|(i, v)| json!({
            "Timestamp": (t0 + chrono::Duration::minutes(i as i64)).to_rfc3339(),
            "Values": { metric: v },
        })).collect::<Vec<_>>(),
    })
}

/// The service's scaling tab.
#[component]
pub fn Scaling(cluster: String, service: String, desired: Signal<i64>) -> impl IntoView {
    let resource = format!("service/{cluster}/{service}");
    let config: RwSignal<Option<Result<Config, String>>> = RwSignal::new(None);
    let reload = {
        let r = resource.clone();
        move || {
            let r = r.clone();
            leptos::task::spawn_local(async move {
                config.set(Some(load(&r).await.map_err(|e| e.to_string())));
                ready().set(true);
            });
        }
    };
    {
        let reload = reload.clone();
        // Reloaded whenever the change stream says Application Auto Scaling changed.
        Effect::new(move |_| {
            crate::store::ticks().scaling.track();
            reload();
        });
    }
    let failure = RwSignal::new(String::new());
    let run = {
        let reload = reload.clone();
        move |action: &'static str, body: Value, done: String| {
            let reload = reload.clone();
            leptos::task::spawn_local(async move {
                match aas(action, body).await {
                    Ok(_) => {
                        failure.set(String::new());
                        toast(&done);
                        reload();
                    }
                    Err(e) => failure.set(e.to_string()),
                }
            });
        }
    };
    let base = {
        let r = resource.clone();
        move || json!({"ServiceNamespace": "ecs", "ResourceId": r, "ScalableDimension": DIMENSION})
    };

    // Scalable target form.
    let min = RwSignal::new(String::new());
    let max = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(c)) = config.get() {
            let t = c.target.unwrap_or_default();
            min.set(
                t["MinCapacity"]
                    .as_i64()
                    .map(|n| n.to_string())
                    .unwrap_or("1".into()),
            );
            max.set(
                t["MaxCapacity"]
                    .as_i64()
                    .map(|n| n.to_string())
                    .unwrap_or("4".into()),
            );
        }
    });
    let save_target = {
        let (run, base) = (run.clone(), base.clone());
        move |_| {
            let mut b = base();
            b["MinCapacity"] = json!(min.get_untracked().trim().parse::<i64>().unwrap_or(-1));
            b["MaxCapacity"] = json!(max.get_untracked().trim().parse::<i64>().unwrap_or(-1));
            run("RegisterScalableTarget", b, "Scalable target saved.".into());
        }
    };
    // Target-tracking policy form.
    let p_name = RwSignal::new("cpu-target".to_string());
    let p_metric = RwSignal::new(CPU.to_string());
    let p_target = RwSignal::new("50".to_string());
    let p_out = RwSignal::new("60".to_string());
    let p_in = RwSignal::new("120".to_string());
    let draft_policy = move || {
        json!({
            "PolicyName": p_name.get(),
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": p_target.get().trim().parse::<f64>().unwrap_or(f64::NAN),
                "PredefinedMetricSpecification": {"PredefinedMetricType": p_metric.get()},
                "ScaleOutCooldown": p_out.get().trim().parse::<i64>().unwrap_or(0),
                "ScaleInCooldown": p_in.get().trim().parse::<i64>().unwrap_or(0),
            },
        })
    };
    let save_policy = {
        let (run, base) = (run.clone(), base.clone());
        move |_| {
            let mut b = base();
            let d = draft_policy();
            b["PolicyName"] = d["PolicyName"].clone();
            b["PolicyType"] = d["PolicyType"].clone();
            b["TargetTrackingScalingPolicyConfiguration"] =
                d["TargetTrackingScalingPolicyConfiguration"].clone();
            run(
                "PutScalingPolicy",
                b,
                format!("Policy {} saved.", p_name.get_untracked()),
            );
        }
    };
    // Scheduled action form.
    let s_name = RwSignal::new("night".to_string());
    let s_schedule = RwSignal::new("cron(0 20 * * ? *)".to_string());
    let s_min = RwSignal::new("0".to_string());
    let s_max = RwSignal::new("1".to_string());
    let save_scheduled = {
        let (run, base) = (run.clone(), base.clone());
        move |_| {
            let mut b = base();
            b["ScheduledActionName"] = json!(s_name.get_untracked());
            b["Schedule"] = json!(s_schedule.get_untracked());
            let mut act = json!({});
            if let Ok(n) = s_min.get_untracked().trim().parse::<i64>() {
                act["MinCapacity"] = json!(n);
            }
            if let Ok(n) = s_max.get_untracked().trim().parse::<i64>() {
                act["MaxCapacity"] = json!(n);
            }
            b["ScalableTargetAction"] = act;
            run(
                "PutScheduledAction",
                b,
                format!("Scheduled action {} saved.", s_name.get_untracked()),
            );
        }
    };

    // Simulator.
    let series_text =
        RwSignal::new("20 25 30 70 85 90 90 90 60 40 30 20 15 10 10 10 10 10".to_string());
    let metric = RwSignal::new(CPU.to_string());
    let with_draft = RwSignal::new(false);
    let series = Memo::new(move |_| parse_series(&series_text.get()));
    let sim_input = Memo::new(move |_| {
        let Some(Ok(mut c)) = config.get() else {
            return None;
        };
        if with_draft.get() {
            c.policies
                .retain(|p| p["PolicyName"] != p_name.get().as_str());
            c.policies.push(draft_policy());
        }
        let s = series.get().ok()?;
        Some(replay_input(&c, desired.get(), &metric.get(), &s).to_string())
    });
    let timeline: RwSignal<Option<Result<Value, String>>> = RwSignal::new(None);
    Effect::new(move |_| {
        let Some(input) = sim_input.get() else {
            timeline.set(None);
            return;
        };
        leptos::task::spawn_local(async move {
            let res = async {
                let t = tools::load().await?;
                let v: Value =
                    serde_json::from_str(&t.replay(&input)).map_err(|e| e.to_string())?;
                match v.get("error").and_then(Value::as_str) {
                    Some(e) => Err(e.to_string()),
                    None => Ok(v),
                }
            }
            .await;
            timeline.set(Some(res));
        });
    });
    let drawing = RwSignal::new(false);
    let draw_at = move |ev: web_sys::MouseEvent| {
        let Ok(mut s) = series.get_untracked() else {
            return;
        };
        if s.is_empty() {
            return;
        }
        let Some(el) = ev
            .current_target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
        else {
            return;
        };
        let r = el.get_bounding_client_rect();
        let x = (ev.client_x() as f64 - r.left()) / r.width().max(1.0);
        let y = (ev.client_y() as f64 - r.top()) / r.height().max(1.0);
        let i = ((x * s.len() as f64) as usize).min(s.len() - 1);
        s[i] = ((1.0 - y) * 100.0).clamp(0.0, 100.0).round();
        series_text.set(
            s.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        );
    };

    let delete_policy = {
        let (run, base) = (run.clone(), base.clone());
        move |name: String| {
            let mut b = base();
            b["PolicyName"] = json!(name);
            run("DeleteScalingPolicy", b, format!("Policy {name} deleted."));
        }
    };
    let delete_action = {
        let (run, base) = (run.clone(), base.clone());
        move |name: String| {
            let mut b = base();
            b["ScheduledActionName"] = json!(name);
            run(
                "DeleteScheduledAction",
                b,
                format!("Scheduled action {name} deleted."),
            );
        }
    };

    let text_input = |label: &'static str, sig: RwSignal<String>| {
        view! {
            <label class="field-inline">
                {label}
                <input type="text" prop:value=move || sig.get() on:input=move |ev| sig.set(event_target_value(&ev)) />
            </label>
        }
    };

    view! {
        {move || (!failure.get().is_empty()).then(|| view! { <p role="alert" class="error">{failure.get()}</p> })}
        {move || match config.get() {
            None => view! { <p class="muted">"Loading…"</p> }.into_any(),
            Some(Err(e)) => view! { <p role="alert" class="error">{e}</p> }.into_any(),
            Some(Ok(c)) => {
                let target = match &c.target {
                    Some(t) => format!("Desired count kept between {} and {}.", t["MinCapacity"], t["MaxCapacity"]),
                    None => "Not registered with Application Auto Scaling: the desired count changes only by hand.".into(),
                };
                let (dp, da) = (delete_policy.clone(), delete_action.clone());
                view! {
                    <p data-testid="scalable-target">{target}</p>
                    <h2>"Policies"</h2>
                    <table class="plain" data-table="policies">
                        <thead><tr><th>"Name"</th><th>"Type"</th><th>"Rule"</th><th></th></tr></thead>
                        <tbody>
                            {c.policies.iter().map(|p| {
                                let name = p["PolicyName"].as_str().unwrap_or_default().to_string();
                                let tt = &p["TargetTrackingScalingPolicyConfiguration"];
                                let rule = if tt.is_object() {
                                    format!("keep {} at {} (out cooldown {} s, in {} s{})",
                                        tt["PredefinedMetricSpecification"]["PredefinedMetricType"].as_str()
                                            .or(tt["CustomizedMetricSpecification"]["MetricName"].as_str()).unwrap_or("metric"),
                                        tt["TargetValue"], tt["ScaleOutCooldown"].as_i64().unwrap_or(300), tt["ScaleInCooldown"].as_i64().unwrap_or(300),
                                        if tt["DisableScaleIn"] == true { ", no scale-in" } else { "" })
                                } else {
                                    p["StepScalingPolicyConfiguration"].to_string()
                                };
                                let dp = dp.clone();
                                let n2 = name.clone();
                                view! {
                                    <tr data-key=name.clone()>
                                        <td>{name.clone()}</td>
                                        <td>{p["PolicyType"].as_str().unwrap_or_default().to_string()}</td>
                                        <td>{rule}</td>
                                        <td><button class="btn small danger" disabled=move || read_only().is_some() title=read_only on:click=move |_| dp(n2.clone())>"Delete"</button></td>
                                    </tr>
                                }
                            }).collect::<Vec<_>>()}
                        </tbody>
                    </table>
                    <h2>"Scheduled actions"</h2>
                    <table class="plain" data-table="scheduled">
                        <thead><tr><th>"Name"</th><th>"Schedule"</th><th>"Min"</th><th>"Max"</th><th></th></tr></thead>
                        <tbody>
                            {c.scheduled.iter().map(|a| {
                                let name = a["ScheduledActionName"].as_str().unwrap_or_default().to_string();
                                let da = da.clone();
                                let n2 = name.clone();
                                view! {
                                    <tr data-key=name.clone()>
                                        <td>{name.clone()}</td>
                                        <td class="mono">{a["Schedule"].as_str().unwrap_or_default().to_string()}</td>
                                        <td class="num">{a["ScalableTargetAction"]["MinCapacity"].to_string()}</td>
                                        <td class="num">{a["ScalableTargetAction"]["MaxCapacity"].to_string()}</td>
                                        <td><button class="btn small danger" disabled=move || read_only().is_some() title=read_only on:click=move |_| da(n2.clone())>"Delete"</button></td>
                                    </tr>
                                }
                            }).collect::<Vec<_>>()}
                        </tbody>
                    </table>
                }.into_any()
            }
        }}
        <h2>"Change"</h2>
        <div class="forms">
            <fieldset>
                <legend>"Scalable target"</legend>
                {text_input("Min", min)} {text_input("Max", max)}
                <button class="btn" data-action="save-target" disabled=move || read_only().is_some() title=read_only on:click=save_target>"Save target"</button>
            </fieldset>
            <fieldset>
                <legend>"Target-tracking policy"</legend>
                {text_input("Name", p_name)}
                <label class="field-inline">
                    "Metric"
                    <select on:change=move |ev| p_metric.set(event_target_value(&ev))>
                        <option value=CPU>"Average CPU utilisation"</option>
                        <option value=MEMORY>"Average memory utilisation"</option>
                    </select>
                </label>
                {text_input("Target %", p_target)} {text_input("Scale-out cooldown (s)", p_out)} {text_input("Scale-in cooldown (s)", p_in)}
                <button class="btn" data-action="save-policy" disabled=move || read_only().is_some() title=read_only on:click=save_policy>"Save policy"</button>
            </fieldset>
            <fieldset>
                <legend>"Scheduled action"</legend>
                {text_input("Name", s_name)} {text_input("Schedule", s_schedule)} {text_input("Min", s_min)} {text_input("Max", s_max)}
                <button class="btn" data-action="save-scheduled" disabled=move || read_only().is_some() title=read_only on:click=save_scheduled>"Save action"</button>
            </fieldset>
        </div>
        <h2>"Simulator"</h2>
        <p class="muted">"One value per minute, typed or drawn; the timeline is what the scaling rules would do from the current desired count."</p>
        <div class="table-tools">
            <label class="field-inline grow">
                "Series"
                <input type="text" class="grow" aria-label="Metric series" prop:value=move || series_text.get() on:input=move |ev| series_text.set(event_target_value(&ev)) />
            </label>
            <label class="field-inline">
                "Metric"
                <select aria-label="Simulated metric" on:change=move |ev| metric.set(event_target_value(&ev))>
                    <option value=CPU>{CPU}</option>
                    <option value=MEMORY>{MEMORY}</option>
                </select>
            </label>
            <label class="check">
                <input type="checkbox" on:change=move |ev| with_draft.set(event_target_checked(&ev)) />
                "Include the policy being edited"
            </label>
        </div>
        {move || series.get().err().map(|e| view! { <p role="alert" class="error">{e}</p> })}
        <svg
            class="sim-chart"
            viewBox="0 0 600 160"
            preserveAspectRatio="none"
            role="img"
            aria-label="Metric series (draw with the mouse) and capacity"
            on:mousedown=move |ev| { drawing.set(true); draw_at(ev) }
            on:mousemove=move |ev| if drawing.get_untracked() { draw_at(ev) }
            on:mouseup=move |_| drawing.set(false)
            on:mouseleave=move |_| drawing.set(false)
        >
            {move || {
                let s = series.get().unwrap_or_default();
                let n = s.len().max(1) as f64;
                let w = 600.0 / n;
                let bars = s.iter().enumerate().map(|(i, v)| {
                    let h = v.clamp(0.0, 100.0) * 1.6;
                    view! { <rect class="sim-bar" x=format!("{:.1}", i as f64 * w + 1.0) y=format!("{:.1}", 160.0 - h) width=format!("{:.1}", (w - 2.0).max(1.0)) height=format!("{h:.1}")></rect> }
                }).collect::<Vec<_>>();
                let cap = match timeline.get() {
                    Some(Ok(t)) => {
                        let max = config.get().and_then(|c| c.ok()).and_then(|c| c.target).and_then(|t| t["MaxCapacity"].as_f64()).unwrap_or(10.0).max(1.0);
                        let mut cap = t["InitialCapacity"].as_f64().unwrap_or(0.0);
                        let changes = t["Changes"].as_array().cloned().unwrap_or_default();
                        let mut pts = Vec::new();
                        for i in 0..s.len() {
                            let at = (chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default() + chrono::Duration::minutes(i as i64)).timestamp();
                            for c in &changes {
                                let when = c["Time"].as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()).map(|d| d.timestamp()).unwrap_or(i64::MAX);
                                if when <= at { cap = c["To"].as_f64().unwrap_or(cap); }
                            }
                            let y = 160.0 - cap / max * 150.0;
                            pts.push(format!("{:.1},{y:.1} {:.1},{y:.1}", i as f64 * w, (i + 1) as f64 * w));
                        }
                        Some(view! { <polyline class="sim-cap" points=pts.join(" ")></polyline> })
                    }
                    _ => None,
                };
                view! { {bars} {cap} }
            }}
        </svg>
        {move || match timeline.get() {
            None => ().into_any(),
            Some(Err(e)) => view! { <p role="alert" class="error">{e}</p> }.into_any(),
            Some(Ok(t)) => {
                let changes = t["Changes"].as_array().cloned().unwrap_or_default();
                view! {
                    <p data-testid="sim-summary">{format!("Capacity {} → {} ({} change{}).", t["InitialCapacity"], t["FinalCapacity"], changes.len(), if changes.len() == 1 { "" } else { "s" })}</p>
                    <table class="plain" data-table="timeline" data-input=move || sim_input.get().unwrap_or_default()>
                        <thead><tr><th>"Minute"</th><th class="num">"From"</th><th class="num">"To"</th><th class="num">"Min"</th><th class="num">"Max"</th><th>"Why"</th></tr></thead>
                        <tbody>
                            {changes.into_iter().map(|c| {
                                let minute = c["Time"].as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                                    .map(|d| (d.timestamp() - 1_767_225_600) / 60).unwrap_or(0);
                                view! {
                                    <tr>
                                        <td class="num">{minute}</td>
                                        <td class="num">{c["From"].to_string()}</td>
                                        <td class="num">{c["To"].to_string()}</td>
                                        <td class="num">{c["MinCapacity"].to_string()}</td>
                                        <td class="num">{c["MaxCapacity"].to_string()}</td>
                                        <td>{c["Description"].as_str().unwrap_or_default().to_string()}</td>
                                    </tr>
                                }
                            }).collect::<Vec<_>>()}
                        </tbody>
                    </table>
                }.into_any()
            }
        }}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_parses_and_says_what_is_wrong() {
        assert_eq!(
            parse_series("1, 2 3\n4;5").unwrap(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0]
        );
        assert_eq!(parse_series("1 x").unwrap_err(), "\"x\" is not a number");
        assert!(parse_series("").unwrap().is_empty());
    }

    #[test]
    fn replay_input_reads_as_berth_core_input() {
        let c = Config {
            target: Some(json!({"MinCapacity": 1, "MaxCapacity": 5, "ResourceId": "service/c/s"})),
            policies: vec![
                json!({"PolicyName": "p", "PolicyType": "TargetTrackingScaling", "PolicyARN": "x",
                "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50.0,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": CPU}}}),
            ],
            scheduled: vec![],
        };
        let v = replay_input(&c, 2, CPU, &[100.0, 100.0, 100.0]);
        let input: berth_core::scaling::ReplayInput = serde_json::from_value(v).unwrap();
        let t = berth_core::scaling::replay(&input).unwrap();
        assert_eq!(t.final_capacity, 4);
    }
}
