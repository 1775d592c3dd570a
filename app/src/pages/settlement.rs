//! Settlement pages for program managers (and auditors, read only): completed events and
//! their settlement, results per enrollment, each program's season and the billing export.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::{pairs, query_with, show};
use crate::components::*;
use crate::error::AppError;
use crate::settlement::*;

use crate::format::{kwh, money, rate, share};

/// The `:code` of the route (event or program code), or a 404.
fn route_code(what: &'static str) -> impl Fn() -> Result<String, AppError> + Send + Sync {
    let params = use_params_map();
    move || {
        params
            .get()
            .get("code")
            .filter(|c| {
                !c.is_empty()
                    && c.len() <= 64
                    && c.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            })
            .ok_or_else(|| AppError::NotFound(what.to_string()))
    }
}

fn offset_of(p: Vec<(String, String)>) -> Result<i64, AppError> {
    let mut offset = 0;
    for (k, v) in pairs(&p) {
        if k == "offset" && !v.is_empty() {
            offset = v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                AppError::BadRequest(format!("offset: expected a number of rows, got `{v}`"))
            })?;
        }
    }
    Ok(offset)
}

fn pager(base: String, offset: i64, shown: usize, total: i64) -> impl IntoView {
    let prev = (offset > 0).then(|| {
        let to = (offset - PAGE_ROWS).max(0);
        view! { <a rel="prev" href=format!("{base}?offset={to}")>"« Previous"</a> }
    });
    let next = (offset + (shown as i64) < total).then(|| {
        view! { <a rel="next" href=format!("{base}?offset={}", offset + PAGE_ROWS)>"Next »"</a> }
    });
    view! {
        <nav class="pager">
            {prev}
            <span>{format!(" rows {}–{} of {} ", (offset + 1).min(total), offset + shown as i64, fmt_count(total))}</span>
            {next}
        </nav>
    }
}

fn settle_event_form(code: String, settled: bool) -> impl IntoView {
    let id = format!("settle-{code}");
    if settled {
        // Settling again replaces results (and may change exported credits): confirmed first.
        let ask = ServerAction::<crate::confirm::AskConfirmation>::new();
        view! {
            <ActionForm action=ask attr:class="inline" attr:id=id>
                <CsrfField/>
                <input type="hidden" name="kind" value="settle_again"/>
                <input type="hidden" name="target" value=code/>
                <button type="submit" class="danger">"Settle again (recalculate)…"</button>
            </ActionForm>
        }
        .into_any()
    } else {
        let action = ServerAction::<RunEventSettlement>::new();
        view! {
            <ActionForm action=action attr:class="inline" attr:id=id>
                <CsrfField/>
                <input type="hidden" name="code" value=code/>
                <button type="submit">"Settle"</button>
            </ActionForm>
        }
        .into_any()
    }
}

#[component]
pub fn SettlementPage() -> impl IntoView {
    view! { <Guard><SettlementView_/></Guard> }
}

#[allow(non_snake_case)]
#[component]
fn SettlementView_() -> impl IntoView {
    let data = Resource::new(|| (), |_| async move { load_settlement_overview().await });
    view! {
        <h1>"Settlement"</h1>
        <p class="lead">"What each customer delivered in each completed event, measured against their baseline, and the credits they earn."</p>
        {show(data, |o: SettlementOverview| {
            let can = o.can_settle;
            let events = o.events.iter().map(|e| {
                let form = can.then(|| settle_event_form(e.event_code.clone(), e.settled_at.is_some()));
                view! {
                    <tr>
                        <td><a href=format!("/settlements/events/{}", e.event_code)>{e.event_code.clone()}</a></td>
                        <td>{fmt_time(&e.starts_at)}</td>
                        <td>{e.programs.join(", ")}</td>
                        <td>{e.settled_at.map(|t| fmt_time(&t)).unwrap_or_else(|| "not settled".into())}</td>
                        <td class="num">{format!("{} / {}", fmt_count(e.settled), fmt_count(e.enrollments))}</td>
                        <td class="num">{kwh(e.kwh_avoided)}</td>
                        <td class="num">{money(e.credit)}</td>
                        <td class="num">{money(e.provisional_credit)}</td>
                        <td>{form}</td>
                    </tr>
                }
            }).collect_view();
            let programs = o.programs.iter().map(|p| view! {
                <tr>
                    <td><a href=format!("/settlements/programs/{}", p.code)>{p.code.clone()}</a></td>
                    <td>{p.name.clone()}</td>
                    <td>{format!("{} ({}), {}", p.settlement_method, if p.settlement_method == "consumption" { format!("{} default", rate(p.credit_rate, "kWh")) } else { rate(p.credit_rate, "kW") }, p.baseline_method)}</td>
                    <td>{p.settlement_timing.replace('_', " ")}</td>
                    <td>{format!("{} – {}", p.season_start, p.season_end)}</td>
                    <td class="num">{fmt_count(p.customers)}</td>
                    <td class="num">{money(p.credit)}</td>
                    <td class="num">{money(p.posted_credit)}</td>
                </tr>
            }).collect_view();
            view! {
                <section>
                    <h2>"Completed events"</h2>
                    <table class="data" id="settlement-events"><thead><tr>
                        <th>"Event"</th><th>"Starts"</th><th>"Programs"</th><th>"Settled"</th>
                        <th class="num">"Settled / enrollments"</th><th class="num">"kWh avoided"</th>
                        <th class="num">"Credit"</th><th class="num">"Of which provisional"</th><th></th>
                    </tr></thead><tbody>{events}</tbody></table>
                </section>
                <section>
                    <h2>"Programs and seasons"</h2>
                    <table class="data" id="settlement-programs"><thead><tr>
                        <th>"Program"</th><th>"Name"</th><th>"Method"</th><th>"Timing"</th><th>"Season"</th>
                        <th class="num">"Customers credited"</th><th class="num">"Credit"</th><th class="num">"Posted"</th>
                    </tr></thead><tbody>{programs}</tbody></table>
                </section>
            }
        })}
    }
}

#[component]
pub fn SettlementEventPage() -> impl IntoView {
    view! { <Guard><SettlementEventView_/></Guard> }
}

#[allow(non_snake_case)]
#[component]
fn SettlementEventView_() -> impl IntoView {
    let code = route_code("event");
    let offset = query_with(offset_of);
    let data = Resource::new(
        move || (code(), offset()),
        |(c, o)| async move { load_event_settlement(c?, o?).await },
    );
    view! {
        {show(data, |d: SettlementEventDetail| {
            let e = d.event.clone();
            let form = d.can_settle.then(|| settle_event_form(e.event_code.clone(), e.settled_at.is_some()));
            let runs = d.runs.iter().map(|r| view! {
                <tr>
                    <td>{format!("#{}", r.id)}</td><td>{r.program_code.clone()}</td><td>{r.kind.clone()}</td>
                    <td>{r.run_by.clone()}</td><td>{fmt_time(&r.run_at)}</td>
                    <td class="num">{format!("{} / {}", r.settled, r.enrollments)}</td>
                    <td class="num">{r.changed}</td>
                    <td class="num">{kwh(r.kwh_avoided)}</td><td class="num">{money(r.credit)}</td>
                </tr>
            }).collect_view();
            let rows = d.results.iter().map(|r| view! {
                <tr class=format!("status-{}", r.status)>
                    <td>{r.program_code.clone()}</td>
                    <td>{r.account_id.clone()}</td>
                    <td>{r.service_point_id.clone()}</td>
                    <td>{r.status.replace('_', " ")}{r.reason.clone().map(|why| view! { <br/><small>{why}</small> })}</td>
                    <td class="num">{kwh(r.baseline_kwh)}</td>
                    <td class="num">{kwh(r.actual_kwh)}</td>
                    <td class="num meter-share">{share(r.meter_share)}</td>
                    <td class="num">{kwh(r.kwh_avoided)}</td>
                    <td class="num">{format!("{} / {} / {}", fmt_kw(r.kw_drop_max), fmt_kw(r.kw_drop_min), fmt_kw(r.kw_drop_avg))}</td>
                    <td class="num">{money(r.credit)}</td>
                    <td>{if r.posted { "posted" } else { "provisional" }}</td>
                    <td class="num">{r.version}</td>
                </tr>
            }).collect_view();
            let base = format!("/settlements/events/{}", e.event_code);
            view! {
                <h1>{format!("Settlement of {}", e.event_code)}</h1>
                <p class="lead">{format!("{} – {} · programs {}", fmt_time(&e.starts_at), fmt_time(&e.ends_at), e.programs.join(", "))}</p>
                <dl class="facts" id="settlement-totals">
                    <dt>"Settled"</dt><dd>{format!("{} of {} enrollments", fmt_count(e.settled), fmt_count(e.enrollments))}</dd>
                    <dt>"kWh avoided"</dt><dd id="settlement-kwh">{kwh(e.kwh_avoided)}</dd>
                    <dt>"Credit"</dt><dd id="settlement-credit">{money(e.credit)}</dd>
                    <dt>"Of which provisional"</dt><dd>{money(e.provisional_credit)}</dd>
                </dl>
                {form}
                <section>
                    <h2>"Runs"</h2>
                    <table class="data" id="settlement-runs"><thead><tr>
                        <th>"Run"</th><th>"Program"</th><th>"Kind"</th><th>"By"</th><th>"At"</th>
                        <th class="num">"Settled"</th><th class="num">"New or changed"</th>
                        <th class="num">"kWh avoided"</th><th class="num">"Credit"</th>
                    </tr></thead><tbody>{runs}</tbody></table>
                </section>
                <section>
                    <h2>"Results per enrollment"</h2>
                    <table class="data" id="settlement-results"><thead><tr>
                        <th>"Program"</th><th>"Account"</th><th>"Service point"</th><th>"Status"</th>
                        <th class="num">"Meter baseline kWh"</th><th class="num">"Meter actual kWh"</th>
                        <th class="num" title="The enrollment's share of its meter's savings: 100% alone at the meter, 0% if it did not take part">"Meter share"</th>
                        <th class="num">"kWh avoided"</th>
                        <th class="num">"kW drop max / min / avg"</th><th class="num">"Credit"</th><th>"Posted"</th><th class="num">"Version"</th>
                    </tr></thead><tbody>{rows}</tbody></table>
                    {pager(base, d.offset, d.results.len(), d.total)}
                </section>
            }
        })}
    }
}

#[component]
pub fn SeasonPage() -> impl IntoView {
    view! { <Guard><SeasonView_/></Guard> }
}

#[allow(non_snake_case)]
#[component]
fn SeasonView_() -> impl IntoView {
    let code = route_code("program");
    let offset = query_with(offset_of);
    let data = Resource::new(
        move || (code(), offset()),
        |(c, o)| async move { load_season(c?, o?).await },
    );
    view! {
        {show(data, |s: SeasonDetail| {
            let p = s.program.clone();
            let program_code = p.code.clone();
            let form = (s.can_settle && s.season_over).then(move || {
                let action = ServerAction::<RunSeasonSettlement>::new();
                view! {
                    <ActionForm action=action attr:class="inline" attr:id="settle-season">
                        <CsrfField/>
                        <input type="hidden" name="code" value=program_code/>
                        <button type="submit">"Settle the season"</button>
                    </ActionForm>
                }
            });
            let note = (!s.season_over).then(|| view! {
                <p class="hint">{format!("The season runs until {}; credits of end-of-season programs stay provisional until it is settled after that day.", p.season_end)}</p>
            });
            let rows = s.customers.iter().map(|c| view! {
                <tr>
                    <td>{c.account_id.clone()}</td>
                    <td class="num">{c.events}</td>
                    <td class="num">{c.settled_events}</td>
                    <td class="num">{kwh(c.kwh_avoided)}</td>
                    <td class="num">{money(c.credit)}</td>
                    <td class="num">{money(c.posted_credit)}</td>
                </tr>
            }).collect_view();
            let runs = s.runs.iter().map(|r| view! {
                <tr>
                    <td>{format!("#{}", r.id)}</td><td>{r.kind.clone()}</td>
                    <td>{r.event_code.clone().unwrap_or_default()}</td>
                    <td>{r.run_by.clone()}</td><td>{fmt_time(&r.run_at)}</td>
                    <td class="num">{r.changed}</td><td class="num">{money(r.credit)}</td>
                </tr>
            }).collect_view();
            let base = format!("/settlements/programs/{}", p.code);
            view! {
                <h1>{format!("{} season {} – {}", p.code, p.season_start, p.season_end)}</h1>
                <p class="lead">{format!("{} · {} settlement, {}, baseline {}", p.name, p.settlement_method, p.settlement_timing.replace('_', " "), p.baseline_method)}</p>
                <dl class="facts" id="season-totals">
                    <dt>"Customers credited"</dt><dd>{fmt_count(p.customers)}</dd>
                    <dt>"Credit"</dt><dd id="season-credit">{money(p.credit)}</dd>
                    <dt>"Posted for billing"</dt><dd id="season-posted">{money(p.posted_credit)}</dd>
                </dl>
                {note}
                {form}
                <p><a href=format!("/settlements/programs/{}/billing.csv", p.code) download>"Billing export (CSV)"</a></p>
                <section>
                    <h2>"Customers"</h2>
                    <table class="data" id="season-customers"><thead><tr>
                        <th>"Account"</th><th class="num">"Events"</th><th class="num">"Measured"</th>
                        <th class="num">"kWh avoided"</th><th class="num">"Credit"</th><th class="num">"Posted"</th>
                    </tr></thead><tbody>{rows}</tbody></table>
                    {pager(base, s.offset, s.customers.len(), s.total)}
                </section>
                <section>
                    <h2>"Runs"</h2>
                    <table class="data" id="season-runs"><thead><tr>
                        <th>"Run"</th><th>"Kind"</th><th>"Event"</th><th>"By"</th><th>"At"</th>
                        <th class="num">"New or changed"</th><th class="num">"Credit"</th>
                    </tr></thead><tbody>{runs}</tbody></table>
                </section>
            }
        })}
    }
}
