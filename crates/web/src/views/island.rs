//! The placeholder of an island (see [`crate::islands`]): a `div` the tools module mounts the
//! island's component into once it is loaded, unmounted again when the placeholder goes away.
//! While the module loads it says so; if it cannot load, it says why.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use leptos::html;
use leptos::prelude::*;
use serde_json::Value;

/// Handle value meaning "not mounted".
const NONE: u32 = u32::MAX;

/// An island of kind `kind` with `props`.
#[component]
pub fn Island(kind: &'static str, #[prop(optional)] props: Option<Value>) -> impl IntoView {
    let el: NodeRef<html::Div> = NodeRef::new();
    let state = RwSignal::new(Some("Loading…".to_string()));
    let gone = Arc::new(AtomicBool::new(false));
    let handle = Arc::new(AtomicU32::new(NONE));
    // The node reference can be reported more than once; the island is mounted once.
    let started = Arc::new(AtomicBool::new(false));
    let props = props
        .unwrap_or_else(|| Value::Object(Default::default()))
        .to_string();
    {
        let (gone, handle) = (gone.clone(), handle.clone());
        Effect::new(move |_| {
            let Some(div) = el.get() else {
                return;
            };
            if started.swap(true, Ordering::SeqCst) {
                return;
            }
            let (gone, handle, props) = (gone.clone(), handle.clone(), props.clone());
            leptos::task::spawn_local(async move {
                let res = match crate::tools::load().await {
                    Ok(t) if !gone.load(Ordering::SeqCst) => t.mount(kind, &div, &props),
                    Ok(_) => return,
                    Err(e) => Err(e),
                };
                match res {
                    Ok(h) => {
                        handle.store(h, Ordering::SeqCst);
                        state.set(None);
                    }
                    Err(e) => {
                        state.set(Some(format!("This view did not load: {e}")));
                        super::ui::ready().set(true);
                    }
                }
            });
        });
    }
    on_cleanup(move || {
        gone.store(true, Ordering::SeqCst);
        let h = handle.swap(NONE, Ordering::SeqCst);
        if h != NONE {
            crate::tools::unmount(h);
        }
    });
    view! {
        {move || state.get().map(|m| {
            if m.starts_with("This") {
                view! { <p class="error" role="alert">{m}</p> }.into_any()
            } else {
                view! { <p class="muted">{m}</p> }.into_any()
            }
        })}
        <div class="island" data-island=kind node_ref=el></div>
    }
}
