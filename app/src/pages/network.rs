//! The network hierarchy with enrolled devices and nominal kW rolled up per node.

use leptos::prelude::*;

use super::{pairs, query_with, show};
use crate::api::{network, ExportNetwork};
use crate::components::*;
use crate::model::*;
use crate::query::NetworkQuery;

#[component]
pub fn NetworkPage() -> impl IntoView {
    view! { <Guard><NetworkView_/></Guard> }
}

fn rollup_cells(n: &NodeRollup) -> impl IntoView {
    view! {
        <td class="num">{fmt_count(n.service_points)}</td>
        <td class="num">{fmt_count(n.enrolled_devices)}</td>
        <td class="num">{fmt_kw(n.enrolled_kw)}</td>
    }
}

/// Grid operators and admins send the whole model to the program side (flow 11).
fn export_form() -> impl IntoView {
    let may_export = viewer_may(crate::access::Action::ExportNetwork);
    may_export.then(|| {
        let action = ServerAction::<ExportNetwork>::new();
        view! {
            <ActionForm action=action attr:class="filters" attr:id="network-export">
                <CsrfField/>
                <button type="submit">"Export the network model to the program side"</button>
            </ActionForm>
        }
    })
}

#[allow(non_snake_case)]
#[component]
fn NetworkView_() -> impl IntoView {
    let query = query_with(|p| NetworkQuery::parse(pairs(&p)));
    let data = Resource::new(query, |q| async move { network(q?).await });
    view! {
        <h1>"Network"</h1>
        <p class="lead">"Service points and the devices of active enrollments under each node; the enrolled figures are refreshed in the background every two minutes."</p>
        {export_form()}
        {show(data, |view: NetworkView| {
            let rows = view.substations.iter().map(|s| {
                let feeders = s.children.iter().map(|f| view! {
                    <tr class="feeder">
                        <td class="indent"><a href=format!("/network?feeder={}", f.node.id)>{f.node.code.clone()}</a></td>
                        <td>{f.node.name.clone()}</td>
                        {rollup_cells(f)}
                        <td><a href=format!("/enrollments?feeder={}", f.node.id)>"enrollments"</a></td>
                    </tr>
                }).collect_view();
                view! {
                    <tr class="substation">
                        <th scope="row">{s.node.code.clone()}</th>
                        <td>{s.node.name.clone()}</td>
                        {rollup_cells(s)}
                        <td><a href=format!("/enrollments?substation={}", s.node.id)>"enrollments"</a></td>
                    </tr>
                    {feeders}
                }
            }).collect_view();
            let feeder = view.feeder.map(|f| {
                let transformers = f.children.iter().map(|t| view! {
                    <tr>
                        <td>{t.node.code.clone()}</td>
                        <td>{t.node.name.clone()}</td>
                        {rollup_cells(t)}
                    </tr>
                }).collect_view();
                view! {
                    <section id="feeder-detail">
                        <h2>"Feeder " {f.node.code.clone()} ": transformers"</h2>
                        <table class="data"><thead><tr>
                            <th>"Transformer"</th><th>"Name"</th><th class="num">"Service points"</th>
                            <th class="num">"Enrolled devices"</th><th class="num">"Enrolled load"</th>
                        </tr></thead><tbody>{transformers}</tbody></table>
                    </section>
                }
            });
            view! {
                <table class="data" id="network"><thead><tr>
                    <th>"Node"</th><th>"Name"</th><th class="num">"Service points"</th>
                    <th class="num">"Enrolled devices"</th><th class="num">"Enrolled load"</th><th></th>
                </tr></thead><tbody>{rows}</tbody></table>
                {feeder}
            }
        })}
    }
}
