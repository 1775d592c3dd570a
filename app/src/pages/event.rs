//! Events: the list with the new-event form, and an event's page — plan, submit, approve,
//! deny, cancel; the Before / After / Actual chart, stages, devices, outcomes and timeline.
//! While an event is live only its figures refresh: `/style/live.js` (our own origin) fetches
//! `/events/{id}/live` (that block alone) and swaps in the `#live-figures` block, so a reason being typed is never lost;
//! without JavaScript a "Refresh figures" link does the same by hand.

use chrono::{DateTime, Duration, DurationRound, Utc};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::enrollment::{audit_link, audit_rows};
use super::{pager, route_id, show, WholeList};
use crate::components::*;
use crate::event_api::{
    list_events, list_strategies, load_event, load_stage_devices, simulated_now, take_event_draft,
    AdvanceClock, CreateEvent, EventAction, EventDraft,
};
use crate::grid::*;

const STATUSES: [&str; 8] = [
    "New",
    "Submitted",
    "Approved",
    "Denied",
    "Scheduled",
    "InProgress",
    "Completed",
    "Canceled",
];

#[component]
pub fn EventListPage() -> impl IntoView {
    view! { <Guard><EventList/></Guard> }
}

/// The admin's control of the simulated clock, shown only when the server runs on one.
#[component]
pub fn ClockControl(now: Option<DateTime<Utc>>) -> impl IntoView {
    let admin = viewer_may(crate::access::Action::MoveClock);
    now.map(|now| {
        let action = ServerAction::<AdvanceClock>::new();
        view! {
            <section class="card clock" id="clock">
                <p>"Simulated clock: " <strong>{fmt_time(&now)}</strong></p>
                {admin.then(|| view! {
                    <ActionForm action=action attr:class="inline" attr:id="advance-clock">
                        <CsrfField/>
                        <label>"Move on by " <input name="minutes" value="60" size="5" inputmode="numeric"/> " minutes"</label>
                        <button type="submit" class="secondary">"Advance"</button>
                    </ActionForm>
                })}
            </section>
        }
    })
}

/// Status filter, chosen strategy, events, strategies, simulated time, a refused form, the
/// page of the list shown.
type ListData = (
    Option<String>,
    Option<String>,
    Vec<EventSummary>,
    Vec<StrategyDto>,
    Option<DateTime<Utc>>,
    Option<EventDraft>,
    WholeList,
);

/// The field of the new-event form an error names (for the error summary's link).
fn field_of_error(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    if e.starts_with("strategy") {
        "event-strategy"
    } else if e.starts_with("ends") {
        "event-ends"
    } else if e.starts_with("name") {
        "event-name"
    } else {
        "event-starts"
    }
}

#[component]
fn EventList() -> impl IntoView {
    let query = use_query_map();
    let status = move || query.with(|q| q.get("status").filter(|s| !s.is_empty()));
    let chosen = move || query.with(|q| q.get("strategy"));
    let after = move || query.with(|q| q.get("after"));
    let data = Resource::new(
        move || (status(), chosen(), after()),
        |(status, chosen, after)| async move {
            let base = match &status {
                Some(s) => format!("/events?status={}", crate::query::encode(s)),
                None => "/events".to_string(),
            };
            let list = WholeList::new(base, after.as_deref())?;
            let events = list_events(status.clone()).await?;
            let strategies = list_strategies(false).await?;
            let now = simulated_now().await?;
            let draft = take_event_draft().await?;
            Ok::<_, crate::AppError>((status, chosen, events, strategies, now, draft, list))
        },
    );
    view! {
        <h1>"Events"</h1>
        {show(data, |(status, chosen, events, strategies, now, draft, list): ListData| {
            let (events, pages) = match list.page(events) {
                Ok(page) => page,
                Err(e) => return view! { <ErrorPanel err=e/> }.into_any(),
            };
            let operator = viewer_may(crate::access::Action::CreateEvents);
            let zone = local_zone().name();
            let base = now.unwrap_or_else(Utc::now);
            let start = base.duration_trunc(Duration::minutes(15)).unwrap_or(base) + Duration::hours(1);
            let create = operator.then(|| {
                let action = ServerAction::<CreateEvent>::new();
                let typed = draft.as_ref().map(|d| d.input.clone());
                let chosen = typed.as_ref().map(|t| t.strategy_id.trim().to_string()).or(chosen.clone());
                let options = strategies.iter().map(|s| {
                    let selected = chosen.as_deref() == Some(s.id.to_string().as_str());
                    view! { <option value=s.id selected=selected>{format!("{} — {}", s.name, s.objective)}</option> }
                }).collect_view();
                let summary = draft.as_ref().map(|d| {
                    let href = format!("#{}", field_of_error(&d.error));
                    view! {
                        <div class="error-summary" role="alert" id="event-form-errors" tabindex="-1">
                            <h2>"The event was not created"</h2>
                            <ul><li><a href=href>{d.error.clone()}</a></li></ul>
                            <p>"What you typed is kept below; correct it and create the event again."</p>
                        </div>
                    }
                });
                let name = typed.as_ref().map(|t| t.name.clone()).unwrap_or_default();
                let starts = typed.as_ref().map(|t| t.starts_at.clone()).unwrap_or_else(|| fmt_input(&start));
                let ends = typed.as_ref().map(|t| t.ends_at.clone()).unwrap_or_else(|| fmt_input(&(start + Duration::hours(3))));
                let invalid = draft.as_ref().map(|d| field_of_error(&d.error)).unwrap_or("");
                let open = chosen.is_some() || draft.is_some();
                view! {
                    <details class="card" open=open>
                        <summary>"New event"</summary>
                        <ActionForm action=action attr:class="stack" attr:id="event-form">
                            {summary}
                            <CsrfField/>
                            <label>"Strategy" <select name="event[strategy_id]" id="event-strategy" required aria-invalid=(invalid == "event-strategy").then_some("true")>{options}</select></label>
                            <label>"Name" <input name="event[name]" id="event-name" placeholder="e.g. Heat wave afternoon" value=name aria-invalid=(invalid == "event-name").then_some("true")/></label>
                            <label>{format!("Starts (local, {zone})")} <input name="event[starts_at]" id="event-starts" required placeholder="YYYY-MM-DD HH:MM" value=starts aria-invalid=(invalid == "event-starts").then_some("true")/></label>
                            <label>{format!("Ends (local, {zone})")} <input name="event[ends_at]" id="event-ends" required placeholder="YYYY-MM-DD HH:MM" value=ends aria-invalid=(invalid == "event-ends").then_some("true")/></label>
                            <p class="hint">"Local time. On the night the clocks go back, a time that happens twice takes the abbreviation of the one meant, e.g. " <code>"01:30 CDT"</code> " or " <code>"01:30 CST"</code> "."</p>
                            <button type="submit">"Create event"</button>
                        </ActionForm>
                    </details>
                }
            });
            let filter = STATUSES.iter().map(|s| {
                let selected = status.as_deref() == Some(*s);
                view! { <option value=*s selected=selected>{*s}</option> }
            }).collect_view();
            let pages = pager(pages);
            let rows = events.into_iter().map(|e| view! {
                <tr>
                    <td><a href=format!("/events/{}", e.id)>{e.code.clone()}</a></td>
                    <td>{e.name.clone()}</td>
                    <td>{status_badge(&e.status)}</td>
                    <td>{e.event_type.clone()}</td>
                    <td>{e.strategy.clone()}</td>
                    <td>{fmt_time(&e.starts_at)} " – " {fmt_clock(&e.ends_at)}</td>
                    <td class="num">{e.stages}</td>
                    <td class="num">{fmt_count(e.devices)}</td>
                    <td class="num">{fmt_kw(e.peak_reduction_kw)}</td>
                </tr>
            }).collect_view();
            view! {
                <ClockControl now=now/>
                {create}
                <form method="get" action="/events" class="filters">
                    <label>"Status" <select name="status"><option value="">"any"</option>{filter}</select></label>
                    <button type="submit">"Apply"</button>
                </form>
                <table class="data" id="events"><thead><tr>
                    <th>"Event"</th><th>"Name"</th><th>"Status"</th><th>"Type"</th><th>"Strategy"</th><th>"Window (local)"</th>
                    <th class="num">"Stages"</th><th class="num">"Devices"</th><th class="num">"Peak reduction"</th>
                </tr></thead><tbody>{rows}</tbody></table>
                {pages}
            }
            .into_any()
        })}
    }
}

#[component]
pub fn EventDetailPage() -> impl IntoView {
    view! { <Guard><EventDetailView/></Guard> }
}

/// `/events/{id}/live`: the event's live figures alone, no document around them, for
/// `/style/live.js` to swap in. The same access as the event's page: 401 signed out, 403 for a
/// role that may not open events, and the event service's own check behind it.
#[component]
pub fn EventLiveFragment() -> impl IntoView {
    let path = current_path();
    match current_viewer() {
        None => {
            set_status(401);
            view! { <p>"Please sign in."</p> }.into_any()
        }
        Some(v) if !crate::access::may_open(&path, v.role) => {
            view! { <ErrorPanel err=crate::AppError::Forbidden("open this page".into())/> }
                .into_any()
        }
        Some(_) => {
            let id = route_id("event");
            let data = Resource::new(id, |id| async move { load_event(id?).await });
            show(data, |d: EventDetail| live_figures(&d)).into_any()
        }
    }
}

/// The plan's verdict: its warnings (shortfall and intervals, rebound above the pre-event
/// peak) where the operator submits and the approver approves, or a line saying it holds.
fn feasibility_view(d: &EventDetail) -> impl IntoView {
    d.feasibility.clone().map(|f| {
        let allowance = f
            .max_increase_pct
            .map(|p| format!("; rebound allowance {p}% over the baseline"))
            .unwrap_or_default();
        let figures = format!(
            "Pre-event peak {}, highest load with the plan {}{allowance}.",
            fmt_kw(f.before_peak_kw),
            fmt_kw(f.after_peak_kw)
        );
        if f.warnings.is_empty() {
            view! {
                <p class="plan-feasible" id="plan-feasibility">
                    "The plan meets its objective at every interval. " {figures}
                </p>
            }
            .into_any()
        } else {
            let items = f.warnings.into_iter().map(|w| view! { <li>{w}</li> }).collect_view();
            view! {
                <section class="plan-warnings" role="alert" id="plan-warnings" aria-labelledby="plan-warnings-heading">
                    <h2 id="plan-warnings-heading">"Check the plan before submitting or approving"</h2>
                    <ul>{items}</ul>
                    <p>{figures}</p>
                </section>
            }
            .into_any()
        }
    })
}

fn action_forms(d: &EventDetail) -> impl IntoView {
    let id = d.summary.id;
    let manual = d.summary.objective == "Manual";
    let planned = !d.stages.is_empty();
    let forms = d
        .actions
        .clone()
        .into_iter()
        .filter(|a| a != "cancel")
        .map(move |a| {
            let action = ServerAction::<EventAction>::new();
            let (label, extra) = match a.as_str() {
                "plan" => (
                    if planned { "Regenerate stages" } else { "Generate stages" },
                    manual.then(|| view! {
                        <label>"Stages (local HH:MM-HH:MM[@kW], comma separated; empty: the whole window)"
                            <input name="reason" placeholder="16:00-17:00@500, 17:00-18:00"/></label>
                    }.into_any()),
                ),
                "submit" => ("Submit for approval", None),
                "approve" => ("Approve", None),
                "deny" => {
                    // A refused denial keeps its reason.
                    let reason = kept_form::<EventAction>()
                        .filter(|k| k.get("id") == Some(id.to_string().as_str()) && k.get("action") == Some("deny"))
                        .and_then(|k| k.get("reason").map(str::to_string))
                        .unwrap_or_default();
                    ("Deny", Some(view! { <label>"Reason for denying" <input name="reason" required maxlength="500" value=reason/></label> }.into_any()))
                }
                _ => ("?", None),
            };
            let class = if a == "deny" { "danger" } else { "" };
            let form_id = format!("event-{a}");
            view! {
                <ActionForm action=action attr:class="inline" attr:id=form_id>
                    <CsrfField/>
                    <input type="hidden" name="id" value=id/>
                    <input type="hidden" name="action" value=a.clone()/>
                    {extra}
                    <button type="submit" class=class>{label}</button>
                </ActionForm>
            }
        })
        .collect_view();
    // Cancelling is set apart, with its own reason, and confirmed on a page of its own.
    let cancel = d.actions.iter().any(|a| a == "cancel").then(|| {
        let ask = ServerAction::<crate::confirm::AskConfirmation>::new();
        let reason = crate::confirm::refused_reason("cancel_event", &id.to_string());
        view! {
            <section class="danger-zone" aria-labelledby="cancel-heading">
                <h2 id="cancel-heading">"Cancel this event"</h2>
                <ActionForm action=ask attr:class="inline" attr:id="event-cancel">
                    <CsrfField/>
                    <input type="hidden" name="kind" value="cancel_event"/>
                    <input type="hidden" name="target" value=id/>
                    <label>"Reason for cancelling " <input name="reason" required maxlength="500" value=reason/></label>
                    <button type="submit" class="danger">"Cancel event…"</button>
                </ActionForm>
            </section>
        }
    });
    view! { <section class="actions">{forms}</section>{cancel} }
}

#[component]
fn EventDetailView() -> impl IntoView {
    let id = route_id("event");
    let query = use_query_map();
    let stage = move || query.with(|q| q.get("stage").and_then(|s| s.parse::<i32>().ok()));
    let after = move || query.with(|q| q.get("after").and_then(|s| s.parse::<i64>().ok()));
    let data = Resource::new(
        move || (id(), stage(), after()),
        |(id, stage, after)| async move {
            let id = id?;
            let detail = load_event(id).await?;
            let devices = match stage {
                Some(seq) => Some(load_stage_devices(id, seq, after).await?),
                None => None,
            };
            let now = simulated_now().await?;
            Ok::<_, crate::AppError>((detail, devices, now))
        },
    );
    show(
        data,
        |(d, devices, now): (EventDetail, Option<StageDevicesPage>, Option<DateTime<Utc>>)| {
            let s = d.summary.clone();
            let refresh_secs = d.refresh_secs;
            let live_note = refresh_secs.map(|secs| view! {
                <p class="live-note" id="live-note">
                    {format!("Live: the figures refresh every {secs} s without reloading the page. ")}
                    <a href=format!("/events/{}#live-figures", s.id) id="refresh-figures">"Refresh figures"</a>
                </p>
                <script src="/style/live.js" defer></script>
            });
            let rebound = match d.max_increase_pct {
                Some(p) => format!("rebound ≤ {p}%"),
                None => "default rebound bound".into(),
            };
            let target = match (s.objective.as_str(), d.target_mw) {
                ("MaxDemandThreshold", Some(t)) => {
                    format!("keep zone load under {}, {rebound}", fmt_kw(t * 1000.0))
                }
                ("LoadReduction", Some(t)) => {
                    format!("shed {} each interval, {rebound}", fmt_kw(t * 1000.0))
                }
                ("MaximumReduction", _) => format!("shed all the rules allow, {rebound}"),
                _ => format!("manual stages, {rebound}"),
            };
            let people = [
                ("Created by", Some(d.created_by.clone())),
                ("Submitted by", d.submitted_by.clone()),
                ("Approved by", d.approved_by.clone()),
                ("Second approval", d.second_approved_by.clone()),
                ("Decided / cancelled by", d.decided_by.clone()),
                ("Reason", d.decision_reason.clone()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| view! { <dt>{k}</dt><dd>{v}</dd> }))
            .collect_view();
            let device_table = devices.map(|p| {
            let next = p.next.map(|n| view! { <a rel="next" href=format!("/events/{}?stage={}&after={n}#stage-devices", s.id, p.stage.seq)>"More »"</a> });
            let rows = p.devices.iter().map(|x| view! {
                <tr>
                    <td>{format!("{} / {}", x.head_end, x.nic_id)}</td><td>{x.device_type.clone()}</td><td>{x.program_code.clone()}</td>
                    <td class="num">{fmt_kw(x.expected_kw)}</td><td>{x.status.clone()}</td>
                    <td>{x.outcome.clone().map(|o| outcome_label(&o)).unwrap_or_default()}</td>
                    <td class="num">{x.actual_kw.map(fmt_kw).unwrap_or_default()}</td>
                </tr>
            }).collect_view();
            view! {
                <section id="stage-devices">
                    <h2>{format!("Devices of {}", p.stage.external_id)}</h2>
                    <table class="data" id="stage-device-table"><thead><tr>
                        <th>"Device"</th><th>"Type"</th><th>"Program"</th><th class="num">"Expected"</th><th>"Reservation"</th><th>"Outcome"</th><th class="num">"Actual"</th>
                    </tr></thead><tbody>{rows}</tbody></table>
                    <nav class="pager">{next}</nav>
                </section>
            }
        });
            let openadr = (!d.openadr.is_empty()).then(|| {
                let rows = d.openadr.iter().map(|p| view! {
                    <tr>
                        <td><code>{p.openadr_event_id.clone()}</code></td>
                        <td>{format!("{} ({})", p.ven_name, p.ven)}</td>
                        <td class="num">{fmt_count(p.devices)}</td>
                        <td>{p.state.clone()}</td>
                        <td>{p.last_report_at.as_ref().map(fmt_time).unwrap_or_else(|| "no report yet".to_string())}</td>
                    </tr>
                }).collect_view();
                view! {
                    <section id="openadr">
                        <h2>"Published over OpenADR"</h2>
                        <table class="data" id="openadr-publications"><thead><tr>
                            <th>"OpenADR event"</th><th>"VEN (aggregator)"</th><th class="num">"Devices"</th><th>"State"</th><th>"Last report (local)"</th>
                        </tr></thead><tbody>{rows}</tbody></table>
                    </section>
                }
            });
            // The historical report, for those who may read reports, once the event has ended.
            let report = (matches!(s.status.as_str(), "Completed" | "Canceled")
                && current_viewer().is_some_and(|v| crate::access::may_open("/reports", v.role)))
            .then(|| view! {
                <p><a href=format!("/reports/events/{}", s.id) id="event-report-link">"Event report"</a></p>
            });
            let figures = live_figures(&d);
            let actions = action_forms(&d).into_any();
            let timeline = audit_rows(&d.timeline).into_any();
            view! {
                <h1>{format!("{} — {}", s.code, s.name)} " " {status_badge(&s.status)}</h1>
                {report}
                <ClockControl now=now/>
                <section class="card">
                    <dl>
                        <dt>"Window (local)"</dt><dd>{fmt_time(&s.starts_at)} " – " {fmt_time(&s.ends_at)}</dd>
                        <dt>"Strategy"</dt><dd><a href=format!("/strategies/{}", d.strategy_id)>{s.strategy.clone()}</a></dd>
                        <dt>"Type"</dt><dd>{format!("{} (priority {}){}", s.event_type, d.priority, if d.ba_check { ", balancing-authority check" } else { "" })}</dd>
                        <dt>"Objective"</dt><dd>{target}</dd>
                        <dt>"Zone"</dt><dd>{d.zone.join(", ")}</dd>
                        <dt>"Programs"</dt><dd>{d.programs.join(", ")}</dd>
                        <dt>"Control"</dt><dd>{format!("{}{}", d.control_level, if d.override_rules { ", overrides rules" } else { "" })}</dd>
                        {d.second_approval_required.then(|| view! { <dt>"Approvals"</dt><dd>"two approvals required (balancing-authority threshold)"</dd> })}
                        {people}
                    </dl>
                </section>
                {feasibility_view(&d).into_any()}
                {actions}
                {live_note}
                {figures}
                {device_table}
                {openadr}
                <section id="timeline">
                    <h2>"Timeline"</h2>
                    <p id="event-audit-link">{audit_link("event", &s.code)}</p>
                    {timeline}
                </section>
            }
        },
    )
}

/// The block the live script swaps: chart, plan, outcomes, stages and "Figures as of". The
/// event page shows it inside the page; `/events/{id}/live` serves it alone (boxed: it keeps
/// the page's view type shallow).
fn live_figures(d: &EventDetail) -> AnyView {
    let s = &d.summary;
    let refresh_secs = d.refresh_secs;
    let exclusions = d.exclusions.iter().map(|c| view! { <tr><td>{crate::history::exclusion_reason(&c.label)}</td><td class="num">{fmt_count(c.count)}</td></tr> }).collect_view();
    let outcomes = d.outcomes.iter().map(|c| view! { <tr><td>{outcome_label(&c.label)}</td><td class="num">{fmt_count(c.count)}</td></tr> }).collect_view();
    let stages = d.stages.iter().map(|st| view! {
            <tr>
                <td><a href=format!("/events/{}?stage={}#stage-devices", s.id, st.seq)>{st.external_id.clone()}</a></td>
                <td>{fmt_clock(&st.starts_at)} " – " {fmt_clock(&st.ends_at)}</td>
                <td class="num">{fmt_count(st.device_count)}</td>
                <td class="num">{fmt_kw(st.expected_kw)}</td>
                <td>{status_badge(&st.status)}</td>
            </tr>
        }).collect_view();
    let chart = d.chart_svg.clone().map(|svg| {
        view! {
            <div class="chart-with-table">
                <figure class="chart" id="event-chart" inner_html=svg></figure>
                {interval_table(&d.intervals)}
            </div>
        }
    });
    view! {
                <div id="live-figures" data-refresh-secs=refresh_secs.map(|s| s.to_string()) data-live-src=format!("/events/{}/live", s.id)>
                <p class="as-of" id="figures-as-of">"Figures as of " {fmt_time_secs(&d.now)}</p>
                {chart}
                <section class="grid-2">
                    <div>
                        <h2>"Plan"</h2>
                        <p>{format!("{} eligible devices, {} stage(s), peak reduction {}", fmt_count(d.eligible), d.stages.len(), fmt_kw(s.peak_reduction_kw))}</p>
                        <table class="data" id="exclusions"><thead><tr><th>"Excluded because"</th><th class="num">"Devices"</th></tr></thead><tbody>{exclusions}</tbody></table>
                    </div>
                    <div>
                        <h2>"Outcomes"</h2>
                        <table class="data" id="outcomes"><thead><tr><th>"Outcome"</th><th class="num">"Devices"</th></tr></thead><tbody>{outcomes}</tbody></table>
                    </div>
                </section>
                <section>
                    <h2>"Stages"</h2>
                    <table class="data" id="stages"><thead><tr>
                        <th>"Stage"</th><th>"Time (local)"</th><th class="num">"Devices"</th><th class="num">"Expected"</th><th>"Status"</th>
                    </tr></thead><tbody>{stages}</tbody></table>
                </section>
                </div>
            }
    .into_any()
}

/// The chart's text alternative: its figures per interval, folded away under the chart.
fn interval_table(intervals: &[IntervalDto]) -> impl IntoView {
    let rows = intervals
        .iter()
        .map(|i| {
            view! {
                <tr>
                    <td>{fmt_time(&i.starts_at)}</td>
                    <td class="num">{fmt_kw(i.baseline_kw)}</td>
                    <td class="num">{fmt_kw(i.planned_kw)}</td>
                    <td class="num">{i.actual_kw.map(fmt_kw).unwrap_or_else(|| "—".into())}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <details class="chart-table" id="event-chart-table">
            <summary>"The chart as a table"</summary>
            <div class="table-scroll">
                <table class="data" id="event-intervals"><thead><tr>
                    <th>"Interval (local)"</th><th class="num">"Before"</th><th class="num">"After (planned)"</th><th class="num">"Actual"</th>
                </tr></thead><tbody>{rows}</tbody></table>
            </div>
        </details>
    }
}

/// A local time to the second, for "figures as of".
fn fmt_time_secs(t: &DateTime<Utc>) -> String {
    t.with_timezone(&local_zone())
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

fn outcome_label(code: &str) -> String {
    let text = match code {
        "D1SP" => "participated",
        "D1ND" => "non-responsive",
        "D1IO" => "in-flight override",
        "D1ER" => "error",
        "D1CN" => "cancelled",
        _ => return code.to_string(),
    };
    format!("{code} {text}")
}

/// A short table of events for a home page: those in `status`, or the open ones.
#[component]
pub fn EventDigest(status: Option<&'static str>, empty: &'static str) -> impl IntoView {
    let data = Resource::new(
        move || status,
        |s| async move { list_events(s.map(str::to_string)).await },
    );
    show(data, move |events: Vec<EventSummary>| {
        let open = ["New", "Submitted", "Approved", "Scheduled", "InProgress"];
        let rows: Vec<_> = events
            .into_iter()
            .filter(|e| status.is_some() || open.contains(&e.status.as_str()))
            .take(10)
            .collect();
        if rows.is_empty() {
            return view! { <p class="empty">{empty}</p> }.into_any();
        }
        let rows = rows
            .into_iter()
            .map(|e| {
                view! {
                    <tr>
                        <td><a href=format!("/events/{}", e.id)>{e.code.clone()}</a></td>
                        <td>{e.name.clone()}</td>
                        <td>{status_badge(&e.status)}</td>
                        <td>{fmt_time(&e.starts_at)}</td>
                        <td class="num">{fmt_kw(e.peak_reduction_kw)}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="data" id="event-digest"><thead><tr>
                <th>"Event"</th><th>"Name"</th><th>"Status"</th><th>"Starts (local)"</th><th class="num">"Peak reduction"</th>
            </tr></thead><tbody>{rows}</tbody></table>
        }
        .into_any()
    })
}
