//! The audit trail, newest first, with filters in the URL.

use leptos::prelude::*;

use super::enrollment::audit_rows;
use super::{pager, pairs, query_with, show, split_trail, PagerState};
use crate::api::list_audit;
use crate::components::*;
use crate::model::*;
use crate::query::AuditQuery;

#[component]
pub fn AuditPage() -> impl IntoView {
    view! { <Guard><AuditList/></Guard> }
}

#[component]
fn AuditList() -> impl IntoView {
    let query = query_with(|p| {
        let (rest, back) = split_trail(p)?;
        Ok((AuditQuery::parse(pairs(&rest))?, back))
    });
    let data = Resource::new(query, |q| async move {
        let (q, back) = q?;
        let page = list_audit(q.clone()).await?;
        Ok::<_, crate::AppError>((q, page, back))
    });
    view! {
        <h1>"Audit trail"</h1>
        {show(data, |(q, page, back): (AuditQuery, Page<AuditEntryDto>, Vec<i64>)| {
            let pages = pager(PagerState {
                base: format!("/audit{}", q.filters_only()),
                cursor: "before",
                after: q.before,
                back,
                next_after: page.next_after,
                total: page.total,
                limit: q.limit,
            });
            view! {
                <form method="get" action="/audit" class="filters">
                    <label>"Actor" <input name="actor" value=q.actor.clone().unwrap_or_default()/></label>
                    <label>"Entity type" <input name="entity_type" value=q.entity_type.clone().unwrap_or_default()/></label>
                    <label>"Entity id" <input name="entity_id" value=q.entity_id.clone().unwrap_or_default()/></label>
                    <label>"Action" <input name="action" value=q.action.clone().unwrap_or_default()/></label>
                    <label>"From" <input type="date" name="from" value=q.from.map(|d| d.to_string()).unwrap_or_default()/></label>
                    <label>"To" <input type="date" name="to" value=q.to.map(|d| d.to_string()).unwrap_or_default()/></label>
                    <button type="submit">"Apply"</button>
                    <a href="/audit" class="button secondary">"Clear"</a>
                </form>
                <p class="count">{fmt_count(page.total)} " entries · "
                    <a id="audit-csv" href=format!("/audit.csv{}", q.filters_only())>"Export CSV"</a></p>
                {audit_rows(&page.rows)}
                {pages}
            }
        })}
    }
}
