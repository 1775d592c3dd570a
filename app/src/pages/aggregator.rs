//! Aggregators: the list, and a form to add one or edit the one named by `?edit=ID`.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{pager, show, WholeList};
use crate::api::{list_aggregators, SaveAggregator};
use crate::components::*;
use crate::model::*;

#[component]
pub fn AggregatorPage() -> impl IntoView {
    view! { <Guard><Aggregators/></Guard> }
}

#[component]
fn Aggregators() -> impl IntoView {
    let query = use_query_map();
    let edit = move || query.get().get("edit").and_then(|v| v.parse::<i64>().ok());
    let data = Resource::new(
        move || query.with(|q| q.get("after")),
        |after| async move {
            let list = WholeList::new("/aggregators".into(), after.as_deref())?;
            Ok::<_, crate::AppError>((list_aggregators().await?, list))
        },
    );
    let may_edit = viewer_may(crate::access::Action::EditAggregators);
    view! {
        <h1>"Aggregators"</h1>
        <p class="lead">"Third parties that talk to devices for the utility. Every change is sent to the grid side; deletions are not synchronized, so an aggregator is ended by an end date or set inactive."</p>
        {show(data, move |(list, whole): (Vec<AggregatorDto>, WholeList)| {
            // The one being edited may be on another page of the list.
            let editing = edit().and_then(|id| list.iter().find(|a| a.id == id).cloned());
            let (shown, pages) = match whole.page(list) {
                Ok(page) => page,
                Err(e) => return view! { <ErrorPanel err=e/> }.into_any(),
            };
            let pages = pager(pages);
            let rows = shown.iter().map(|a| view! {
                <tr>
                    <td>{a.name.clone()}</td>
                    <td>{status_badge(&a.status)}</td>
                    <td><code>{a.external_ref.clone()}</code></td>
                    <td>{a.start_date.to_string()} " – " {a.end_date.map(|d| d.to_string()).unwrap_or_default()}</td>
                    <td>{a.contact_name.clone()}</td>
                    <td class="pii">{a.contact_email.clone()}</td>
                    <td>{a.program_codes.join(", ")}</td>
                    <td>{may_edit.then(|| view! { <a href=format!("/aggregators?edit={}", a.id)>"Edit"</a> })}</td>
                </tr>
            }).collect_view();
            view! {
                <table class="data" id="aggregators"><thead><tr>
                    <th>"Name"</th><th>"Status"</th><th>"External reference"</th><th>"Dates"</th>
                    <th>"Contact"</th><th>"Email"</th><th>"Programs"</th><th></th>
                </tr></thead><tbody>{rows}</tbody></table>
                {pages}
                {may_edit.then(|| aggregator_form(editing))}
            }
            .into_any()
        })}
    }
}

/// Add (no aggregator) or edit (the aggregator's values filled in).
fn aggregator_form(a: Option<AggregatorDto>) -> impl IntoView {
    let action = ServerAction::<SaveAggregator>::new();
    let title = match &a {
        Some(a) => format!("Edit {}", a.name),
        None => "Add an aggregator".to_string(),
    };
    let v = |f: fn(&AggregatorDto) -> String| a.as_ref().map(f).unwrap_or_default();
    let (id, name, status, start, end) = (
        v(|a| a.id.to_string()),
        v(|a| a.name.clone()),
        v(|a| a.status.clone()),
        v(|a| a.start_date.to_string()),
        v(|a| a.end_date.map(|d| d.to_string()).unwrap_or_default()),
    );
    let (contact, email, external_ref, programs) = (
        v(|a| a.contact_name.clone()),
        v(|a| a.contact_email.clone()),
        v(|a| a.external_ref.clone()),
        v(|a| a.program_codes.join(", ")),
    );
    let options = ["active", "inactive"]
        .into_iter()
        .map(|s| {
            let selected = status == s;
            view! { <option value=s selected=selected>{s}</option> }
        })
        .collect_view();
    let fixed_ref = a.is_some();
    view! {
        <section class="card">
            <h2>{title}</h2>
            <ActionForm action=action attr:class="form" attr:id="save-aggregator">
                <CsrfField/>
                <input type="hidden" name="aggregator[id]" value=id/>
                <label>"Name" <input name="aggregator[name]" required maxlength="200" value=name/></label>
                <label>"Status" <select name="aggregator[status]">{options}</select></label>
                <label>"Start date" <input type="date" name="aggregator[start_date]" required value=start/></label>
                <label>"End date" <input type="date" name="aggregator[end_date]" value=end/></label>
                <label>"Contact name" <input name="aggregator[contact_name]" required maxlength="200" value=contact/></label>
                <label>"Contact email" <input type="email" name="aggregator[contact_email]" required maxlength="200" value=email/></label>
                <label>"External reference" <input name="aggregator[external_ref]" required maxlength="64" readonly=fixed_ref value=external_ref/></label>
                <label>"Programs offered (codes)" <input name="aggregator[program_codes]" maxlength="500" placeholder="SMT-BYOD, BATT-VPP" value=programs/></label>
                <button type="submit">"Save"</button>
            </ActionForm>
        </section>
    }
}
