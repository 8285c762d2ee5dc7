//! Revision diff: any two task definitions (`/ui/diff?a=web:3&b=web:5`), computed by
//! `berth-core::diff` in the tools module and grouped as people read them — image, environment,
//! secrets, ports, resources, everything else — with ECS's defaults and read-only metadata hidden
//! unless asked for (`&all=1`), and the unified text a terminal would show.
//!
//! It does not compare anything itself; the tools module does.

use leptos::prelude::*;
use serde_json::{Value, json};

use crate::api;
use crate::logic::query::paths;
use crate::tools;

use super::host::{query_param, ready, set_query_param};

/// The groups of a diff, in the order they are shown, with their headings.
const GROUPS: &[(&str, &str)] = &[
    ("image", "Image"),
    ("environment", "Environment"),
    ("secrets", "Secrets"),
    ("ports", "Ports"),
    ("resources", "Resources"),
    ("other", "Everything else"),
];

/// A diff's changes, grouped.
#[component]
pub fn ChangeList(changes: Vec<Value>) -> impl IntoView {
    let groups = GROUPS
        .iter()
        .filter_map(|(g, label)| {
            let items: Vec<Value> = changes
                .iter()
                .filter(|c| {
                    let cg = c["group"].as_str().unwrap_or("other");
                    cg == *g || (*g == "other" && !GROUPS.iter().any(|(k, _)| *k == cg))
                })
                .cloned()
                .collect();
            (!items.is_empty()).then(|| {
                view! {
                    <section class="diff-group" data-group=*g>
                        <h3>{*label}</h3>
                        <ul class="changes">
                            {items.into_iter().map(|c| {
                                let kind = c["kind"].as_str().unwrap_or("modified").to_string();
                                let sign = match kind.as_str() { "added" => "+", "removed" => "−", _ => "~" };
                                let show = |v: &Value| if v.is_null() { String::new() } else { v.to_string() };
                                view! {
                                    <li class=format!("change change-{kind}") data-path=c["path"].as_str().unwrap_or_default().to_string()>
                                        <span class="sign" aria-label=kind.clone()>{sign}</span>
                                        " "
                                        <code>{c["path"].as_str().unwrap_or_default().to_string()}</code>
                                        {(kind != "added").then(|| view! { " " <del>{show(&c["before"])}</del> })}
                                        {(kind == "modified").then_some(" → ")}
                                        {(kind != "removed").then(|| view! { " " <ins>{show(&c["after"])}</ins> })}
                                    </li>
                                }
                            }).collect::<Vec<_>>()}
                        </ul>
                    </section>
                }
            })
        })
        .collect::<Vec<_>>();
    view! { <div class="diff">{groups}</div> }
}

async fn describe(td: &str) -> Result<String, String> {
    api::ecs_json(
        "DescribeTaskDefinition",
        json!({"taskDefinition": td, "include": ["TAGS"]}),
    )
    .await
    .map(|v| v.to_string())
    .map_err(|e| format!("{td}: {e}"))
}

/// `/ui/diff?a=…&b=…[&all=1]`.
#[component]
pub fn DiffPage() -> impl IntoView {
    let a = query_param("a");
    let b = query_param("b");
    let all = query_param("all");
    let set_all = set_query_param("all");
    let result: RwSignal<Option<Result<Value, String>>> = RwSignal::new(None);
    Effect::new(move |_| {
        let (a, b, all) = (a.get(), b.get(), all.get() == "1");
        result.set(None);
        leptos::task::spawn_local(async move {
            let res = async {
                if a.is_empty() || b.is_empty() {
                    return Err(
                        "Give two task definitions: /ui/diff?a=family:1&b=family:2".to_string()
                    );
                }
                let t = tools::load().await?;
                let (x, y) = (describe(&a).await?, describe(&b).await?);
                let v: Value =
                    serde_json::from_str(&t.diff(&x, &y, all)).map_err(|e| e.to_string())?;
                match v.get("error").and_then(Value::as_str) {
                    Some(e) => Err(e.to_string()),
                    None => Ok(v),
                }
            }
            .await;
            result.set(Some(res));
            ready().set(true);
        });
    });
    let unified = RwSignal::new(false);
    let set_a = set_query_param("a");
    let set_b = set_query_param("b");
    // Revision pickers, when both sides are revisions of one family.
    let family = Memo::new(move |_| {
        let fam = |s: String| {
            s.rsplit_once(':')
                .map(|(f, _)| f.rsplit('/').next().unwrap_or(f).to_string())
        };
        match (fam(a.get()), fam(b.get())) {
            (Some(x), Some(y)) if x == y => Some(x),
            _ => None,
        }
    });
    let pickers = move || {
        let f = family.get()?;
        let list = crate::store::store().revisions(&f).list;
        let revs: Vec<u32> = list.with(|l| l.iter().map(|r| r.data.with(|d| d.revision)).collect());
        let rev_of = |s: String| {
            s.rsplit_once(':')
                .map(|(_, r)| r.to_string())
                .unwrap_or_default()
        };
        let picker = |label: &'static str, current: String, set: Box<dyn Fn(String)>, f: String| {
            view! {
                <label class="field-inline">
                    {label}
                    <select aria-label=label on:change=move |ev| set(format!("{f}:{}", event_target_value(&ev)))>
                        {revs.iter().map(|n| {
                            let v = n.to_string();
                            view! { <option value=v.clone() selected=v == current>{v.clone()}</option> }
                        }).collect::<Vec<_>>()}
                    </select>
                </label>
            }
        };
        let (sa, sb) = (set_a.clone(), set_b.clone());
        Some(view! {
            <div class="table-tools" data-testid="compare">
                {picker("First revision", rev_of(a.get()), Box::new(sa), f.clone())}
                {picker("Second revision", rev_of(b.get()), Box::new(sb), f.clone())}
            </div>
        })
    };
    view! {
        <section class="page">
            <nav class="crumbs" aria-label="Breadcrumbs">
                <a href=paths::families()>"Task definitions"</a>
                " / "
                <span>"Diff"</span>
            </nav>
            <div class="page-head">
                <h1>{move || format!("{} → {}", a.get(), b.get())}</h1>
                <span class="spacer"></span>
                <label class="check">
                    <input
                        type="checkbox"
                        prop:checked=move || all.get() == "1"
                        on:change=move |ev| set_all(if event_target_checked(&ev) { "1".into() } else { String::new() })
                    />
                    "Show ECS defaults and metadata"
                </label>
                <label class="check">
                    <input type="checkbox" on:change=move |ev| unified.set(event_target_checked(&ev)) />
                    "Unified text"
                </label>
            </div>
            {pickers}
            {move || match result.get() {
                None => view! { <p class="muted">"Comparing…"</p> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="error">{e}</p> }.into_any(),
                Some(Ok(v)) => {
                    let changes = v["changes"].as_array().cloned().unwrap_or_default();
                    let n = changes.len();
                    if unified.get() {
                        view! { <pre class="unified" tabindex="0">{v["unified"].as_str().unwrap_or_default().to_string()}</pre> }.into_any()
                    } else if n == 0 {
                        view! { <p data-testid="no-changes">"No differences: ECS would treat these as the same task definition."</p> }.into_any()
                    } else {
                        view! {
                            <p class="muted">{format!("{n} change{}", if n == 1 { "" } else { "s" })}</p>
                            <ChangeList changes=changes />
                        }.into_any()
                    }
                }
            }}
        </section>
    }
}
