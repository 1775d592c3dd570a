//! Strategies: the list, the form to create one, and a strategy's page to edit or archive it.

use leptos::prelude::*;

use super::{route_id, show};
use crate::components::*;
use crate::event_api::{
    list_strategies, load_strategy, load_strategy_options, ArchiveStrategy, SaveStrategy,
};
use crate::grid::*;

fn may_edit() -> bool {
    viewer_may(crate::access::Action::EditStrategies)
}

fn objective_text(s: &StrategyDto) -> String {
    let rebound = match s.max_increase_pct {
        Some(p) => format!("rebound ≤ {p}%"),
        None => "default rebound bound".into(),
    };
    let what = match (s.objective.as_str(), s.target_mw) {
        ("MaxDemandThreshold", Some(t)) => format!("keep load under {}", fmt_kw(t * 1000.0)),
        ("LoadReduction", Some(t)) => format!("shed {}", fmt_kw(t * 1000.0)),
        ("MaximumReduction", _) => "shed all the rules allow".into(),
        ("Manual", _) => "manual stages".into(),
        (o, _) => o.to_string(),
    };
    format!("{what}, {rebound}")
}

#[component]
pub fn StrategyListPage() -> impl IntoView {
    view! { <Guard><StrategyList/></Guard> }
}

#[component]
fn StrategyList() -> impl IntoView {
    let data = Resource::new(
        || (),
        |_| async move {
            let active = list_strategies(false).await?;
            let archived = list_strategies(true).await?;
            let options = load_strategy_options().await?;
            Ok::<_, crate::AppError>((active, archived, options))
        },
    );
    view! {
        <h1>"Strategies"</h1>
        {show(data, |(active, archived, options): (Vec<StrategyDto>, Vec<StrategyDto>, StrategyOptions)| {
            let open = active.is_empty() || refused_strategy(None).is_some();
            let form = may_edit().then(|| view! {
                <details class="card" open=open>
                    <summary>"New strategy"</summary>
                    {strategy_form(None, StrategyInput { event_type: "Economic".into(), objective: "MaxDemandThreshold".into(), control_level: "full".into(), ..Default::default() }, &options)}
                </details>
            });
            view! {
                {form}
                {strategy_table(&active, "strategies")}
                {(!archived.is_empty()).then(|| view! {
                    <h2>"Archived"</h2>
                    {strategy_table(&archived, "archived-strategies")}
                })}
            }
        })}
    }
}

fn strategy_table(rows: &[StrategyDto], id: &'static str) -> impl IntoView {
    let rows = rows
        .iter()
        .map(|s| {
            view! {
                <tr>
                    <td><a href=format!("/strategies/{}", s.id)>{s.name.clone()}</a></td>
                    <td>{s.zone.join(", ")}</td>
                    <td>{s.programs.join(", ")}</td>
                    <td>{format!("{} (priority {})", s.event_type, s.priority)}</td>
                    <td>{objective_text(s)}</td>
                    <td>{s.control_level.clone()}</td>
                    <td>{if s.override_rules { "yes" } else { "no" }}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="data" id=id><thead><tr>
            <th>"Name"</th><th>"Zone"</th><th>"Programs"</th><th>"Event type"</th><th>"Objective"</th>
            <th>"Control"</th><th>"Overrides rules"</th>
        </tr></thead><tbody>{rows}</tbody></table>
    }
}

/// The create / edit form; every field is a plain input so it works without JavaScript.
/// The strategy form the server just refused, if it was this one (the same strategy, or
/// none for a new one): the form shows what was typed.
fn refused_strategy(id: Option<i64>) -> Option<StrategyInput> {
    let k = kept_form::<SaveStrategy>()?;
    if k.get("id").and_then(|v| v.parse::<i64>().ok()) != id {
        return None;
    }
    let opt = |name: &str| k.get(&format!("strategy[{name}]")).map(str::to_string);
    let text = |name: &str| opt(name).unwrap_or_default();
    Some(StrategyInput {
        name: text("name"),
        description: text("description"),
        zone: text("zone"),
        programs: text("programs"),
        device_types: text("device_types"),
        feeders: text("feeders"),
        event_type: text("event_type"),
        ba_check: opt("ba_check"),
        objective: text("objective"),
        target_mw: text("target_mw"),
        max_increase_pct: text("max_increase_pct"),
        control_level: text("control_level"),
        override_rules: opt("override_rules"),
    })
}

fn strategy_form(id: Option<i64>, v: StrategyInput, o: &StrategyOptions) -> impl IntoView {
    let action = ServerAction::<SaveStrategy>::new();
    let refused = refused_strategy(id);
    let kept = refused.is_some();
    let v = refused.unwrap_or(v);
    let select = |name: &'static str, current: String, choices: Vec<String>| {
        let opts = choices
            .into_iter()
            .map(|c| {
                let selected = c == current;
                view! { <option value=c.clone() selected=selected>{c.clone()}</option> }
            })
            .collect_view();
        view! { <select name=name>{opts}</select> }
    };
    let (event_types, objectives, levels) = (
        o.event_types.clone(),
        o.objectives.clone(),
        o.control_levels.clone(),
    );
    let programs_label = format!("Programs (of {})", o.programs.join(", "));
    let types_label = format!("Device types (empty: all of {})", o.device_types.join(", "));
    let nodes = o
        .nodes
        .iter()
        .map(|(code, name, kind)| view! { <option value=code.clone()>{format!("{name} ({kind})")}</option> })
        .collect_view();
    view! {
        <ActionForm action=action attr:class="stack" attr:id="strategy-form">
            {kept_note(kept)}
            <CsrfField/>
            {id.map(|id| view! { <input type="hidden" name="id" value=id/> })}
            <datalist id="node-codes">{nodes}</datalist>
            <label>"Name" <input name="strategy[name]" required value=v.name.clone()/></label>
            <label>"Description" <input name="strategy[description]" value=v.description.clone()/></label>
            <label>"Control zone (node codes, comma separated)"
                <input name="strategy[zone]" list="node-codes" required value=v.zone.clone() placeholder="SUB-01, FDR-02-1"/></label>
            <label>{programs_label}
                <input name="strategy[programs]" required value=v.programs.clone()/></label>
            <label>{types_label}
                <input name="strategy[device_types]" value=v.device_types.clone()/></label>
            <label>"Feeders (codes; empty: the whole zone)" <input name="strategy[feeders]" list="node-codes" value=v.feeders.clone()/></label>
            <label>"Event type" {select("strategy[event_type]", v.event_type.clone(), event_types)}</label>
            <label class="check"><input type="checkbox" name="strategy[ba_check]" checked=v.ba_check.is_some()/> "Balancing-authority check applies"</label>
            <label>"Objective" {select("strategy[objective]", v.objective.clone(), objectives)}</label>
            <label>"Target MW (ceiling or reduction)" <input name="strategy[target_mw]" inputmode="decimal" value=v.target_mw.clone()/></label>
            <label>{format!("Max increase % (rebound bound, every objective; empty: the default, {DEFAULT_MAX_INCREASE_PCT}%)")} <input name="strategy[max_increase_pct]" inputmode="decimal" value=v.max_increase_pct.clone()/></label>
            <label>"Control level" {select("strategy[control_level]", v.control_level.clone(), levels)}</label>
            <label class="check"><input type="checkbox" name="strategy[override_rules]" checked=v.override_rules.is_some()/> "Override overridable program rules"</label>
            <button type="submit">{if id.is_some() { "Save changes" } else { "Create strategy" }}</button>
        </ActionForm>
    }
}

#[component]
pub fn StrategyDetailPage() -> impl IntoView {
    view! { <Guard><StrategyDetail/></Guard> }
}

#[component]
fn StrategyDetail() -> impl IntoView {
    let id = route_id("strategy");
    let data = Resource::new(id, |id| async move {
        let id = id?;
        Ok::<_, crate::AppError>((load_strategy(id).await?, load_strategy_options().await?))
    });
    show(data, |(s, options): (StrategyDto, StrategyOptions)| {
        let archive = ServerAction::<ArchiveStrategy>::new();
        let editable = may_edit() && !s.archived;
        view! {
            <h1>{s.name.clone()} {s.archived.then_some(" (archived)")}</h1>
            <section class="card">
                <dl>
                    <dt>"Zone"</dt><dd>{s.zone.join(", ")}</dd>
                    <dt>"Programs"</dt><dd>{s.programs.join(", ")}</dd>
                    <dt>"Device groups"</dt><dd>{format!("types: {}; feeders: {}",
                        if s.device_types.is_empty() { "all".into() } else { s.device_types.join(", ") },
                        if s.feeders.is_empty() { "whole zone".into() } else { s.feeders.join(", ") })}</dd>
                    <dt>"Event type"</dt><dd>{format!("{} (priority {}){}", s.event_type, s.priority, if s.ba_check { ", balancing-authority check" } else { "" })}</dd>
                    <dt>"Objective"</dt><dd>{objective_text(&s)}</dd>
                    <dt>"Control level"</dt><dd>{s.control_level.clone()}</dd>
                    <dt>"Overrides rules"</dt><dd>{if s.override_rules { "yes" } else { "no" }}</dd>
                </dl>
                <p><a href=format!("/events?strategy={}", s.id) class="button">"Create an event from this strategy"</a></p>
            </section>
            {editable.then(|| view! {
                <details class="card"><summary>"Edit"</summary>{strategy_form(Some(s.id), s.to_input(), &options)}</details>
                <ActionForm action=archive attr:class="inline" attr:id="archive-strategy">
                    <CsrfField/>
                    <input type="hidden" name="id" value=s.id/>
                    <button type="submit" class="secondary">"Archive"</button>
                </ActionForm>
            })}
        }
    })
}
