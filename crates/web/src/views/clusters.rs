//! The clusters list: counts as DescribeClusters gives them, live.

use crate::wire as w;
use leptos::prelude::*;

use crate::logic::filter::Filter;
use crate::logic::query::paths;
use crate::store::{Load, Row, store};

use super::ui::{FilterBox, load_line, query_param, ready_when, status_text};

fn fields(c: &w::Cluster) -> [(&'static str, String); 2] {
    [
        ("name", c.cluster_name.clone().unwrap_or_default()),
        ("status", c.status.clone().unwrap_or_default()),
    ]
}

/// `/ui/clusters`.
#[component]
pub fn ClustersPage() -> impl IntoView {
    let rows = store().clusters();
    let state = rows.state.clone();
    ready_when(state.clone());
    let q = query_param("q");
    let list = rows.list.clone();
    let visible = Memo::new(move |_| {
        let f = Filter::parse(&q.get());
        list.get()
            .into_iter()
            .filter(|r: &Row<w::Cluster>| {
                r.data.with(|c| {
                    let f2 = fields(c);
                    let refs: Vec<(&str, &str)> =
                        f2.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    f.matches(&refs)
                })
            })
            .map(|r| r.key.clone())
            .collect::<Vec<_>>()
    });
    let rows2 = rows.clone();
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Clusters"</h1>
                <FilterBox placeholder="Filter clusters" />
            </div>
            {move || load_line(state.get())}
            <table data-table="clusters">
                <thead>
                    <tr>
                        <th scope="col">"Cluster"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col" class="num">"Services"</th>
                        <th scope="col" class="num">"Running tasks"</th>
                        <th scope="col" class="num">"Pending tasks"</th>
                        <th scope="col" class="num">"Container instances"</th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || visible.get()
                        key=|k| k.clone()
                        children=move |k| {
                            let row = rows2.list.with_untracked(|l| l.iter().find(|r| r.key == k).cloned());
                            row.map(|r| {
                                let d = RwSignal::from(r.data);
                                let name = k.to_string();
                                view! {
                                    <tr data-key=name.clone() tabindex="-1" aria-selected="false">
                                        <td>
                                            <a href=paths::cluster(&name, "services")>{name.clone()}</a>
                                        </td>
                                        <td>{move || status_text(d.with(|c| c.status.clone().unwrap_or_default()))}</td>
                                        <td class="num" data-col="services">
                                            {move || d.with(|c| c.active_services_count.unwrap_or(0))}
                                        </td>
                                        <td class="num" data-col="running">
                                            {move || d.with(|c| c.running_tasks_count.unwrap_or(0))}
                                        </td>
                                        <td class="num" data-col="pending">
                                            {move || d.with(|c| c.pending_tasks_count.unwrap_or(0))}
                                        </td>
                                        <td class="num" data-col="instances">
                                            {move || d.with(|c| c.registered_container_instances_count.unwrap_or(0))}
                                        </td>
                                    </tr>
                                }
                            })
                        }
                    />
                </tbody>
            </table>
            <Show when=move || visible.with(Vec::is_empty) && rows.state.get() == Load::Ready>
                <p class="muted">"No clusters match."</p>
            </Show>
        </section>
    }
}
