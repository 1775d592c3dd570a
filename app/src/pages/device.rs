//! Device list and device detail.

use leptos::prelude::*;

use super::enrollment::LocationCard;
use super::{pairs, query_with, route_id, show};
use crate::api::{
    get_device, list_devices, load_filter_options, AddUnavailability, CancelUnavailability,
    CheckDevice, OptOut,
};
use crate::components::*;
use crate::model::*;
use crate::query::DeviceQuery;

#[component]
pub fn DeviceListPage() -> impl IntoView {
    view! { <Guard><DeviceList/></Guard> }
}

type ListData = (DeviceQuery, FilterOptions, Page<DeviceRow>, Vec<i64>);

#[component]
fn DeviceList() -> impl IntoView {
    let query = query_with(|p| {
        let (rest, back) = super::split_trail(p)?;
        Ok((DeviceQuery::parse(pairs(&rest))?, back))
    });
    let data = Resource::new(query, |q| async move {
        let (q, back) = q?;
        let options = load_filter_options().await?;
        let page = list_devices(q.clone()).await?;
        Ok::<ListData, crate::AppError>((q, options, page, back))
    });
    view! {
        <h1>"Devices"</h1>
        {show(data, |(q, options, page, back): ListData| {
            let types = DeviceType::ALL.iter().map(|t| view! {
                <option value=t.as_str() selected=q.device_type == Some(*t)>{t.label()}</option>
            }).collect_view();
            let feeders = options.feeders.iter().map(|f| view! {
                <option value=f.id selected=q.feeder == Some(f.id)>{f.code.clone()}</option>
            }).collect_view();
            let status = q.status.clone().unwrap_or_default();
            let registered = q.registered;
            let pages = super::pager(super::PagerState {
                base: format!("/devices{}", q.to_query(false)),
                cursor: "after",
                after: q.after,
                back,
                next_after: page.next_after,
                total: page.total,
                limit: q.limit,
            });
            let rows = page.rows.into_iter().map(|d| view! {
                <tr>
                    <td><a href=format!("/devices/{}", d.id)>{d.nic_id.clone()}</a></td>
                    <td>{d.head_end}</td>
                    <td>{d.device_type}</td>
                    <td>{d.specification}</td>
                    <td>{status_badge(&d.status)}</td>
                    <td>{if d.registered { "yes" } else { "no" }}</td>
                    <td class="num">{fmt_kw(d.nominal_kw)}</td>
                    <td class="num">{format!("{:.2}", d.control_score)}</td>
                    <td>{d.service_point_id}</td>
                    <td>{d.feeder_code}</td>
                </tr>
            }).collect_view();
            view! {
                <form method="get" action="/devices" class="filters" id="device-filters">
                    <label>"Type" <select name="device_type"><option value="">"All"</option>{types}</select></label>
                    <label>"Status" <select name="status">
                        <option value="">"All"</option>
                        <option value="active" selected=status == "active">"active"</option>
                        <option value="inactive" selected=status == "inactive">"inactive"</option>
                    </select></label>
                    <label>"Registered" <select name="registered">
                        <option value="">"All"</option>
                        <option value="yes" selected=registered == Some(true)>"yes"</option>
                        <option value="no" selected=registered == Some(false)>"no"</option>
                    </select></label>
                    <label>"Feeder" <select name="feeder"><option value="">"All"</option>{feeders}</select></label>
                    <label>"NIC id or serial" <input type="search" name="q" value=q.q.clone().unwrap_or_default()/></label>
                    <button type="submit">"Apply"</button>
                    <a href="/devices" class="button secondary">"Clear"</a>
                </form>
                <p class="count" id="result-count">{fmt_count(page.total)} " devices"</p>
                <table class="data" id="devices"><thead><tr>
                    <th>"NIC id"</th><th>"Head-end"</th><th>"Type"</th><th>"Specification"</th><th>"Status"</th>
                    <th>"Registered"</th><th class="num">"Nominal"</th><th class="num">"Control score"</th>
                    <th>"Service point"</th><th>"Feeder"</th>
                </tr></thead><tbody>{rows}</tbody></table>
                {pages}
            }
        })}
    }
}

#[component]
pub fn DeviceDetailPage() -> impl IntoView {
    view! { <Guard><DeviceDetailView/></Guard> }
}

#[component]
fn DeviceDetailView() -> impl IntoView {
    let id = route_id("device");
    let data = Resource::new(id, |id| async move { get_device(id?).await });
    show(data, |d: DeviceDetail| {
        let enrollments = d.enrollments.iter().map(|e| view! {
            <tr>
                <td><a href=format!("/enrollments/{}", e.enrollment_id)>{e.enrollment_id}</a></td>
                <td>{format!("{} — {}", e.program_code, e.program_name)}</td>
                <td>{status_badge(&e.status)}</td>
                <td>{fmt_time(&e.joined_at)}</td>
                <td>{e.left_at.as_ref().map(fmt_time).unwrap_or_else(|| "—".into())}</td>
            </tr>
        }).collect_view();
        let may_check = viewer_may(crate::access::Action::CheckDevices);
        let check = may_check.then(|| {
            let action = ServerAction::<CheckDevice>::new();
            let id = d.id;
            view! {
                <ActionForm action=action attr:class="inline">
                    <CsrfField/>
                    <input type="hidden" name="device_id" value=id/>
                    <button type="submit" class="secondary">"Check now"</button>
                </ActionForm>
            }
        });
        let may_act = viewer_may(crate::access::Action::RecordUnavailability);
        let device_id = d.id;
        let windows = d.unavailability.clone().into_iter().map(|u| {
            let window_id = u.id;
            let cancel = (may_act && u.status == "active").then(move || {
                let action = ServerAction::<CancelUnavailability>::new();
                view! {
                    <ActionForm action=action attr:class="inline">
                        <CsrfField/>
                        <input type="hidden" name="window_id" value=window_id/>
                        <input type="hidden" name="device_id" value=device_id/>
                        <button type="submit" class="secondary">"Cancel"</button>
                    </ActionForm>
                }
            });
            view! {
                <li>{fmt_time(&u.starts_at)} " – " {fmt_time(&u.ends_at)} " · " {u.reason} " (" {u.status} ") " {cancel}</li>
            }
        }).collect_view();
        let add_window = may_act.then(|| {
            let action = ServerAction::<AddUnavailability>::new();
            view! {
                <ActionForm action=action attr:class="filters" attr:id="add-unavailability">
                    <CsrfField/>
                    <input type="hidden" name="device_id" value=device_id/>
                    <label>"From (local)" <input name="starts_at" required placeholder="YYYY-MM-DD HH:MM"/></label>
                    <label>"Until (local)" <input name="ends_at" required placeholder="YYYY-MM-DD HH:MM"/></label>
                    <label>"Reason" <input name="reason" required maxlength="200"/></label>
                    <button type="submit">"Record unavailability"</button>
                </ActionForm>
            }
        });
        let reservations = d
            .reservations
            .clone()
            .into_iter()
            .map(|r| {
                let upcoming = r.status == "X1SD" && r.opted_out_at.is_none();
                let stage = r.stage.clone();
                let opt = (may_act && upcoming).then(move || {
                    let action = ServerAction::<OptOut>::new();
                    view! {
                        <ActionForm action=action attr:class="inline">
                            <CsrfField/>
                            <input type="hidden" name="stage" value=stage/>
                            <input type="hidden" name="device_id" value=device_id/>
                            <button type="submit" class="secondary">"Opt out"</button>
                        </ActionForm>
                    }
                });
                let state = match (&r.opted_out_at, &r.outcome) {
                    (Some(t), _) => format!("opted out {}", fmt_time(t)),
                    (None, Some(o)) => o.clone(),
                    (None, None) => r.status.clone(),
                };
                view! {
                    <tr>
                        <td>{r.event}" / "{r.stage}</td>
                        <td>{r.program_code}</td>
                        <td>{fmt_time(&r.starts_at)} " – " {fmt_time(&r.ends_at)}</td>
                        <td class="num">{fmt_kw(r.expected_kw)}</td>
                        <td>{state}</td>
                        <td>{opt}</td>
                    </tr>
                }
            })
            .collect_view();
        let replacements = d.replacements.iter().map(|r| view! {
            <li>{fmt_time(&r.replaced_at)} " · " {r.old_nic_id.clone()} " → " {r.new_nic_id.clone()} " (" {r.reason.clone()} ")"</li>
        }).collect_view();
        view! {
            <h1>"Device " {d.head_end.clone()} " " {d.nic_id.clone()}</h1>
            <div class="grid2">
                <section class="card" id="device-facts">
                    <h2>"Device"</h2>
                    <dl>
                        <dt>"Type"</dt><dd>{d.device_type.clone()}</dd>
                        <dt>"Specification"</dt><dd>{d.specification.clone()}</dd>
                        <dt>"Head-end"</dt><dd>{d.head_end.clone()}</dd>
                        <dt>"Serial / badge"</dt><dd>{format!("{} / {}", d.serial_number, d.badge)}</dd>
                        <dt>"Status"</dt><dd>{status_badge(&d.status)}</dd>
                        <dt>"Head-end registration"</dt><dd>{if d.registered { "registered" } else { "not registered" }}</dd>
                        <dt>"Nominal controllable load"</dt><dd>{fmt_kw(d.nominal_kw)}</dd>
                        <dt>"Control score"</dt><dd>{format!("{:.2}", d.control_score)}</dd>
                        <dt>"Aggregator"</dt><dd>{d.aggregator.clone().unwrap_or_else(|| "—".into())}</dd>
                        <dt>"Connection"</dt><dd id="connection">{d.connection.clone().unwrap_or_else(|| "not checked".into())} " " {check}</dd>
                    </dl>
                </section>
                <LocationCard location=d.location.clone()/>
            </div>
            <section>
                <h2>"Enrollments"</h2>
                <table class="data"><thead><tr><th>"ID"</th><th>"Program"</th><th>"Status"</th><th>"Joined"</th><th>"Left"</th></tr></thead>
                <tbody>{enrollments}</tbody></table>
            </section>
            <section>
                <h2>"Event reservations"</h2>
                <table class="data" id="reservations"><thead><tr>
                    <th>"Event / stage"</th><th>"Program"</th><th>"When"</th><th class="num">"Expected"</th><th>"State"</th><th></th>
                </tr></thead><tbody>{reservations}</tbody></table>
                <h2>"Unavailability"</h2>
                <ul class="history" id="unavailability">{windows}</ul>
                {add_window}
                <h2>"Replacements"</h2>
                <ul class="history">{replacements}</ul>
            </section>
        }
    })
}
