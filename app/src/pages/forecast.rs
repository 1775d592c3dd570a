//! The forecast page (a zone's 48-hour baseline with its chart, the temperature upload and the
//! network roll-up) and the editable expected-reduction table.

use leptos::prelude::*;

use super::{pairs, query_with, show};
use crate::api::{forecast, reductions, DeleteReduction, SaveReduction, UploadWeather};
use crate::components::*;
use crate::model::*;
use crate::query::ForecastQuery;

#[component]
pub fn ForecastPage() -> impl IntoView {
    view! { <Guard><ForecastView_/></Guard> }
}

fn opt_kw(kw: Option<f64>) -> String {
    kw.map(fmt_kw).unwrap_or_else(|| "—".into())
}

fn picker(options: &[ZoneOption], transformers: &[ZoneOption]) -> impl IntoView {
    let boxes = |list: &[ZoneOption]| {
        list.iter()
            .map(|o| {
                let class = format!("zone-{}", o.kind);
                view! {
                    <label class=class>
                        <input type="checkbox" name="node" value=o.id checked=o.selected/>
                        " " {o.code.clone()}
                    </label>
                }
            })
            .collect_view()
    };
    let transformer_boxes = (!transformers.is_empty()).then(|| {
        view! {
            <details>
                <summary>"Transformers of the selected feeders"</summary>
                <div class="zone-list">{boxes(transformers)}</div>
            </details>
        }
    });
    view! {
        <form method="get" action="/forecast" id="zone-picker" class="card">
            <fieldset>
                <legend>"Zone: substations and feeders"</legend>
                <div class="zone-list">{boxes(options)}</div>
                {transformer_boxes}
            </fieldset>
            <button type="submit">"Show forecast"</button>
        </form>
    }
}

fn upload_form() -> impl IntoView {
    let action = ServerAction::<UploadWeather>::new();
    view! {
        <details class="card" id="weather-upload">
            <summary>"Upload a temperature forecast (CSV)"</summary>
            <p>"One line per hour: " <code>"timestamp,temperature_c"</code>
               " with RFC 3339 timestamps, e.g. " <code>"2026-07-01T15:00:00Z,34.5"</code>
               ". The upload replaces the forecast from its first to its last hour; a bad line rejects the whole upload. A paste holds up to about 60 KB (some 1,500 hours); larger files go to "
               <code>"PUT /api/v1/weather"</code>"."</p>
            <ActionForm action=action>
                <CsrfField/>
                <label>"CSV" <textarea name="csv" rows="8" cols="60" required></textarea></label>
                <button type="submit">"Upload"</button>
            </ActionForm>
        </details>
    }
}

fn rollup_table(rows: &[GridRollupRow], rollup_ms: u64) -> impl IntoView {
    let body = rows
        .iter()
        .map(|r| {
            let class = format!("rollup-{}", r.kind);
            view! {
                <tr class=class>
                    <td><a href=format!("/forecast?node={}", r.id)>{r.code.clone()}</a></td>
                    <td>{r.kind.clone()}</td>
                    <td class="num">{fmt_count(r.registered_devices)}</td>
                    <td class="num">{fmt_count(r.enrolled_devices)}</td>
                    <td class="num">{fmt_kw(r.enrolled_kw)}</td>
                    <td class="num">{opt_kw(r.forecast_peak_kw)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section>
            <h2>"Network roll-up"</h2>
            <p class="lead">{format!("Per node: the grid devices registered with the head-ends, the enrolled devices and load (the same figures as the network page: active devices of active enrollments and their nominal kW) and the forecast peak of the next 48 hours (computed in {rollup_ms} ms).")}</p>
            <table class="data" id="rollup"><thead><tr>
                <th>"Node"</th><th>"Kind"</th><th class="num">"Registered devices"</th><th class="num">"Enrolled devices"</th>
                <th class="num">"Enrolled load"</th><th class="num">"Forecast peak (48 h)"</th>
            </tr></thead><tbody>{body}</tbody></table>
        </section>
    }
}

#[allow(non_snake_case)]
#[component]
fn ForecastView_() -> impl IntoView {
    let query = query_with(|p| ForecastQuery::parse(pairs(&p)));
    let data = Resource::new(query, |q| async move { forecast(q?).await });
    view! {
        <h1>"Forecast"</h1>
        <p class="lead">"Baseline load per 15-minute interval for the next 48 hours: each feeder's average load at the same time of day on recent days of the same type (weekday or weekend), adjusted by its fitted temperature sensitivity to the temperature forecast."</p>
        <p><a href="/reductions">"Expected reduction per device type"</a></p>
        {show(data, |v: ForecastView| {
            let zone = if v.selected.is_empty() {
                "no zone chosen".to_string()
            } else {
                v.selected.iter().map(|s| s.code.clone()).collect::<Vec<_>>().join(", ")
            };
            let error = v.error.clone().map(|e| view! { <p class="flash flash-error" role="alert">{e}</p> });
            let chart = v.chart_svg.clone().map(|svg| view! { <figure class="chart" id="forecast-chart" inner_html=svg></figure> });
            let table = (!v.intervals.is_empty()).then(|| {
                let rows = v.intervals.iter().map(|i| view! {
                    <tr>
                        <td>{fmt_time(&i.start)}</td>
                        <td class="num">{fmt_kw(i.baseline_kw)}</td>
                        <td class="num">{i.temperature_c.map(|c| format!("{c:.1} °C")).unwrap_or_else(|| "—".into())}</td>
                    </tr>
                }).collect_view();
                view! {
                    <details id="forecast-intervals">
                        <summary>{format!("{} intervals, peak {}", v.intervals.len(), opt_kw(v.peak_kw))}</summary>
                        <table class="data"><thead><tr>
                            <th>"Interval start"</th><th class="num">"Baseline"</th><th class="num">"Temperature"</th>
                        </tr></thead><tbody>{rows}</tbody></table>
                    </details>
                }
            });
            view! {
                {picker(&v.options, &v.transformers)}
                {v.may_upload.then(upload_form)}
                <section id="zone-forecast">
                    <h2>{format!("Zone: {zone}")}</h2>
                    <p>{format!("{} of the next 48 hours have a forecast temperature.", v.forecast_hours)}</p>
                    {error}
                    {chart}
                    {table}
                </section>
                {rollup_table(&v.rollup, v.rollup_ms)}
            }
        })}
    }
}

#[component]
pub fn ReductionPage() -> impl IntoView {
    view! { <Guard><ReductionTable/></Guard> }
}

fn type_select(types: &[String], current: &str) -> impl IntoView {
    let options = types
        .iter()
        .map(|t| view! { <option value=t.clone() selected=t == current>{t.clone()}</option> })
        .collect_view();
    view! { <select name="row[device_type]">{options}</select> }
}

fn editable_row(r: ReductionRowDto, types: Vec<String>) -> impl IntoView {
    let save = ServerAction::<SaveReduction>::new();
    let delete = ServerAction::<DeleteReduction>::new();
    let form_id = format!("reduction-{}", r.id);
    view! {
        <tr>
            <td>
                <ActionForm action=save attr:class="reduction-row" attr:id=form_id>
                    <CsrfField/>
                    <input type="hidden" name="row[id]" value=r.id/>
                    <span class="row-id">{format!("#{}", r.id)}</span>
                    <label>"Device type " {type_select(&types, &r.device_type)}</label>
                    <label>"hours " <input name="row[hour_from]" value=r.hour_from size="2"/></label>
                    <label>"to " <input name="row[hour_to]" value=r.hour_to size="2"/></label>
                    <label>"°C from " <input name="row[temp_from_c]" value=r.temp_from_c.to_string() size="4"/></label>
                    <label>"to " <input name="row[temp_to_c]" value=r.temp_to_c.to_string() size="4"/></label>
                    <label>"share " <input name="row[share]" value=r.share.to_string() size="4"/></label>
                    <button type="submit">"Save"</button>
                </ActionForm>
            </td>
            <td>
                <ActionForm action=delete attr:class="inline">
                    <CsrfField/>
                    <input type="hidden" name="id" value=r.id/>
                    <button type="submit" class="secondary">"Remove"</button>
                </ActionForm>
            </td>
        </tr>
    }
}

#[component]
fn ReductionTable() -> impl IntoView {
    let data = Resource::new(|| (), |_| reductions());
    view! {
        <h1>"Expected reduction"</h1>
        <p class="lead">"The share of a device's nominal kW it is expected to shed, by device type, local hour range [from, until) and temperature band [from, until). The first row (oldest) that matches applies; no matching row means no reduction."</p>
        {show(data, |v: ReductionTableView| {
            if v.may_edit {
                let rows = v.rows.iter().map(|r| editable_row(r.clone(), v.device_types.clone())).collect_view();
                let types = v.device_types.clone();
                let add = ServerAction::<SaveReduction>::new();
                view! {
                    <table class="data" id="reductions"><tbody>{rows}</tbody></table>
                    <section class="card">
                        <h2>"Add a row"</h2>
                        <ActionForm action=add attr:class="filters" attr:id="reduction-new">
                            <CsrfField/>
                            <input type="hidden" name="row[id]" value=""/>
                            <label>"Device type" {type_select(&types, "thermostat")}</label>
                            <label>"From hour" <input name="row[hour_from]" value="0" size="2"/></label>
                            <label>"until" <input name="row[hour_to]" value="24" size="2"/></label>
                            <label>"From °C" <input name="row[temp_from_c]" value="-60" size="4"/></label>
                            <label>"until" <input name="row[temp_to_c]" value="60" size="4"/></label>
                            <label>"Share" <input name="row[share]" value="0.5" size="4"/></label>
                            <button type="submit">"Add"</button>
                        </ActionForm>
                    </section>
                }.into_any()
            } else {
                let rows = v.rows.iter().map(|r| view! {
                    <tr>
                        <td>{r.device_type.clone()}</td>
                        <td>{format!("{:02}:00–{:02}:00", r.hour_from, r.hour_to)}</td>
                        <td>{format!("{} to {} °C", r.temp_from_c, r.temp_to_c)}</td>
                        <td class="num">{format!("{:.0} %", r.share * 100.0)}</td>
                        <td>{fmt_time(&r.updated_at)}</td>
                    </tr>
                }).collect_view();
                view! {
                    <table class="data" id="reductions"><thead><tr>
                        <th>"Device type"</th><th>"Hours (local)"</th><th>"Temperature"</th><th class="num">"Share"</th><th>"Changed"</th>
                    </tr></thead><tbody>{rows}</tbody></table>
                }.into_any()
            }
        })}
    }
}
