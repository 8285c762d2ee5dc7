//! The dashboard's tools, as islands: the task-definition editor, the revision diff, placement
//! ("why pending", "would it place?", topology), scaling with its simulator, logs, metrics, the
//! audit trail, and the sign-in form.
//!
//! **Why islands.** These views and the `berth-core` code they run (validator schema tables,
//! placement engine, diff, scaling replay) would have grown the first load far past its 350 kB
//! budget, so they are compiled into the lazily loaded second wasm module (`berth-tools`, which
//! depends on this crate) rather than into the main bundle. The main app renders a placeholder
//! (`views::island::Island`) and asks the tools module to [`mount`] the island's component into
//! it; when the placeholder goes away the island is unmounted. The main bundle never references
//! this module, so the linker leaves it out of `berth_web.wasm`.
//!
//! **What crosses the boundary.** Two wasm instances share no memory or signals, so
//! [`host`] carries what the islands need from the page: the URL (read from `location`, written
//! with `history` and announced with `popstate`, so the main router follows), the ready flag and
//! toasts (functions the main app puts on `window`), the session (the CSRF value and the role,
//! from `window.__berthSession()`; a 401 goes back as a `berth:unauthorized` event), and the
//! change stream (the main app re-dispatches each batch as a `berth:changes` event, which the
//! islands apply to their own store). Islands never open their own event stream and never touch the main app's DOM.

pub mod audit;
pub mod diff;
pub mod editor;
pub mod host;
pub mod logs;
pub mod metrics;
pub mod placement;
pub mod scaling;
pub mod signin;

use std::any::Any;

use leptos::prelude::*;
use serde_json::Value;

/// Mounts island `kind` into `el` with `props` (a JSON object); dropping the returned handle
/// unmounts it.
///
/// # Errors
///
/// An unknown kind or props that are not a JSON object.
pub fn mount(kind: &str, el: web_sys::HtmlElement, props: &str) -> Result<Box<dyn Any>, String> {
    let p: Value =
        serde_json::from_str(props).map_err(|e| format!("island {kind}: bad props: {e}"))?;
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
    let (cluster, service) = (s("cluster"), s("service"));
    // The page's role and read-only mode, before anything renders.
    crate::session::sync_from_page();
    let handle: Box<dyn Any> = match kind {
        "audit" => Box::new(mount_to(el, audit::AuditPage)),
        "sign-in" => {
            let message = s("message");
            Box::new(mount_to(
                el,
                move || view! { <signin::SignIn message=message /> },
            ))
        }
        "editor" => Box::new(mount_to(el, editor::EditorPage)),
        "diff" => Box::new(mount_to(el, diff::DiffPage)),
        "service-placement" => Box::new(mount_to(el, move || {
            view! { <placement::ServicePlacement cluster=cluster service=service /> }
        })),
        "task-placement" => {
            let (td, group) = (s("taskDefinition"), s("group"));
            Box::new(mount_to(el, move || {
                view! { <placement::TaskPlacement cluster=cluster task_definition=td group=group /> }
            }))
        }
        "topology" => Box::new(mount_to(el, move || {
            view! { <placement::Topology cluster=cluster /> }
        })),
        "scaling" => Box::new(mount_to(el, move || {
            let rows = crate::store::store().services(&cluster);
            let name = service.clone();
            let desired = Signal::derive(move || {
                rows.get(&name)
                    .and_then(|r| r.data.with(|s| s.desired_count))
                    .unwrap_or(0) as i64
            });
            view! { <scaling::Scaling cluster=cluster.clone() service=service.clone() desired=desired /> }
        })),
        "service-logs" => Box::new(mount_to(el, move || {
            view! { <logs::ServiceLogs cluster=cluster service=service /> }
        })),
        "task-logs" => {
            let (id, td) = (s("taskId"), s("taskDefinition"));
            Box::new(mount_to(el, move || {
                view! { <logs::TaskLogs task_id=id task_definition=td /> }
            }))
        }
        "service-metrics" => Box::new(mount_to(el, move || {
            view! { <metrics::Metrics subject=metrics::Subject::service(&cluster, &service) /> }
        })),
        "task-metrics" => {
            let (id, family) = (s("taskId"), s("family"));
            Box::new(mount_to(el, move || {
                view! { <metrics::Metrics subject=metrics::Subject::task(&cluster, &family, &id) /> }
            }))
        }
        _ => return Err(format!("there is no island {kind:?}")),
    };
    // After the first mount: `mount_to` has set up this module's executor, which `install`'s
    // tasks need.
    host::install();
    Ok(handle)
}
