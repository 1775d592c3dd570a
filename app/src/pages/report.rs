//! The auditor's reports: the index of ended events and programs, the historical event
//! report and the program season report. Print-friendly (the stylesheet's print rules hide
//! navigation and buttons); each report has a CSV download next to it.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::enrollment::audit_rows;
use super::{route_id, show};
use crate::components::*;
use crate::report::*;
use crate::report_api::{load_event_report, load_report_index, load_season_report};

use crate::format::{kwh, money};

#[component]
pub fn ReportIndexPage() -> impl IntoView {
    view! { <Guard><ReportIndexView/></Guard> }
}

#[component]
fn ReportIndexView() -> impl IntoView {
    let data = Resource::new(|| (), |_| load_report_index());
    view! {
        <h1>"Reports"</h1>
        {show(data, |r: ReportIndex| {
            let events = r.events.iter().map(|e| view! {
                <tr>
                    <td><a href=format!("/reports/events/{}", e.id)>{e.code.clone()}</a></td>
                    <td>{e.name.clone()}</td>
                    <td>{status_badge(&e.status)}</td>
                    <td>{fmt_time(&e.starts_at)} " – " {fmt_clock(&e.ends_at)}</td>
                    <td class="num">{fmt_count(e.settled)}</td>
                    <td><a href=format!("/reports/events/{}.csv", e.id)>"CSV"</a></td>
                </tr>
            }).collect_view();
            let programs = r.programs.iter().map(|p| view! {
                <tr>
                    <td><a href=format!("/reports/programs/{}", p.code)>{p.code.clone()}</a></td>
                    <td>{p.name.clone()}</td>
                    <td>{p.season_start.to_string()} " – " {p.season_end.to_string()}</td>
                    <td><a href=format!("/reports/programs/{}.csv", p.code)>"CSV"</a></td>
                </tr>
            }).collect_view();
            let empty = r.events.is_empty().then(|| view! { <p class="empty">"No event has ended yet."</p> });
            view! {
                <section>
                    <h2>"Event reports"</h2>
                    {empty}
                    <table class="data" id="report-events"><thead><tr>
                        <th>"Event"</th><th>"Name"</th><th>"Status"</th><th>"Window (local)"</th><th class="num">"Settled enrollments"</th><th>"Export"</th>
                    </tr></thead><tbody>{events}</tbody></table>
                </section>
                <section>
                    <h2>"Program season reports"</h2>
                    <table class="data" id="report-programs"><thead><tr>
                        <th>"Program"</th><th>"Name"</th><th>"Season"</th><th>"Export"</th>
                    </tr></thead><tbody>{programs}</tbody></table>
                </section>
            }
        })}
    }
}

fn outcome_cells(o: &OutcomeCounts) -> impl IntoView {
    view! {
        <td class="num">{fmt_count(o.reserved)}</td>
        <td class="num">{fmt_count(o.opted_out)}</td>
        <td class="num">{fmt_count(o.participated)}</td>
        <td class="num">{fmt_count(o.non_responsive)}</td>
        <td class="num">{fmt_count(o.in_flight_override)}</td>
        <td class="num">{fmt_count(o.error)}</td>
        <td class="num">{fmt_count(o.cancelled)}</td>
        <td class="num">{fmt_count(o.pending)}</td>
    }
}

const OUTCOME_HEADERS: [&str; 8] = [
    "Reserved",
    "Opted out",
    "D1SP participated",
    "D1ND non-responsive",
    "D1IO override",
    "D1ER error",
    "D1CN cancelled",
    "No outcome",
];

fn print_bar(csv: String) -> impl IntoView {
    view! {
        <p class="report-tools">
            <a href=csv download="" id="download-csv">"Download CSV"</a>
            " · "
            <span id="print-hint">"Print with your browser's print command: the printout leaves out navigation and buttons."</span>
        </p>
    }
}

#[component]
pub fn EventReportPage() -> impl IntoView {
    view! { <Guard><EventReportView/></Guard> }
}

#[component]
fn EventReportView() -> impl IntoView {
    let id = route_id("event");
    let data = Resource::new(id, |id| async move { load_event_report(id?).await });
    show(data, |r: EventReport| {
        let people = [
            ("Created by", Some(r.created_by.clone()), None),
            ("Submitted by", r.submitted_by.clone(), r.submitted_at),
            ("Approved by", r.approved_by.clone(), r.approved_at),
            (
                "Second approval",
                r.second_approved_by.clone(),
                r.second_approved_at,
            ),
            ("Denied / cancelled by", r.decided_by.clone(), None),
            ("Reason", r.decision_reason.clone(), None),
            ("Started", r.started_at.map(|t| fmt_time(&t)), None),
            ("Completed", r.completed_at.map(|t| fmt_time(&t)), None),
        ]
        .into_iter()
        .filter_map(|(k, v, at)| {
            v.map(|v| {
                let when = at
                    .map(|t| format!(" ({})", fmt_time(&t)))
                    .unwrap_or_default();
                view! { <dt>{k}</dt><dd>{v}{when}</dd> }
            })
        })
        .collect_view();
        let stages = r
            .stages
            .iter()
            .map(|s| {
                view! {
                    <tr>
                        <td>{s.external_id.clone()}</td>
                        <td>{fmt_clock(&s.starts_at)} " – " {fmt_clock(&s.ends_at)}</td>
                        <td>{status_badge(&s.status)}</td>
                        <td class="num">{fmt_kw(s.expected_kw)}</td>
                        <td class="num">{kwh(s.expected_kwh)}</td>
                        {outcome_cells(&s.outcomes)}
                    </tr>
                }
            })
            .collect_view();
        let heads = OUTCOME_HEADERS
            .iter()
            .map(|h| view! { <th class="num">{*h}</th> })
            .collect_view();
        let programs = r
            .by_program
            .iter()
            .map(|p| {
                view! {
                    <tr>
                        <td>{p.program_code.clone()}</td>
                        <td>{p.settlement_method.clone()}</td>
                        <td class="num">{kwh(p.expected_kwh)}</td>
                        <td class="num">{fmt_count(p.settled)} " / " {fmt_count(p.enrollments)}</td>
                        <td class="num">{kwh(p.kwh_avoided)}</td>
                        <td class="num">{fmt_kw(p.kw_drop_avg)}</td>
                        <td class="num">{money(p.credit)}</td>
                        <td class="num">{money(p.posted_credit)}</td>
                        <td class="num">{money(p.provisional_credit)}</td>
                    </tr>
                }
            })
            .collect_view();
        let runs = r.runs.iter().map(|x| view! {
            <tr>
                <td>{x.id}</td><td>{x.program_code.clone()}</td><td>{x.kind.clone()}</td>
                <td>{x.run_by.clone()}</td><td>{fmt_time(&x.run_at)}</td>
                <td class="num">{x.enrollments}</td><td class="num">{x.settled}</td><td class="num">{x.changed}</td>
                <td class="num">{kwh(x.kwh_avoided)}</td><td class="num">{money(x.credit)}</td>
            </tr>
        }).collect_view();
        let baseline_days = r
            .baseline_days
            .iter()
            .map(|d| {
                let class = if d.used { "used" } else { "skipped" };
                view! {
                    <tr class=class data-date=d.date.to_string()>
                        <td>{d.date.format("%a %Y-%m-%d").to_string()}</td>
                        <td>{if d.used { "used" } else { "skipped" }}</td>
                        <td>{d.reason.clone()}</td>
                    </tr>
                }
            })
            .collect_view();
        let no_runs = r.runs.is_empty().then(|| view! { <p class="empty" id="not-settled">"This event has not been settled yet: no measured results."</p> });
        let chart = r.chart_svg.clone().map(|svg| {
            view! {
                <div class="chart-with-table">
                    <figure class="chart" id="report-chart" inner_html=svg></figure>
                    {report_chart_table(&r.chart_rows)}
                </div>
            }
        });
        let target = r
            .target_mw
            .map(|t| format!(" ({})", fmt_kw(t * 1000.0)))
            .unwrap_or_default();
        view! {
            <article class="report" id="event-report">
                <h1>{format!("Event report {} — {}", r.code, r.name)} " " {status_badge(&r.status)}</h1>
                <p class="report-tools" id="report-audit-link">{super::enrollment::audit_link("event", &r.code)}</p>
                {print_bar(format!("/reports/events/{}.csv", r.id))}
                <section class="card">
                    <dl>
                        <dt>"Window (local)"</dt><dd>{fmt_time(&r.starts_at)} " – " {fmt_time(&r.ends_at)}</dd>
                        <dt>"Type"</dt><dd>{r.event_type.clone()}</dd>
                        <dt>"Objective"</dt><dd>{format!("{}{target}", r.objective)}</dd>
                        <dt>"Strategy"</dt><dd>{r.strategy.clone()}</dd>
                        <dt>"Zone"</dt><dd>{r.zone.join(", ")}</dd>
                        <dt>"Programs"</dt><dd>{r.programs.join(", ")}</dd>
                        <dt>"Control"</dt><dd>{r.control_level.clone()}</dd>
                        {r.second_approval_required.then(|| view! { <dt>"Approvals"</dt><dd>"two approvals required"</dd> })}
                        {people}
                    </dl>
                </section>
                <section class="report-totals">
                    <h2>"Expected versus measured"</h2>
                    <dl>
                        <dt>"Expected reduction"</dt><dd id="expected-reduction">{kwh(r.expected_kwh)} " (peak " {fmt_kw(r.expected_peak_kw)} ")"</dd>
                        <dt>"Measured reduction"</dt><dd id="measured-reduction">{kwh(r.measured_kwh_avoided)}</dd>
                        <dt>"Average kW drop"</dt><dd id="measured-kw-drop">{fmt_kw(r.measured_kw_drop_avg)}</dd>
                        <dt>"Credits"</dt><dd id="credits-total">{money(r.credit_total)}</dd>
                        <dt>"Posted"</dt><dd id="credits-posted">{money(r.credit_posted)}</dd>
                        <dt>"Provisional"</dt><dd id="credits-provisional">{money(r.credit_provisional)}</dd>
                    </dl>
                    {no_runs}
                </section>
                {chart}
                <section>
                    <h2>"By program"</h2>
                    <table class="data" id="report-programs"><thead><tr>
                        <th>"Program"</th><th>"Settlement"</th><th class="num">"Expected"</th><th class="num">"Measured enrollments"</th>
                        <th class="num">"kWh avoided"</th><th class="num">"Avg kW drop"</th><th class="num">"Credit"</th><th class="num">"Posted"</th><th class="num">"Provisional"</th>
                    </tr></thead><tbody>{programs}</tbody></table>
                </section>
                <section>
                    <h2>"Stages and device outcomes"</h2>
                    <table class="data" id="report-stages"><thead><tr>
                        <th>"Stage"</th><th>"Time (local)"</th><th>"Status"</th><th class="num">"Expected kW"</th><th class="num">"Expected kWh"</th>{heads}
                    </tr></thead><tbody>{stages}
                        <tr class="total" id="outcome-totals"><td colspan="5">"All stages"</td>{outcome_cells(&r.outcomes)}</tr>
                    </tbody></table>
                </section>
                <section>
                    <h2>"Settlement runs"</h2>
                    <table class="data" id="report-runs"><thead><tr>
                        <th>"Run"</th><th>"Program"</th><th>"Kind"</th><th>"By"</th><th>"At"</th><th class="num">"Enrollments"</th>
                        <th class="num">"Settled"</th><th class="num">"Changed"</th><th class="num">"kWh avoided"</th><th class="num">"Credit"</th>
                    </tr></thead><tbody>{runs}</tbody></table>
                </section>
                <section id="baseline">
                    <h2>"Baseline days"</h2>
                    <p class="lead">"The local days before the event a customer's baseline looks at, most recent first: weekends, the utility's holidays and the customer's other event days are skipped, and so is, per customer, a day without complete meter data. 10-in-10 averages the ten most recent days left; High 5 of 10 the five of them with the most energy."</p>
                    <table class="data" id="report-baseline-days"><thead><tr>
                        <th>"Day"</th><th>"Baseline"</th><th>"Why"</th>
                    </tr></thead><tbody>{baseline_days}</tbody></table>
                </section>
                <section id="lifecycle">
                    <h2>"Lifecycle and approvals"</h2>
                    {audit_rows(&r.lifecycle)}
                </section>
            </article>
        }
    })
}

/// The event report's chart as a table (its text alternative), like the event page's.
fn report_chart_table(rows: &[ReportChartRow]) -> impl IntoView {
    let rows = rows
        .iter()
        .map(|r| {
            view! {
                <tr>
                    <td>{fmt_time(&r.interval_start)}</td>
                    <td class="num">{kwh(r.baseline_kwh)}</td>
                    <td class="num">{kwh(r.measured_kwh)}</td>
                    <td class="num">{kwh(r.expected_kwh)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <details class="chart-table" id="report-chart-table">
            <summary>"The chart as a table"</summary>
            <div class="table-scroll">
                <table class="data" id="report-chart-rows"><thead><tr>
                    <th>"Quarter hour (local)"</th><th class="num">"Baseline"</th><th class="num">"Measured"</th><th class="num">"Baseline − expected reduction"</th>
                </tr></thead><tbody>{rows}</tbody></table>
            </div>
        </details>
    }
}

/// The season chart (kWh avoided per event) as a table.
fn season_chart_table(events: &[SeasonEvent]) -> impl IntoView {
    let rows = events
        .iter()
        .map(|e| {
            view! {
                <tr>
                    <td>{e.event_code.clone()}</td>
                    <td>{fmt_time(&e.starts_at)}</td>
                    <td class="num">{kwh(e.kwh_avoided)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <details class="chart-table" id="season-chart-table">
            <summary>"The chart as a table"</summary>
            <div class="table-scroll">
                <table class="data" id="season-chart-rows"><thead><tr>
                    <th>"Event"</th><th>"Starts (local)"</th><th class="num">"kWh avoided"</th>
                </tr></thead><tbody>{rows}</tbody></table>
            </div>
        </details>
    }
}

#[component]
pub fn SeasonReportPage() -> impl IntoView {
    view! { <Guard><SeasonReportView/></Guard> }
}

#[component]
fn SeasonReportView() -> impl IntoView {
    let params = use_params_map();
    let code = move || params.with(|p| p.get("code").unwrap_or_default());
    let data = Resource::new(code, load_season_report);
    show(data, |r: SeasonReport| {
        let cycles = r
            .cycles
            .iter()
            .map(|c| {
                let limit = |v: Option<i32>| v.map(|v| v.to_string()).unwrap_or_else(|| "—".into());
                let class = if c.over { "over" } else { "" };
                view! {
                    <tr class=class>
                        <td>{c.cycle_start.to_string()}</td>
                        <td class="num">{c.events} " / " {limit(c.max_events)}</td>
                        <td class="num">{c.minutes} " / " {limit(c.max_minutes)}</td>
                        <td>{if c.over { "over the limit" } else { "within" }}</td>
                    </tr>
                }
            })
            .collect_view();
        let events = r
            .events
            .iter()
            .map(|e| {
                let link = match e.event_id {
                    Some(id) => {
                        view! { <a href=format!("/reports/events/{id}")>{e.event_code.clone()}</a> }
                            .into_any()
                    }
                    None => view! { <span>{e.event_code.clone()}</span> }.into_any(),
                };
                view! {
                    <tr>
                        <td>{link}</td>
                        <td>{fmt_time(&e.starts_at)} " – " {fmt_clock(&e.ends_at)}</td>
                        <td>{e.status.clone()}</td>
                        <td class="num">{e.minutes}</td>
                        <td class="num">{fmt_count(e.reserved)}</td>
                        <td class="num">{fmt_count(e.participated)}</td>
                        <td class="num">{fmt_count(e.opted_out)}</td>
                        <td class="num">{format!("{:.1} %", e.participation_pct)}</td>
                        <td class="num">{kwh(e.kwh_avoided)}</td>
                        <td class="num">{money(e.credit)}</td>
                    </tr>
                }
            })
            .collect_view();
        let customers = r.customers.iter().map(|c| view! {
            <tr>
                <td>{c.account_id.clone()}</td>
                <td class="num">{c.events}</td><td class="num">{c.settled_events}</td>
                <td class="num">{kwh(c.kwh_avoided)}</td><td class="num">{money(c.credit)}</td><td class="num">{money(c.posted_credit)}</td>
            </tr>
        }).collect_view();
        let chart = r.chart_svg.clone().map(|svg| {
            view! {
                <div class="chart-with-table">
                    <figure class="chart" id="season-chart" inner_html=svg></figure>
                    {season_chart_table(&r.events)}
                </div>
            }
        });
        view! {
            <article class="report" id="season-report">
                <h1>{format!("Season report {} — {}", r.program_code, r.program_name)} " " {status_badge(&r.status)}</h1>
                <p class="report-tools" id="report-audit-link">{super::enrollment::audit_link("program", &r.program_code)}</p>
                {print_bar(format!("/reports/programs/{}.csv", r.program_code))}
                <section class="card">
                    <dl>
                        <dt>"Season"</dt><dd>{r.season_start.to_string()} " – " {r.season_end.to_string()}</dd>
                        <dt>"Settlement"</dt><dd>{format!("{}, {}, baseline {}", r.settlement_method, r.settlement_timing, r.baseline_method)}</dd>
                        <dt>"Enrolled"</dt><dd id="enrolled">{format!("{} active enrollments, {} devices", fmt_count(r.active_enrollments), fmt_count(r.enrolled_devices))}</dd>
                        <dt>"Events"</dt><dd id="season-events">{r.events.len()}</dd>
                        <dt>"kWh avoided"</dt><dd id="measured-reduction">{kwh(r.kwh_avoided)}</dd>
                        <dt>"Credits"</dt><dd id="credits-total">{money(r.credit_total)}</dd>
                        <dt>"Posted"</dt><dd id="credits-posted">{money(r.credit_posted)}</dd>
                        <dt>"Provisional"</dt><dd id="credits-provisional">{money(r.credit_provisional)}</dd>
                    </dl>
                </section>
                {chart}
                <section>
                    <h2>{format!("Use against the rules' limits ({} cycles)", r.cycle.clone().unwrap_or_else(|| "no rule".into()))}</h2>
                    <table class="data" id="season-cycles"><thead><tr>
                        <th>"Cycle from"</th><th class="num">"Events / limit"</th><th class="num">"Minutes / limit"</th><th>"Verdict"</th>
                    </tr></thead><tbody>{cycles}</tbody></table>
                </section>
                <section>
                    <h2>"Events and participation"</h2>
                    <table class="data" id="season-event-table"><thead><tr>
                        <th>"Event"</th><th>"Window (local)"</th><th>"Status"</th><th class="num">"Minutes"</th><th class="num">"Reserved"</th>
                        <th class="num">"Participated"</th><th class="num">"Opted out"</th><th class="num">"Participation"</th><th class="num">"kWh avoided"</th><th class="num">"Credit"</th>
                    </tr></thead><tbody>{events}</tbody></table>
                </section>
                <section>
                    <h2>"Credits per customer"</h2>
                    <table class="data" id="season-customers"><thead><tr>
                        <th>"Account"</th><th class="num">"Events"</th><th class="num">"Measured"</th><th class="num">"kWh avoided"</th><th class="num">"Credit"</th><th class="num">"Posted"</th>
                    </tr></thead><tbody>{customers}</tbody></table>
                </section>
            </article>
        }
    })
}
