//! The integration monitor: messages per flow and status, delivery latency, failures,
//! message detail with every attempt, and resubmission of parked messages (admin).

use leptos::prelude::*;

use super::{pager, pairs, query_with, route_id, show, split_trail, PagerState};
use crate::api::{get_message, monitor, ResubmitMessage};
use crate::components::*;
use crate::model::*;
use crate::query::{MessageQuery, MESSAGE_STATUSES};

#[component]
pub fn MonitorPage() -> impl IntoView {
    view! { <Guard><MonitorList/></Guard> }
}

fn ms(v: Option<i64>) -> String {
    v.map(|v| format!("{v} ms")).unwrap_or_else(|| "—".into())
}

#[component]
fn MonitorList() -> impl IntoView {
    let query = query_with(|p| {
        let (rest, back) = split_trail(p)?;
        Ok((MessageQuery::parse(pairs(&rest))?, back))
    });
    let data = Resource::new(query, |q| async move {
        let (q, back) = q?;
        let view = monitor(q.clone()).await?;
        Ok::<_, crate::AppError>((q, view, back))
    });
    view! {
        <super::user::IntegrationTabs/>
        <h1>"Integration monitor"</h1>
        {show(data, |(q, m, back): (MessageQuery, MonitorView, Vec<i64>)| {
            // The messages the filters match: the counts per flow, status and direction that
            // fit them (one query the page makes anyway).
            let total: i64 = m
                .counts
                .iter()
                .filter(|c| q.flow.as_deref().is_none_or(|f| f == c.flow))
                .filter(|c| q.status.as_deref().is_none_or(|s| s == c.status))
                .filter(|c| q.direction.as_deref().is_none_or(|d| d == c.direction))
                .map(|c| c.count)
                .sum();
            let pages = pager(PagerState {
                base: format!("/monitor{}", q.filters_only()),
                cursor: "before",
                after: q.before,
                back,
                next_after: m.next_before,
                total,
                limit: q.limit,
            });
            let counts = m.counts.iter().map(|c| {
                let href = format!("/monitor?flow={}&status={}&direction={}", c.flow, c.status, c.direction);
                view! {
                    <tr>
                        <td>{c.flow.clone()}</td>
                        <td>{c.direction.clone()}</td>
                        <td>{status_badge(&c.status)}</td>
                        <td class="num"><a href=href>{fmt_count(c.count)}</a></td>
                    </tr>
                }
            }).collect_view();
            let flows = m.flows.iter().map(|f| view! {
                <option value=f.clone() selected=q.flow.as_deref() == Some(f.as_str())>{f.clone()}</option>
            }).collect_view();
            let statuses = MESSAGE_STATUSES.iter().map(|s| view! {
                <option value=*s selected=q.status.as_deref() == Some(*s)>{*s}</option>
            }).collect_view();
            let rows = m.messages.iter().map(|msg| view! {
                <tr>
                    <td><a href=format!("/monitor/{}", msg.id)>{msg.id}</a></td>
                    <td>{fmt_time(&msg.created_at)}</td>
                    <td>{msg.flow.clone()}</td>
                    <td>{format!("{} → {}", msg.sender, msg.recipient)}</td>
                    <td>{status_badge(&msg.status)}</td>
                    <td class="num">{format!("{}/{}", msg.attempts, msg.max_attempts)}</td>
                    <td>{msg.last_error.clone().unwrap_or_default()}</td>
                </tr>
            }).collect_view();
            let hours = q.chart_hours();
            let windows = [(6, "last 6 hours"), (24, "last 24 hours"), (72, "last 3 days"), (168, "last 7 days"), (720, "last 30 days")]
                .into_iter()
                .map(|(h, label)| view! { <option value=h.to_string() selected=hours == h>{label}</option> })
                .collect_view();
            view! {
                <section class="cards">
                    <div class="card stat"><span>"Delivery latency p50"</span><strong>{ms(m.p50_ms)}</strong></div>
                    <div class="card stat"><span>"p95"</span><strong>{ms(m.p95_ms)}</strong></div>
                    <div class="card stat"><span>"p99"</span><strong>{ms(m.p99_ms)}</strong></div>
                </section>
                <h2>"Messages per flow and status"</h2>
                <table class="data" id="flow-counts"><thead><tr><th>"Flow"</th><th>"Direction"</th><th>"Status"</th><th class="num">"Messages"</th></tr></thead>
                <tbody>{counts}</tbody></table>
                <h2>"Messages"</h2>
                <form method="get" action="/monitor" class="filters">
                    <label>"Flow" <select name="flow"><option value="">"All"</option>{flows}</select></label>
                    <label>"Status" <select name="status"><option value="">"All"</option>{statuses}</select></label>
                    <label>"Direction" <select name="direction">
                        <option value="">"Both"</option>
                        <option value="outbound" selected=q.direction.as_deref() == Some("outbound")>"outbound"</option>
                        <option value="inbound" selected=q.direction.as_deref() == Some("inbound")>"inbound"</option>
                    </select></label>
                    <label>"Chart" <select name="hours">{windows}</select></label>
                    <button type="submit">"Apply"</button>
                    <a href="/monitor" class="button secondary">"Clear"</a>
                </form>
                <figure class="chart" id="monitor-chart" inner_html=m.chart_svg.clone()></figure>
                <p class="hint">"The chart's figures per flow and status are the table above."</p>
                <div class="table-scroll">
                <table class="data" id="messages"><thead><tr>
                    <th>"ID"</th><th>"Created"</th><th>"Flow"</th><th>"From → to"</th><th>"Status"</th><th class="num">"Attempts"</th><th>"Last error"</th>
                </tr></thead><tbody>{rows}</tbody></table>
                </div>
                {pages}
            }
        })}
    }
}

#[component]
pub fn MessageDetailPage() -> impl IntoView {
    view! { <Guard><MessageDetailView/></Guard> }
}

#[component]
fn MessageDetailView() -> impl IntoView {
    let id = route_id("message");
    let data = Resource::new(id, |id| async move { get_message(id?).await });
    let is_admin = viewer_may(crate::access::Action::ResubmitMessages);
    show(data, move |d: MessageDetail| {
        let m = d.message.clone();
        let attempts = d
            .attempts
            .iter()
            .map(|a| {
                view! {
                    <tr>
                        <td class="num">{a.attempt}</td>
                        <td>{fmt_time(&a.started_at)}</td>
                        <td class="num">{format!("{} ms", a.latency_ms)}</td>
                        <td>{status_badge(&a.outcome)}</td>
                        <td>{a.error.clone().unwrap_or_default()}</td>
                    </tr>
                }
            })
            .collect_view();
        let resubmittable = is_admin
            && m.direction == "outbound"
            && (m.status == "parked" || m.status == "business_error");
        let resubmit = resubmittable.then(|| {
            let action = ServerAction::<ResubmitMessage>::new();
            view! {
                <ActionForm action=action attr:id="resubmit">
                    <CsrfField/>
                    <input type="hidden" name="id" value=m.id/>
                    <button type="submit">"Resubmit"</button>
                </ActionForm>
            }
        });
        view! {
            <h1>"Message " {m.id} " " {status_badge(&m.status)}</h1>
            <section class="card">
                <dl>
                    <dt>"Message id"</dt><dd><code>{m.message_id.clone()}</code></dd>
                    <dt>"Flow"</dt><dd>{m.flow.clone()} " (" {m.direction.clone()} ")"</dd>
                    <dt>"From → to"</dt><dd>{format!("{} → {}", m.sender, m.recipient)}</dd>
                    <dt>"Correlation"</dt><dd>{m.correlation_id.clone().unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Attempts"</dt><dd>{format!("{} of {}", m.attempts, m.max_attempts)}</dd>
                    <dt>"Created"</dt><dd>{fmt_time(&m.created_at)}</dd>
                    <dt>"Finished"</dt><dd>{m.finished_at.as_ref().map(fmt_time).unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Last error"</dt><dd>{m.last_error.clone().unwrap_or_else(|| "—".into())}</dd>
                </dl>
                {resubmit}
            </section>
            <h2>"Attempts"</h2>
            <table class="data" id="attempts"><thead><tr><th class="num">"#"</th><th>"Started"</th><th class="num">"Latency"</th><th>"Outcome"</th><th>"Error"</th></tr></thead>
            <tbody>{attempts}</tbody></table>
            <h2>"Payload"</h2>
            <pre class="payload" id="payload">{d.payload.clone()}</pre>
            <h2>"Answer"</h2>
            <pre class="payload" id="answer">{d.result.clone().unwrap_or_else(|| "—".into())}</pre>
        }
    })
}
