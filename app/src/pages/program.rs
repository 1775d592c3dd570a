//! Program list and program detail with its effective-dated rules.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{pager, route_id, show, WholeList};
use crate::api::{get_program, list_programs, ChangeProgramStatus, RunScores, SaveRule};
use crate::components::*;
use crate::model::*;

#[component]
pub fn ProgramListPage() -> impl IntoView {
    view! { <Guard><ProgramList/></Guard> }
}

#[component]
fn ProgramList() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(
        move || query.with(|q| q.get("after")),
        |after| async move {
            let list = WholeList::new("/programs".into(), after.as_deref())?;
            Ok::<_, crate::AppError>((list_programs().await?, list))
        },
    );
    let run = viewer_may(crate::access::Action::RunScores).then(|| {
        let action = ServerAction::<RunScores>::new();
        view! {
            <ActionForm action=action attr:id="run-scores" attr:class="inline">
                <CsrfField/>
                <button type="submit" class="secondary">"Run the control-score calculation now"</button>
            </ActionForm>
        }
    });
    view! {
        <h1>"Programs"</h1>
        {run}
        {show(data, |(programs, list): (Vec<ProgramSummary>, WholeList)| {
            let (programs, pages) = match list.page(programs) {
                Ok(page) => page,
                Err(e) => return view! { <ErrorPanel err=e/> }.into_any(),
            };
            let pages = pager(pages);
            let rows = programs.into_iter().map(|p| view! {
                <tr>
                    <td><a href=format!("/programs/{}", p.id)>{p.code.clone()}</a></td>
                    <td>{p.name}</td>
                    <td>{p.category}</td>
                    <td>{p.device_type}</td>
                    <td>{status_badge(&p.status)}</td>
                    <td>{format!("{} – {}", p.season_start, p.season_end)}</td>
                    <td class="num"><a href=format!("/enrollments?program={}&status=PENDING", p.id)>{fmt_count(p.pending)}</a></td>
                    <td class="num"><a href=format!("/enrollments?program={}&status=ACTIVE", p.id)>{fmt_count(p.active)}</a></td>
                    <td class="num">{fmt_count(p.inactive)}</td>
                </tr>
            }).collect_view();
            view! {
                <table class="data" id="programs"><thead><tr>
                    <th>"Code"</th><th>"Name"</th><th>"Category"</th><th>"Devices"</th><th>"Status"</th><th>"Season"</th>
                    <th class="num">"Pending"</th><th class="num">"Active"</th><th class="num">"Inactive"</th>
                </tr></thead><tbody>{rows}</tbody></table>
                {pages}
            }
            .into_any()
        })}
    }
}

#[component]
pub fn ProgramDetailPage() -> impl IntoView {
    view! { <Guard><ProgramDetailView/></Guard> }
}

fn hhmm(minute: i32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

#[component]
fn ProgramDetailView() -> impl IntoView {
    let id = route_id("program");
    let data = Resource::new(id, |id| async move { get_program(id?).await });
    show(data, |p: ProgramDetail| {
        let s = p.summary.clone();
        let rules = p.rules.iter().map(|r| view! {
            <tr class=if r.current { "current" } else { "" }>
                <td>{r.effective_from.to_string()} {r.current.then_some(" (in force)")}</td>
                <td>{format!("{}{}", r.cycle, if r.cycle == "weekly" { format!(", starts day {}", r.week_start) } else { String::new() })}</td>
                <td class="num">{r.max_events_per_cycle}</td>
                <td class="num">{format!("{} min", r.max_minutes_per_cycle)}</td>
                <td class="num">{format!("{} min", r.min_gap_minutes)}</td>
                <td>{format!("{}–{} min", r.min_event_minutes, r.max_event_minutes)}</td>
                <td class="num">{r.max_overrides}</td>
                <td>{format!("{}–{}", hhmm(r.window_start_minute), hhmm(r.window_end_minute))}</td>
                <td>{format!("{:.2} / {:.2} / {:.2}", r.activation_cost, r.burn_rate_factor, r.score_factor)}</td>
                <td>{if r.overridable { "yes" } else { "no" }}</td>
            </tr>
        }).collect_view();
        let aggregators = if p.aggregators.is_empty() {
            "none".to_string()
        } else {
            p.aggregators.join(", ")
        };
        view! {
            <h1>{format!("{} — {}", s.code, s.name)} " " {status_badge(&s.status)}</h1>
            <section class="card">
                <dl>
                    <dt>"Category"</dt><dd>{s.category.clone()}</dd>
                    <dt>"Devices"</dt><dd>{s.device_type.clone()}</dd>
                    <dt>"Season"</dt><dd>{format!("{} – {}", s.season_start, s.season_end)}</dd>
                    <dt>"Settlement"</dt><dd>{format!("{} ({}), baseline {}, rate {}", p.settlement_method, p.settlement_timing, p.baseline_method, crate::format::rate(p.credit_rate, if p.settlement_method == "consumption" { "kWh" } else { "kW" }))}</dd>
                    <dt>"Opt-out"</dt><dd>{if p.opt_out_allowed { format!("allowed until {} min before an event", p.opt_out_cutoff_minutes) } else { "not allowed".into() }}</dd>
                    <dt>"Unavailability"</dt><dd>{if p.unavailability_allowed { "customers may declare it" } else { "not allowed" }}</dd>
                    <dt>"Aggregators"</dt><dd>{aggregators}</dd>
                    <dt>"Enrollments"</dt><dd>
                        <a href=format!("/enrollments?program={}", s.id)>{format!("{} pending, {} active, {} inactive", fmt_count(s.pending), fmt_count(s.active), fmt_count(s.inactive))}</a>
                    </dd>
                </dl>
            </section>
            {status_form(&s)}
            {rule_form(&p)}
            <section>
                <h2>"Rules"</h2>
                <table class="data" id="rules"><thead><tr>
                    <th>"Effective from"</th><th>"Cycle"</th><th class="num">"Events / cycle"</th><th class="num">"Time / cycle"</th>
                    <th class="num">"Min gap"</th><th>"Event length"</th><th class="num">"Overrides"</th><th>"Window"</th>
                    <th>"Activation / burn / score"</th><th>"Overridable"</th>
                </tr></thead><tbody>{rules}</tbody></table>
            </section>
        }
    })
}

/// A program's status, for program managers: a draft or suspended program is made active
/// at once; suspending or closing one (it leaves the grid side) is confirmed first.
fn status_form(s: &ProgramSummary) -> impl IntoView {
    let id = s.id;
    let status = s.status.clone();
    viewer_may(crate::access::Action::ChangeProgramStatus).then(move || {
        let activate = matches!(status.as_str(), "draft" | "suspended").then(|| {
            let action = ServerAction::<ChangeProgramStatus>::new();
            view! {
                <ActionForm action=action attr:class="inline" attr:id="program-activate">
                    <CsrfField/>
                    <input type="hidden" name="program_id" value=id/>
                    <input type="hidden" name="status" value="active"/>
                    <button type="submit">"Make active"</button>
                    " It takes enrollments and its rules go to the grid side."
                </ActionForm>
            }
        });
        let stop = |kind: &'static str, label: &'static str, button: &'static str| {
            let ask = ServerAction::<crate::confirm::AskConfirmation>::new();
            let reason = crate::confirm::refused_reason(kind, &id.to_string());
            view! {
                <ActionForm action=ask attr:class="inline" attr:id=format!("program-{}", kind.trim_end_matches("_program"))>
                    <CsrfField/>
                    <input type="hidden" name="kind" value=kind/>
                    <input type="hidden" name="target" value=id/>
                    <label>{label} <input name="reason" required maxlength="500" placeholder="Why (kept in the audit trail)" value=reason/></label>
                    <button type="submit" class="danger">{button}</button>
                </ActionForm>
            }
        };
        let suspend = (status == "active")
            .then(|| stop("suspend_program", "Reason for suspending ", "Suspend…"));
        let close = (status != "closed")
            .then(|| stop("close_program", "Reason for closing ", "Close…"));
        let stopping = (suspend.is_some() || close.is_some()).then(|| {
            view! {
                <section class="danger-zone" aria-labelledby="program-status-heading">
                    <h2 id="program-status-heading">"Suspend or close"</h2>
                    {suspend}
                    {close}
                </section>
            }
        });
        view! { <div id="program-status">{activate}{stopping}</div> }
    })
}

/// The rule editor for program managers, filled with the rule in force.
fn rule_form(p: &ProgramDetail) -> impl IntoView {
    let may_edit = viewer_may(crate::access::Action::EditRules);
    let current = p
        .rules
        .iter()
        .find(|r| r.current)
        .or(p.rules.first())
        .cloned();
    let program_id = p.summary.id;
    may_edit.then(move || {
        let action = ServerAction::<SaveRule>::new();
        let r = current;
        // A refused rule comes back as it was typed.
        let refused = kept_form::<SaveRule>()
            .filter(|k| k.get("program_id") == Some(program_id.to_string().as_str()));
        let monthly = match &refused {
            Some(k) => k.get("rule[cycle]") != Some("weekly"),
            None => r.as_ref().is_none_or(|r| r.cycle == "monthly"),
        };
        let overridable = match &refused {
            Some(k) => k.get("rule[overridable]").is_some(),
            None => r.as_ref().is_some_and(|r| r.overridable),
        };
        let open = refused.is_some();
        let effective_from = refused
            .as_ref()
            .and_then(|k| k.get("rule[effective_from]"))
            .unwrap_or_default()
            .to_string();
        let val = move |name: &str, f: fn(&ProgramRuleDto) -> String| match &refused {
            Some(k) => k.get(name).unwrap_or_default().to_string(),
            None => r.as_ref().map(f).unwrap_or_default(),
        };
        view! {
            <details class="card" open=open>
                <summary>"Add or change a rule"</summary>
                <ActionForm action=action attr:class="filters" attr:id="rule-form">
                    {kept_note(open)}
                    <CsrfField/>
                    <input type="hidden" name="program_id" value=program_id/>
                    <label>"Effective from" <input type="date" name="rule[effective_from]" required value=effective_from/></label>
                    <label>"Cycle" <select name="rule[cycle]">
                        <option value="monthly" selected=monthly>"monthly"</option>
                        <option value="weekly" selected=!monthly>"weekly"</option>
                    </select></label>
                    <label>"Week starts (0 = Monday)" <input name="rule[week_start]" value=val("rule[week_start]", |r| r.week_start.to_string()) size="2"/></label>
                    <label>"Events / cycle" <input name="rule[max_events_per_cycle]" value=val("rule[max_events_per_cycle]", |r| r.max_events_per_cycle.to_string()) size="4"/></label>
                    <label>"Minutes / cycle" <input name="rule[max_minutes_per_cycle]" value=val("rule[max_minutes_per_cycle]", |r| r.max_minutes_per_cycle.to_string()) size="5"/></label>
                    <label>"Minimum gap (min)" <input name="rule[min_gap_minutes]" value=val("rule[min_gap_minutes]", |r| r.min_gap_minutes.to_string()) size="5"/></label>
                    <label>"Shortest event (min)" <input name="rule[min_event_minutes]" value=val("rule[min_event_minutes]", |r| r.min_event_minutes.to_string()) size="4"/></label>
                    <label>"Longest event (min)" <input name="rule[max_event_minutes]" value=val("rule[max_event_minutes]", |r| r.max_event_minutes.to_string()) size="4"/></label>
                    <label>"Overrides" <input name="rule[max_overrides]" value=val("rule[max_overrides]", |r| r.max_overrides.to_string()) size="3"/></label>
                    <label>"Window from" <input name="rule[window_start]" value=val("rule[window_start]", |r| hhmm(r.window_start_minute)) size="5"/></label>
                    <label>"Window until" <input name="rule[window_end]" value=val("rule[window_end]", |r| hhmm(r.window_end_minute)) size="5"/></label>
                    <label>"Activation cost" <input name="rule[activation_cost]" value=val("rule[activation_cost]", |r| r.activation_cost.to_string()) size="5"/></label>
                    <label>"Burn-rate factor" <input name="rule[burn_rate_factor]" value=val("rule[burn_rate_factor]", |r| r.burn_rate_factor.to_string()) size="5"/></label>
                    <label>"Score factor" <input name="rule[score_factor]" value=val("rule[score_factor]", |r| r.score_factor.to_string()) size="5"/></label>
                    <label>"Overridable" <input type="checkbox" name="rule[overridable]" value="on" checked=overridable/></label>
                    <button type="submit">"Save rule"</button>
                </ActionForm>
            </details>
        }
    })
}
