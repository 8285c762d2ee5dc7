//! Container logs over the CloudWatch Logs API: the `awslogs` streams of a task's containers
//! (`prefix/container/task-id`, as ECS names them), or of every task of a service merged by time
//! with a task prefix. They follow live (the change stream says when a log stream grew; only the
//! new events are fetched, from each stream's forward token), pause with a count of new lines,
//! filter old and new lines alike (plain text, or CloudWatch's term pattern: `ERROR`, `?a ?b`,
//! `-DEBUG`, `"exact phrase"`), show timestamps, and download exactly what is shown.
//!
//! It does not tail streams other than ECS's `awslogs` ones (containers with another log driver
//! are listed as such), and it keeps at most [`MAX_LINES`] lines in the page.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;

use crate::api;
use crate::logic::fmt;

use super::host::ready;

const LOGS: &str = "Logs_20140328";
/// Lines kept in the page (the oldest go first).
pub const MAX_LINES: usize = 20_000;

/// One log line.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub timestamp: i64,
    /// `task/container` (service view) or `container` (task view).
    pub source: String,
    pub message: String,
}

/// A log filter: CloudWatch's unstructured term pattern. Every plain term must appear, at least
/// one `?term` must appear (when there are any), no `-term` may; `"…"` quotes a phrase. Case
/// matters, as in CloudWatch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pattern {
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
}

impl Pattern {
    pub fn parse(s: &str) -> Pattern {
        let mut p = Pattern::default();
        let mut chars = s.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let Some(&first) = chars.peek() else { break };
            let mut sign = None;
            if first == '?' || first == '-' {
                sign = Some(first);
                chars.next();
            }
            let mut term = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    term.push(c);
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    term.push(c);
                    chars.next();
                }
            }
            if term.is_empty() {
                continue;
            }
            match sign {
                Some('?') => p.any.push(term),
                Some('-') => p.none.push(term),
                _ => p.all.push(term),
            }
        }
        p
    }

    pub fn matches(&self, text: &str) -> bool {
        self.all.iter().all(|t| text.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| text.contains(t.as_str())))
            && !self.none.iter().any(|t| text.contains(t.as_str()))
    }
}

/// One stream to follow.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    pub group: String,
    pub stream: String,
    pub source: String,
}

/// The `awslogs` streams of a task's containers, from its task definition; and the containers
/// that log elsewhere, with their driver.
pub fn streams_of(
    task_definition: &Value,
    task_id: &str,
    prefix_task: bool,
) -> (Vec<Stream>, Vec<String>) {
    let mut out = Vec::new();
    let mut other = Vec::new();
    for c in task_definition["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = c["name"].as_str().unwrap_or_default();
        let lc = &c["logConfiguration"];
        let source = if prefix_task {
            format!("{}/{name}", &task_id[..task_id.len().min(8)])
        } else {
            name.to_string()
        };
        match (lc["logDriver"].as_str(), lc["options"]["awslogs-group"].as_str(), lc["options"]["awslogs-stream-prefix"].as_str()) {
            (Some("awslogs"), Some(group), Some(prefix)) => out.push(Stream {
                group: group.to_string(),
                stream: format!("{prefix}/{name}/{task_id}"),
                source,
            }),
            (Some("awslogs"), _, _) => other.push(format!("{name}: awslogs without awslogs-group and awslogs-stream-prefix (ECS names such streams itself)")),
            (Some(d), _, _) => other.push(format!("{name}: log driver {d}")),
            (None, _, _) => other.push(format!("{name}: no log configuration")),
        }
    }
    (out, other)
}

/// Fetches a stream's events after `token` (from the start when `None`); the new events and the
/// token to continue from.
async fn fetch(s: &Stream, token: Option<String>) -> Result<(Vec<Line>, Option<String>), String> {
    let mut lines = Vec::new();
    let mut token = token;
    for _ in 0..50 {
        let mut body = json!({"logGroupName": s.group, "logStreamName": s.stream, "startFromHead": true, "limit": 10000});
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let v: Value = match api::call(LOGS, "GetLogEvents", &body).await {
            Ok(v) => v,
            // A stream that does not exist yet (the task has not started) has no events yet.
            Err(e) if e.code == "ResourceNotFoundException" => return Ok((lines, token)),
            Err(e) => return Err(e.to_string()),
        };
        let events = v["events"].as_array().cloned().unwrap_or_default();
        lines.extend(events.iter().map(|e| {
            Line {
                timestamp: e["timestamp"].as_i64().unwrap_or(0),
                source: s.source.clone(),
                message: e["message"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_end_matches('\n')
                    .to_string(),
            }
        }));
        let next = v["nextForwardToken"].as_str().map(str::to_string);
        let done = events.is_empty() || next == token;
        token = next.or(token);
        if done {
            break;
        }
    }
    Ok((lines, token))
}

/// The text a line is shown (and downloaded) as.
pub fn render(l: &Line, timestamps: bool, sources: bool) -> String {
    let mut s = String::new();
    if timestamps {
        s.push_str(
            &chrono::DateTime::from_timestamp_millis(l.timestamp)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ ").to_string())
                .unwrap_or_default(),
        );
    }
    if sources {
        s.push('[');
        s.push_str(&l.source);
        s.push_str("] ");
    }
    s.push_str(&l.message);
    s
}

fn download(name: &str, text: &str) {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("text/plain");
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Ok(a) = document().create_element("a") {
        let a: web_sys::HtmlElement = a.unchecked_into();
        let _ = a.set_attribute("href", &url);
        let _ = a.set_attribute("download", name);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

/// The logs of some tasks: `tasks` gives `(task id, task definition ARN)` pairs.
#[component]
pub fn Logs(
    #[prop(into)] tasks: Signal<Vec<(String, String)>>,
    prefix_task: bool,
    file_name: String,
) -> impl IntoView {
    let lines = RwSignal::new(Vec::<Line>::new());
    let streams = RwSignal::new(Vec::<(Stream, Option<String>)>::new());
    let notes = RwSignal::new(Vec::<String>::new());
    let failure = RwSignal::new(String::new());
    let following = RwSignal::new(true);
    // Lines that arrived while paused are held here, counted, and shown on resume.
    let held = RwSignal::new(Vec::<Line>::new());
    let filter = RwSignal::new(String::new());
    let timestamps = RwSignal::new(true);
    let busy = RwSignal::new(false);
    let tds = StoredValue::new(BTreeMap::<String, Value>::new());

    let add = move |mut new: Vec<Line>| {
        if new.is_empty() {
            return;
        }
        new.sort_by_key(|l| l.timestamp);
        let target = if following.get_untracked() {
            lines
        } else {
            held
        };
        target.update(|l| {
            // Merge by time (new lines are usually all later).
            l.extend(new);
            l.sort_by_key(|x| x.timestamp);
            if l.len() > MAX_LINES {
                let cut = l.len() - MAX_LINES;
                l.drain(..cut);
            }
        });
    };
    // Work out the streams whenever the task list changes.
    Effect::new(move |_| {
        let list = tasks.get();
        leptos::task::spawn_local(async move {
            let mut found = Vec::new();
            let mut other = Vec::new();
            for (id, td) in &list {
                let doc = match tds.with_value(|m| m.get(td).cloned()) {
                    Some(d) => d,
                    None => {
                        match api::ecs_json("DescribeTaskDefinition", json!({"taskDefinition": td}))
                            .await
                        {
                            Ok(v) => {
                                let d = v["taskDefinition"].clone();
                                tds.update_value(|m| {
                                    m.insert(td.clone(), d.clone());
                                });
                                d
                            }
                            Err(e) => {
                                failure.set(e.to_string());
                                continue;
                            }
                        }
                    }
                };
                let (s, o) = streams_of(&doc, id, prefix_task);
                found.extend(s);
                other.extend(o);
            }
            other.sort();
            other.dedup();
            notes.set(other);
            // Keep the tokens of streams already followed; fetch new streams from the start.
            let known = streams.get_untracked();
            let mut next = Vec::new();
            let mut fresh = Vec::new();
            for s in found {
                match known.iter().find(|(k, _)| *k == s) {
                    Some(k) => next.push(k.clone()),
                    None => fresh.push(s),
                }
            }
            for s in fresh {
                match fetch(&s, None).await {
                    Ok((l, tok)) => {
                        add(l);
                        next.push((s, tok));
                    }
                    Err(e) => failure.set(e),
                }
            }
            streams.set(next);
            ready().set(true);
        });
    });
    // Follow: when the change stream says logs changed, fetch what is new in every stream.
    Effect::new(move |prev: Option<u64>| {
        let n = crate::store::ticks().logs.get();
        if prev.is_some() && !busy.get_untracked() {
            busy.set(true);
            leptos::task::spawn_local(async move {
                let mut next = streams.get_untracked();
                for (s, tok) in next.iter_mut() {
                    match fetch(s, tok.clone()).await {
                        Ok((l, t)) => {
                            add(l);
                            *tok = t;
                        }
                        Err(e) => failure.set(e),
                    }
                }
                streams.set(next);
                busy.set(false);
            });
        }
        n
    });
    let pattern = Memo::new(move |_| Pattern::parse(&filter.get()));
    let shown = Memo::new(move |_| {
        let p = pattern.get();
        let ts = timestamps.get();
        lines.with(|l| {
            l.iter()
                .filter(|x| p.matches(&render(x, false, true)))
                .map(|x| render(x, ts, prefix_task || streams.with(|s| s.len() > 1)))
                .collect::<Vec<_>>()
        })
    });
    let pre: NodeRef<leptos::html::Pre> = NodeRef::new();
    Effect::new(move |_| {
        shown.track();
        if following.get()
            && let Some(p) = pre.get()
        {
            request_animation_frame(move || p.set_scroll_top(p.scroll_height()));
        }
    });
    let resume = move || {
        let h = held.get_untracked();
        held.set(Vec::new());
        following.set(true);
        add(h);
    };
    view! {
        <div class="table-tools logs-tools">
            <input
                type="search"
                aria-label="Filter log lines"
                placeholder="Filter: text, ?any ?of, -not, \"a phrase\""
                prop:value=move || filter.get()
                on:input=move |ev| filter.set(event_target_value(&ev))
            />
            <label class="check">
                <input type="checkbox" prop:checked=move || timestamps.get() on:change=move |ev| timestamps.set(event_target_checked(&ev)) />
                "Timestamps"
            </label>
            {move || if following.get() {
                view! { <button class="btn" data-action="pause" on:click=move |_| following.set(false)>"Pause"</button> }.into_any()
            } else {
                let n = held.with(Vec::len);
                view! {
                    <button class="btn primary" data-action="resume" on:click=move |_| resume()>
                        {format!("Follow ({n} new line{})", if n == 1 { "" } else { "s" })}
                    </button>
                }.into_any()
            }}
            <button
                class="btn"
                data-action="download"
                on:click={
                    let file_name = file_name.clone();
                    move |_| {
                        let mut text = shown.get_untracked().join("\n");
                        text.push('\n');
                        download(&file_name, &text);
                    }
                }
            >
                "Download"
            </button>
            <span class="muted" data-testid="log-count">
                {move || format!("{} of {} lines", shown.with(Vec::len), lines.with(Vec::len))}
            </span>
        </div>
        {move || (!failure.get().is_empty()).then(|| view! { <p role="alert" class="error">{failure.get()}</p> })}
        {move || notes.get().into_iter().map(|n| view! { <p class="muted">{n}</p> }).collect::<Vec<_>>()}
        {move || (streams.with(Vec::is_empty) && notes.with(Vec::is_empty)).then(|| view! { <p class="muted">"No log streams yet."</p> })}
        <pre node_ref=pre class="logs" role="log" tabindex="0" aria-label="Log lines" data-testid="logs">
            {move || shown.get().join("\n")}
        </pre>
        <p class="muted">{move || streams.with(|s| s.iter().map(|(x, _)| format!("{} › {}", x.group, x.stream)).collect::<Vec<_>>().join(" · "))}</p>
    }
}

/// A task's logs.
#[component]
pub fn TaskLogs(task_id: String, task_definition: String) -> impl IntoView {
    let name = format!("{}.log", fmt::last_segment(&task_id));
    let tasks = Signal::derive(move || vec![(task_id.clone(), task_definition.clone())]);
    view! { <Logs tasks=tasks prefix_task=false file_name=name /> }
}

/// A service's logs: every task of the service, running and stopped, merged.
#[component]
pub fn ServiceLogs(cluster: String, service: String) -> impl IntoView {
    let rows = crate::store::store().tasks(&cluster);
    let group = format!("service:{service}");
    let list = rows.list.clone();
    let tasks = Memo::new(move |_| {
        list.with(|l| {
            l.iter()
                .filter_map(|r| {
                    r.data.with(|t| {
                        (t.group.as_deref() == Some(group.as_str())).then(|| {
                            (
                                r.key.to_string(),
                                t.task_definition_arn.clone().unwrap_or_default(),
                            )
                        })
                    })
                })
                .collect::<Vec<_>>()
        })
    });
    view! { <Logs tasks=tasks prefix_task=true file_name=format!("{service}.log") /> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_cloudwatch_terms() {
        let p = Pattern::parse("ERROR -health");
        assert!(p.matches("ERROR db down"));
        assert!(!p.matches("ERROR healthcheck"));
        assert!(!p.matches("error db down"));
        let p = Pattern::parse("?WARN ?ERROR");
        assert!(p.matches("a WARN b") && p.matches("ERROR") && !p.matches("INFO"));
        let p = Pattern::parse("\"GET /health\"");
        assert!(p.matches("10.0.0.1 GET /health 200") && !p.matches("GET /"));
        assert!(Pattern::parse("").matches("anything"));
    }

    #[test]
    fn streams_are_named_as_ecs_names_them() {
        let td = json!({"containerDefinitions": [
            {"name": "web", "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/web", "awslogs-stream-prefix": "ecs"}}},
            {"name": "side", "logConfiguration": {"logDriver": "json-file"}},
        ]});
        let (s, other) = streams_of(&td, "0123456789abcdef", true);
        assert_eq!(
            s,
            vec![Stream {
                group: "/ecs/web".into(),
                stream: "ecs/web/0123456789abcdef".into(),
                source: "01234567/web".into(),
            }]
        );
        assert_eq!(other, vec!["side: log driver json-file".to_string()]);
    }

    #[test]
    fn lines_render_with_time_and_source() {
        let l = Line {
            timestamp: 1_767_225_600_123,
            source: "t/web".into(),
            message: "hi".into(),
        };
        assert_eq!(
            render(&l, true, true),
            "2026-01-01T00:00:00.123Z [t/web] hi"
        );
        assert_eq!(render(&l, false, false), "hi");
    }
}
