//! The task-definition editor: a plain `<textarea>` over a syntax-coloured layer, validated on
//! every keystroke by `berth-core` in the lazily loaded tools module, with each finding marked at
//! its span, listed, and explained on hover; format, undo, open a file (or drop one), "would it
//! place?", and register after reviewing the diff against the base revision.
//!
//! It keeps no document model of its own: the textarea's text is the truth, so the browser's own
//! undo stack, selection and input methods keep working (format and file loads go through
//! `insertText`, which the undo stack records). It does not validate anything itself — the tools
//! module does; this module only draws what it answers.

use leptos::html;
use leptos::prelude::*;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;

use crate::api;
use crate::logic::query::paths;
use crate::tools::{self, Tools};

use super::diff::ChangeList;
use super::host::{query_param, read_only, ready};
use super::placement::WouldItPlace;

/// One finding as the tools module reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub code: String,
    pub error: bool,
    pub message: String,
    pub help: String,
    pub path: String,
    /// UTF-16 offsets of the span in the text.
    pub from: u32,
    pub to: u32,
    pub line: u32,
    pub column: u32,
}

impl Finding {
    fn from_json(v: &Value) -> Finding {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let n = |k: &str| v[k].as_u64().unwrap_or(0) as u32;
        Finding {
            code: s("code"),
            error: v["severity"] == "error",
            message: s("message"),
            help: s("help"),
            path: s("path"),
            from: n("from"),
            to: n("to"),
            line: v["span"]["line"].as_u64().unwrap_or(0) as u32,
            column: v["span"]["column"].as_u64().unwrap_or(0) as u32,
        }
    }
}

/// What one validation run answered.
#[derive(Clone, Debug, Default, PartialEq)]
struct Checked {
    html: String,
    findings: Vec<Finding>,
    syntax_error: bool,
}

fn check(tools: &Tools, text: &str, launch: &str) -> Checked {
    let v: Value = serde_json::from_str(&tools.validate(text, launch)).unwrap_or_default();
    Checked {
        html: v["html"].as_str().unwrap_or_default().to_string(),
        findings: v["diagnostics"]
            .as_array()
            .map(|a| a.iter().map(Finding::from_json).collect())
            .unwrap_or_default(),
        syntax_error: v["syntaxError"].as_bool().unwrap_or(false),
    }
}

/// The template of an empty editor.
const TEMPLATE: &str = r#"{
  "family": "my-app",
  "networkMode": "bridge",
  "containerDefinitions": [
    {
      "name": "app",
      "image": "public.ecr.aws/docker/library/httpd:2.4",
      "essential": true,
      "memory": 256,
      "portMappings": [{ "containerPort": 80, "hostPort": 0 }]
    }
  ]
}
"#;

/// The RegisterTaskDefinition request the editor's text amounts to: a register request as it is,
/// or a described / exported task definition without its read-only members.
pub fn register_request(doc: &Value) -> Value {
    let (mut td, tags) = match doc.get("taskDefinition") {
        Some(td) if td.is_object() => (td.clone(), doc.get("tags").cloned()),
        _ => (doc.clone(), None),
    };
    if let Some(o) = td.as_object_mut() {
        for k in berth_core::model::READ_ONLY_TASK_DEFINITION_MEMBERS {
            o.remove(*k);
        }
        if let Some(tags) = tags.filter(|t| t.as_array().is_some_and(|a| !a.is_empty())) {
            o.insert("tags".into(), tags);
        }
    }
    td
}

/// `/ui/editor?from=family:revision`: a new revision of `from`, or a new family from a template.
#[component]
pub fn EditorPage() -> impl IntoView {
    let from = query_param("from");
    let base: RwSignal<Option<Result<(String, String), String>>> = RwSignal::new(None);
    Effect::new(move |_| {
        let f = from.get();
        if f.is_empty() {
            base.set(Some(Ok((String::new(), TEMPLATE.to_string()))));
            return;
        }
        leptos::task::spawn_local(async move {
            let res = api::ecs_json(
                "DescribeTaskDefinition",
                json!({"taskDefinition": f.clone(), "include": ["TAGS"]}),
            )
            .await
            .map(|v| {
                (
                    f.clone(),
                    serde_json::to_string_pretty(&register_request(&v)).unwrap_or_default() + "\n",
                )
            })
            .map_err(|e| e.to_string());
            base.set(Some(res));
        });
    });
    move || match base.get() {
        None => {
            view! { <section class="page"><p class="muted">"Loading…"</p></section> }.into_any()
        }
        Some(Err(e)) => {
            view! { <section class="page"><p role="alert" class="error">{e}</p></section> }
                .into_any()
        }
        Some(Ok((name, text))) => view! { <Editor base_name=name base_text=text /> }.into_any(),
    }
}

/// Where a UTF-16 offset is: (0-based line, 0-based column in UTF-16 units).
fn line_col(text: &str, offset: u32) -> (u32, u32) {
    let (mut line, mut col, mut at) = (0, 0, 0u32);
    for c in text.chars() {
        if at >= offset {
            break;
        }
        at += c.len_utf16() as u32;
        if c == '\n' {
            line += 1;
            col = 0;
        } else {
            col += c.len_utf16() as u32;
        }
    }
    (line, col)
}

/// The UTF-16 offset of (0-based line, column), clamped to the line's end.
fn offset_of(text: &str, line: u32, col: u32) -> u32 {
    let (mut l, mut c, mut at) = (0u32, 0u32, 0u32);
    for ch in text.chars() {
        if l == line && (c >= col || ch == '\n') {
            return at;
        }
        if ch == '\n' {
            if l == line {
                return at;
            }
            l += 1;
            c = 0;
        } else {
            c += ch.len_utf16() as u32;
        }
        at += ch.len_utf16() as u32;
    }
    at
}

/// Pixels per line of the editor (`--ed-lh` in berth.css) and its padding.
const LINE_PX: f64 = 20.0;
const PAD_PX: f64 = 8.0;

fn exec(command: &str, value: &str) {
    if let Some(doc) = document().dyn_ref::<web_sys::HtmlDocument>() {
        let _ = doc.exec_command_with_show_ui_and_value(command, false, value);
    }
}

/// Replaces the whole text through the editing pipeline, so Undo brings the old text back.
fn replace_all(ta: &web_sys::HtmlTextAreaElement, text: &str) {
    let _ = ta.focus();
    ta.select();
    exec("insertText", text);
    if ta.value() != text {
        // insertText unsupported: set it directly (losing undo for this step).
        ta.set_value(text);
        let _ = ta.dispatch_event(&web_sys::Event::new("input").unwrap());
    }
}

#[component]
fn Editor(base_name: String, base_text: String) -> impl IntoView {
    let ta: NodeRef<html::Textarea> = NodeRef::new();
    let probe: NodeRef<html::Span> = NodeRef::new();
    let text = RwSignal::new(base_text.clone());
    let launch = RwSignal::new(String::new());
    let tools_sig: RwSignal<Option<Result<Tools, String>>, LocalStorage> =
        RwSignal::new_local(None);
    let checked = RwSignal::new(Checked::default());
    // The last findings of a text that parsed: shown dimmed while a syntax error stands.
    let semantic = RwSignal::new(Vec::<Finding>::new());
    let caret = RwSignal::new(0u32);
    let scroll = RwSignal::new((0.0f64, 0.0f64));
    let hover: RwSignal<Option<(f64, f64, Finding)>> = RwSignal::new(None);
    let review: RwSignal<Option<Value>> = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let failure = RwSignal::new(String::new());
    let took = RwSignal::new(0.0f64);
    let show_place = RwSignal::new(false);

    let run = move || {
        let Some(Ok(t)) = tools_sig.get_untracked() else {
            return;
        };
        let started = js_sys::Date::now();
        let c = text.with_untracked(|s| check(&t, s, &launch.get_untracked()));
        took.set(js_sys::Date::now() - started);
        if !c.syntax_error {
            semantic.set(c.findings.clone());
        }
        checked.set(c);
    };
    leptos::task::spawn_local(async move {
        let t = tools::load().await;
        tools_sig.set(Some(t));
        run();
        ready().set(true);
    });
    Effect::new(move |_| {
        launch.track();
        run();
    });
    // The initial text, once the textarea exists (later changes come from the user).
    {
        let base_text = base_text.clone();
        Effect::new(move |_| {
            if let Some(el) = ta.get()
                && el.value().is_empty()
            {
                el.set_value(&base_text);
            }
        });
    }

    let on_input = move |_| {
        if let Some(el) = ta.get_untracked() {
            text.set(el.value());
            caret.set(el.selection_start().ok().flatten().unwrap_or(0));
            run();
        }
    };
    let track_caret = move || {
        if let Some(el) = ta.get_untracked() {
            caret.set(el.selection_start().ok().flatten().unwrap_or(0));
        }
    };
    let on_scroll = move |_| {
        if let Some(el) = ta.get_untracked() {
            scroll.set((el.scroll_top() as f64, el.scroll_left() as f64));
        }
    };
    let on_keydown = move |ev: web_sys::KeyboardEvent| {
        if ev.key() == "Tab" && !ev.shift_key() && !ev.ctrl_key() && !ev.meta_key() {
            ev.prevent_default();
            exec("insertText", "  ");
        }
    };
    let char_px = move || {
        probe
            .get_untracked()
            .map(|p| p.get_bounding_client_rect().width() / 10.0)
            .filter(|w| *w > 0.0)
            .unwrap_or(7.8)
    };
    let on_move = move |ev: web_sys::MouseEvent| {
        let (st, sl) = scroll.get_untracked();
        let y = ev.offset_y() as f64 + st - PAD_PX;
        let x = ev.offset_x() as f64 + sl - PAD_PX;
        if y < 0.0 || x < 0.0 {
            hover.set(None);
            return;
        }
        let line = (y / LINE_PX) as u32;
        let col = (x / char_px()).round() as u32;
        let at = text.with_untracked(|t| offset_of(t, line, col));
        let found = shown_findings(&checked.get_untracked(), &semantic.get_untracked())
            .into_iter()
            .find(|(f, stale)| !stale && f.from <= at && at < f.to.max(f.from + 1));
        hover
            .set(found.map(|(f, _)| (ev.offset_x() as f64 + 12.0, ev.offset_y() as f64 + 18.0, f)));
    };
    let jump = move |f: &Finding| {
        if let Some(el) = ta.get_untracked() {
            let _ = el.focus();
            let _ = el.set_selection_range(f.from, f.to.max(f.from));
            let (line, _) = text.with_untracked(|t| line_col(t, f.from));
            let top = (line as f64 * LINE_PX - 3.0 * LINE_PX).max(0.0);
            el.set_scroll_top(top as i32);
            caret.set(f.from);
        }
    };
    let format = move |_| {
        let Some(Ok(t)) = tools_sig.get_untracked() else {
            return;
        };
        let out = text.with_untracked(|s| t.format(s));
        match serde_json::from_str::<Value>(&out) {
            Ok(Value::Object(o)) if o.contains_key("error") => {
                failure.set(format!(
                    "Cannot format: {}",
                    o["error"].as_str().unwrap_or_default()
                ));
            }
            _ => {
                failure.set(String::new());
                if let Some(el) = ta.get_untracked() {
                    replace_all(&el, &out);
                }
            }
        }
    };
    let load_file = move |file: web_sys::File| {
        leptos::task::spawn_local(async move {
            if let Ok(v) = wasm_bindgen_futures::JsFuture::from(file.text()).await
                && let (Some(s), Some(el)) = (v.as_string(), ta.get_untracked())
            {
                replace_all(&el, &s);
            }
        });
    };
    let on_drop = move |ev: web_sys::DragEvent| {
        ev.prevent_default();
        if let Some(f) = ev
            .data_transfer()
            .and_then(|d| d.files())
            .and_then(|l| l.get(0))
        {
            load_file(f);
        }
    };
    let on_pick = move |ev: web_sys::Event| {
        let input: Option<web_sys::HtmlInputElement> = ev.target().and_then(|t| t.dyn_into().ok());
        if let Some(f) = input.and_then(|i| i.files()).and_then(|l| l.get(0)) {
            load_file(f);
        }
    };
    let has_errors =
        Memo::new(move |_| checked.with(|c| c.syntax_error || c.findings.iter().any(|f| f.error)));
    let base_for_review = base_text.clone();
    let start_register = move |_| {
        let Some(Ok(t)) = tools_sig.get_untracked() else {
            return;
        };
        failure.set(String::new());
        let out = text.with_untracked(|s| t.diff(&base_for_review, s, false));
        review.set(Some(serde_json::from_str(&out).unwrap_or_default()));
    };
    let register = move |_| {
        let doc: Value = match text.with_untracked(|s| serde_json::from_str(s)) {
            Ok(v) => v,
            Err(e) => {
                failure.set(format!("The text is not JSON: {e}"));
                return;
            }
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::ecs_json("RegisterTaskDefinition", register_request(&doc)).await {
                Ok(v) => {
                    let td = &v["taskDefinition"];
                    let family = td["family"].as_str().unwrap_or_default().to_string();
                    let rev = td["revision"].as_u64().unwrap_or(0) as u32;
                    super::host::toast(&format!("Registered {family}:{rev}."));
                    review.set(None);
                    super::host::navigate(&paths::revision(&family, rev));
                }
                Err(e) => failure.set(e.to_string()),
            }
            busy.set(false);
        });
    };

    let lines = Memo::new(move |_| text.with(|t| t.split('\n').count()));
    let gutter = move || {
        let mut s = String::new();
        for n in 1..=lines.get() {
            s.push_str(&n.to_string());
            s.push('\n');
        }
        s
    };
    let brackets = move || {
        let Some(Ok(t)) = tools_sig.get() else {
            return Vec::new();
        };
        let at = caret.get();
        let m = text.with(|s| t.match_bracket(s, at));
        if m < 0 {
            return Vec::new();
        }
        let m = m as u32;
        // The bracket at the caret is the one just before it or at it.
        text.with(|s| {
            let other = {
                let back = t.match_bracket(s, m);
                if back >= 0 { back as u32 } else { at }
            };
            [m, other]
                .into_iter()
                .map(|o| {
                    let (l, c) = line_col(s, o);
                    view! {
                        <span
                            class="ed-bracket"
                            style:top=format!("{}px", PAD_PX + l as f64 * LINE_PX)
                            style:left=format!("calc({}px + {}ch)", PAD_PX, c)
                        ></span>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let base_label = if base_name.is_empty() {
        "New task definition".to_string()
    } else {
        format!("New revision of {base_name}")
    };
    let crumbs_family = base_name.split(':').next().unwrap_or_default().to_string();
    view! {
        <section class="page editor-page">
            <nav class="crumbs" aria-label="Breadcrumbs">
                <a href=paths::families()>"Task definitions"</a>
                {(!crumbs_family.is_empty()).then(|| view! {
                    " / " <a href=paths::family(&crumbs_family)>{crumbs_family.clone()}</a>
                })}
                " / "
                <span>"Editor"</span>
            </nav>
            <div class="page-head">
                <h1>{base_label}</h1>
                <span class="spacer"></span>
                <label class="inline">
                    "Launch type"
                    <select
                        aria-label="Launch type"
                        on:change=move |ev| launch.set(event_target_value(&ev))
                    >
                        <option value="">"As the document says"</option>
                        <option value="EC2">"EC2"</option>
                        <option value="FARGATE">"FARGATE"</option>
                        <option value="EXTERNAL">"EXTERNAL"</option>
                    </select>
                </label>
            </div>
            <div class="table-tools">
                <button class="btn" on:click=format>"Format"</button>
                <button class="btn" on:click=move |_| exec("undo", "")>"Undo"</button>
                <button class="btn" on:click=move |_| exec("redo", "")>"Redo"</button>
                <label class="btn">
                    "Open file…"
                    <input type="file" accept=".json,application/json" class="sr-only" on:change=on_pick />
                </label>
                <button class="btn" on:click=move |_| show_place.update(|s| *s = !*s)>
                    "Would it place?"
                </button>
                <span class="spacer"></span>
                <span class="muted" data-testid="validate-ms">
                    {move || {
                        let n = checked.with(|c| c.findings.len());
                        format!("{n} finding{} · checked in {:.1} ms", if n == 1 { "" } else { "s" }, took.get())
                    }}
                </span>
                <button
                    class="btn primary"
                    data-action="register"
                    disabled=move || read_only().is_some() || has_errors.get() || busy.get() || !matches!(tools_sig.get(), Some(Ok(_)))
                    title=move || read_only().unwrap_or(if has_errors.get() { "Fix the errors first" } else { "" })
                    on:click=start_register
                >
                    "Register…"
                </button>
            </div>
            {move || match tools_sig.get() {
                None => view! { <p class="muted">"Loading the validator…"</p> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="error">{format!("The validator did not load: {e}")}</p> }.into_any(),
                Some(Ok(_)) => ().into_any(),
            }}
            {move || (!failure.get().is_empty()).then(|| view! { <p role="alert" class="error">{failure.get()}</p> })}
            <div
                class="ed"
                style=("--ed-lines", move || lines.get().min(40).to_string())
                on:dragover=|ev: web_sys::DragEvent| ev.prevent_default()
                on:drop=on_drop
            >
                <pre class="ed-gutter" aria-hidden="true" style:transform=move || format!("translateY({}px)", -scroll.get().0)>{gutter}</pre>
                <div class="ed-body">
                    <div class="ed-layer" aria-hidden="true" style:transform=move || { let (t, l) = scroll.get(); format!("translate({}px,{}px)", -l, -t) }>
                        <pre class="ed-hl" class:stale=move || checked.with(|c| c.syntax_error) inner_html=move || checked.with(|c| c.html.clone())></pre>
                        {brackets}
                    </div>
                    <textarea
                        node_ref=ta
                        class="ed-text"
                        aria-label="Task definition JSON"
                        spellcheck="false"
                        autocomplete="off"
                        wrap="off"
                        on:input=on_input
                        on:keyup=move |_| track_caret()
                        on:click=move |_| track_caret()
                        on:scroll=on_scroll
                        on:keydown=on_keydown
                        on:mousemove=on_move
                        on:mouseleave=move |_| hover.set(None)
                    ></textarea>
                    {move || hover.get().map(|(x, y, f)| view! {
                        <div class="ed-tip" role="tooltip" style:left=format!("{x}px") style:top=format!("{y}px")>
                            <strong>{f.code.clone()}</strong> " " {f.message.clone()}
                            {(!f.help.is_empty()).then(|| view! { <div class="muted">{f.help.clone()}</div> })}
                        </div>
                    })}
                </div>
                <span node_ref=probe class="ed-probe" aria-hidden="true">"0000000000"</span>
            </div>
            <p class="muted ed-status" aria-live="polite">
                {move || {
                    let at = caret.get();
                    let (l, c) = text.with(|t| line_col(t, at));
                    let here = checked.with(|c| c.findings.iter().find(|f| f.from <= at && at <= f.to).map(|f| format!(" — {}: {}", f.code, f.message)));
                    format!("Ln {}, Col {}{}", l + 1, c + 1, here.unwrap_or_default())
                }}
            </p>
            <h2>"Findings"</h2>
            <ul class="findings" data-testid="findings">
                {move || {
                    let list = shown_findings(&checked.get(), &semantic.get());
                    if list.is_empty() {
                        return vec![view! { <li class="muted">"No findings: ECS would accept this."</li> }.into_any()];
                    }
                    list.into_iter()
                        .map(|(f, stale)| {
                            let f2 = f.clone();
                            view! {
                                <li class:stale=stale data-code=f.code.clone()>
                                    <button class="finding" on:click=move |_| jump(&f2)>
                                        <span class=if f.error { "status status-bad" } else { "status status-warn" }>
                                            {if f.error { "error" } else { "warning" }}
                                        </span>
                                        " "
                                        <code>{f.code.clone()}</code>
                                        " "
                                        <span class="msg">{f.message.clone()}</span>
                                        <span class="muted">{format!(" ({}:{}{})", f.line, f.column, if f.path.is_empty() { String::new() } else { format!(", {}", f.path) })}</span>
                                    </button>
                                    {(!f.help.is_empty()).then(|| view! { <div class="muted help">{f.help.clone()}</div> })}
                                </li>
                            }
                            .into_any()
                        })
                        .collect::<Vec<_>>()
                }}
            </ul>
            {move || show_place.get().then(|| view! {
                <h2>"Would it place?"</h2>
                <WouldItPlace text=text />
            })}
            {move || review.get().map(|d| {
                let changes = d["changes"].as_array().cloned().unwrap_or_default();
                let empty = changes.is_empty();
                view! {
                    <div class="backdrop">
                        <div class="dialog wide" role="dialog" aria-modal="true" aria-labelledby="review-title">
                            <h2 id="review-title">"Register this task definition?"</h2>
                            <p class="muted">
                                {if base_name.is_empty() { "Changes against the template:".to_string() } else { format!("Changes against {base_name}:") }}
                            </p>
                            {if empty {
                                view! { <p>"No changes: ECS would register the same task definition as a new revision."</p> }.into_any()
                            } else {
                                view! { <ChangeList changes=changes /> }.into_any()
                            }}
                            <div class="buttons">
                                <button class="btn" on:click=move |_| review.set(None)>"Cancel"</button>
                                <button class="btn primary" data-action="confirm-register" disabled=move || busy.get() || read_only().is_some() title=read_only on:click=register>"Register"</button>
                            </div>
                        </div>
                    </div>
                }
            })}
        </section>
    }
}

/// The findings to list: the current ones, plus — while a syntax error stands — the last
/// semantic ones, marked stale.
fn shown_findings(c: &Checked, semantic: &[Finding]) -> Vec<(Finding, bool)> {
    let mut out: Vec<(Finding, bool)> = c.findings.iter().cloned().map(|f| (f, false)).collect();
    if c.syntax_error {
        out.extend(semantic.iter().cloned().map(|f| (f, true)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_positions_agree() {
        let t = "{\n  \"é\": 1,\n  \"b\": 2\n}";
        for off in 0..t.encode_utf16().count() as u32 {
            let (l, c) = line_col(t, off);
            assert_eq!(offset_of(t, l, c), off, "offset {off}");
        }
        // A column past the end of a line clamps to the line's end.
        assert_eq!(offset_of(t, 0, 40), 1);
    }

    #[test]
    fn register_request_drops_read_only_members() {
        let described = json!({"taskDefinition": {"family": "web", "revision": 3, "status": "ACTIVE",
            "taskDefinitionArn": "arn", "containerDefinitions": []}, "tags": [{"key": "a", "value": "b"}]});
        assert_eq!(
            register_request(&described),
            json!({"family": "web", "containerDefinitions": [], "tags": [{"key": "a", "value": "b"}]})
        );
        let plain = json!({"family": "web", "containerDefinitions": []});
        assert_eq!(register_request(&plain), plain);
    }
}
