//! Enrollment list (filters, sort, keyset pages, CSV) and enrollment detail.

use leptos::prelude::*;

use super::{pager, pairs, query_with, route_id, show, split_trail, PagerState};
use crate::api::{
    get_enrollment, list_enrollments, load_filter_options, ChangeEnrollmentStatus, ReplaceDevice,
};
use crate::components::*;
use crate::model::*;
use crate::query::{EnrollmentQuery, EnrollmentSort};

#[component]
pub fn EnrollmentListPage() -> impl IntoView {
    view! { <Guard><EnrollmentList/></Guard> }
}

type ListData = (
    EnrollmentQuery,
    FilterOptions,
    Page<EnrollmentRow>,
    Vec<i64>,
);

#[component]
fn EnrollmentList() -> impl IntoView {
    let query = query_with(|p| {
        let (rest, back) = split_trail(p)?;
        Ok((EnrollmentQuery::parse(pairs(&rest))?, back))
    });
    let data = Resource::new(query, |q| async move {
        let (q, back) = q?;
        let options = load_filter_options().await?;
        let page = list_enrollments(q.clone()).await?;
        Ok::<ListData, crate::AppError>((q, options, page, back))
    });
    view! {
        <h1>"Enrollments"</h1>
        {show(data, |(q, options, page, back): ListData| view! {
            <EnrollmentFilters q=q.clone() options=options/>
            <EnrollmentTable q=q page=page back=back/>
        })}
    }
}

fn selected(a: Option<i64>, b: i64) -> bool {
    a == Some(b)
}

#[component]
fn EnrollmentFilters(q: EnrollmentQuery, options: FilterOptions) -> impl IntoView {
    let programs = options.programs.iter().map(|p| {
        view! { <option value=p.id selected=selected(q.program, p.id)>{format!("{} — {}", p.code, p.name)}</option> }
    }).collect_view();
    let substations = options.substations.iter().map(|s| {
        view! { <option value=s.id selected=selected(q.substation, s.id)>{s.code.clone()}</option> }
    }).collect_view();
    let feeders = options
        .feeders
        .iter()
        .map(|f| {
            view! { <option value=f.id selected=selected(q.feeder, f.id)>{f.code.clone()}</option> }
        })
        .collect_view();
    let statuses = EnrollmentStatus::ALL
        .iter()
        .map(|s| {
            view! { <option value=s.as_str() selected=q.status == Some(*s)>{s.as_str()}</option> }
        })
        .collect_view();
    let types = DeviceType::ALL.iter().map(|t| {
        view! { <option value=t.as_str() selected=q.device_type == Some(*t)>{t.label()}</option> }
    }).collect_view();
    let sorts = EnrollmentSort::ALL
        .iter()
        .map(|s| {
            view! { <option value=s.as_str() selected=q.sort == *s>{s.label()}</option> }
        })
        .collect_view();
    view! {
        <form method="get" action="/enrollments" class="filters" id="enrollment-filters">
            <label>"Program" <select name="program"><option value="">"All"</option>{programs}</select></label>
            <label>"Status" <select name="status"><option value="">"All"</option>{statuses}</select></label>
            <label>"Substation" <select name="substation"><option value="">"All"</option>{substations}</select></label>
            <label>"Feeder" <select name="feeder"><option value="">"All"</option>{feeders}</select></label>
            <label>"Device type" <select name="device_type"><option value="">"All"</option>{types}</select></label>
            <label>"Search"
                <input type="search" name="q" value=q.q.clone().unwrap_or_default()
                    placeholder="Name, account, service point or NIC id"/>
            </label>
            <label>"Sort" <select name="sort">{sorts}</select></label>
            <button type="submit">"Apply"</button>
            <a href="/enrollments" class="button secondary">"Clear"</a>
        </form>
    }
}

#[component]
fn EnrollmentTable(q: EnrollmentQuery, page: Page<EnrollmentRow>, back: Vec<i64>) -> impl IntoView {
    let csv = format!("/enrollments.csv{}", q.to_query(false));
    let pages = pager(PagerState {
        base: format!("/enrollments{}", q.to_query(false)),
        cursor: "after",
        after: q.after,
        back,
        next_after: page.next_after,
        total: page.total,
        limit: q.limit,
    });
    let empty = page
        .rows
        .is_empty()
        .then(|| view! { <p class="empty">"No enrollment matches these filters."</p> });
    let rows = page
        .rows
        .into_iter()
        .map(|r| {
            view! {
                <tr>
                    <td><a href=format!("/enrollments/{}", r.id)>{r.id}</a></td>
                    <td>{r.customer_name}</td>
                    <td>{r.account_id}</td>
                    <td><a href=format!("/programs/{}", r.program_id)>{r.program_code}</a></td>
                    <td>{status_badge(&r.status)}</td>
                    <td>{r.source}</td>
                    <td>{r.service_point_id}</td>
                    <td>{format!("{} / {}", r.substation_code, r.feeder_code)}</td>
                    <td class="num">{r.device_count}</td>
                    <td class="num">{fmt_kw(r.nominal_kw)}</td>
                    <td>{r.start_date.to_string()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-head">
            <p class="count" id="result-count">{fmt_count(page.total)} " enrollments"</p>
            <a href=csv class="button secondary" download>"Export CSV"</a>
        </div>
        <table class="data" id="enrollments">
            <thead><tr>
                <th>"ID"</th><th>"Customer"</th><th>"Account"</th><th>"Program"</th><th>"Status"</th>
                <th>"Source"</th><th>"Service point"</th><th>"Substation / feeder"</th>
                <th class="num">"Devices"</th><th class="num">"Nominal"</th><th>"Start"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
        {empty}
        {pages}
    }
}

#[component]
pub fn EnrollmentDetailPage() -> impl IntoView {
    view! { <Guard><EnrollmentDetailView/></Guard> }
}

#[component]
fn EnrollmentDetailView() -> impl IntoView {
    let id = route_id("enrollment");
    let data = Resource::new(id, |id| async move { get_enrollment(id?).await });
    show(data, |e: EnrollmentDetail| {
        let devices = e.devices.iter().map(|d| view! {
            <tr class=if d.left_at.is_some() { "former" } else { "" }>
                <td><a href=format!("/devices/{}", d.device_id)>{format!("{} {}", d.head_end, d.nic_id)}</a></td>
                <td>{d.device_type.clone()}</td>
                <td>{if d.registered { "registered" } else { "not registered" }}</td>
                <td class="num">{fmt_kw(d.nominal_kw)}</td>
                <td>{fmt_time(&d.joined_at)}</td>
                <td>{d.left_at.as_ref().map(fmt_time).unwrap_or_else(|| "—".into())}</td>
            </tr>
        }).collect_view();
        let history = e.history.iter().map(|h| view! {
            <li>{fmt_time(&h.changed_at)} " · " {h.from_status.clone().unwrap_or_else(|| "new".into())}
                " → " {status_badge(&h.to_status)} " by " {h.actor.clone()} " — " {h.reason.clone()}</li>
        }).collect_view();
        let replacements = e.replacements.iter().map(|r| view! {
            <li>{fmt_time(&r.replaced_at)} " · " {r.old_nic_id.clone()} " replaced by " {r.new_nic_id.clone()}
                " (" {r.reason.clone()} ", " {r.actor.clone()} ")"</li>
        }).collect_view();
        let audit = audit_rows(&e.audit);
        let may_act = viewer_may(crate::access::Action::ChangeEnrollments);
        let actions = may_act.then(|| enrollment_actions(e.id, &e.status));
        let current: Vec<(i64, String)> = e
            .devices
            .iter()
            .filter(|d| d.left_at.is_none())
            .map(|d| (d.device_id, format!("{} {}", d.head_end, d.nic_id)))
            .collect();
        let replace = (may_act && e.status != "INACTIVE" && !current.is_empty())
            .then(|| replace_form(e.id, current));
        view! {
            <h1>"Enrollment " {e.id} " " {status_badge(&e.status)}</h1>
            {actions}
            <div class="grid2">
                <section class="card">
                    <h2>"Subscription"</h2>
                    <dl>
                        <dt>"Program"</dt><dd><a href=format!("/programs/{}", e.program.id)>{format!("{} — {}", e.program.code, e.program.name)}</a></dd>
                        <dt>"Source"</dt><dd>{e.source.clone()}</dd>
                        <dt>"Ownership"</dt><dd>{e.ownership.clone()}</dd>
                        <dt>"Start"</dt><dd>{e.start_date.to_string()}</dd>
                        <dt>"End"</dt><dd>{e.end_date.map(|d| d.to_string()).unwrap_or_else(|| "—".into())}</dd>
                    </dl>
                </section>
                <section class="card" id="customer">
                    <h2>"Customer"</h2>
                    <dl>
                        <dt>"Name"</dt><dd>{e.customer.name.clone()}</dd>
                        <dt>"Person / account"</dt><dd>{format!("{} / {}", e.customer.person_id, e.customer.account_id)}</dd>
                        <dt>"Phone"</dt><dd class="pii">{e.customer.phone.clone()}</dd>
                        <dt>"Email"</dt><dd class="pii">{e.customer.email.clone()}</dd>
                    </dl>
                </section>
                <LocationCard location=e.location.clone()/>
                {e.published.clone().map(published_card)}
            </div>
            <section>
                <h2>"Devices"</h2>
                <table class="data" id="enrollment-devices"><thead><tr>
                    <th>"Device"</th><th>"Type"</th><th>"Registration"</th><th class="num">"Nominal"</th><th>"Joined"</th><th>"Left"</th>
                </tr></thead><tbody>{devices}</tbody></table>
                <ul class="history">{replacements}</ul>
                {replace}
            </section>
            <section>
                <h2>"Status history"</h2>
                <ul class="history" id="status-history">{history}</ul>
            </section>
            <section>
                <h2>"Audit entries"</h2>
                <p id="enrollment-audit-link">{audit_link("enrollment", &e.id.to_string())}</p>
                {audit}
            </section>
        }
    })
}

/// The published shape's own fields (issue 12), shown only to roles that see personal data
/// (the server leaves them out for the others).
fn published_card(p: PublishedFieldsDto) -> impl IntoView {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let assets = p
        .assets
        .into_iter()
        .map(|a| {
            view! {
                <li>{format!("{} {}", a.head_end_system, a.nic_id)} " · sequence " {or_dash(a.sequence)}
                    " · asset " {or_dash(a.asset_id)}</li>
            }
        })
        .collect_view();
    view! {
        <section class="card" id="published-fields">
            <h2>"Published enrollment"</h2>
            <dl>
                <dt>"Transaction"</dt><dd>{p.transaction_id}</dd>
                <dt>"Service agreement"</dt><dd>{or_dash(p.service_agreement_id)}</dd>
                <dt>"Premise"</dt><dd>{p.premise_id}</dd>
                <dt>"Location"</dt><dd>{or_dash(p.location_id)}</dd>
                <dt>"Division"</dt><dd>{or_dash(p.division)}</dd>
                <dt>"County / state / country"</dt><dd>{format!("{} / {} / {}", or_dash(p.county), or_dash(p.state), or_dash(p.country))}</dd>
                <dt>"Installation method"</dt><dd>{or_dash(p.installation_method)}</dd>
                <dt>"Business phone"</dt><dd class="pii">{or_dash(p.business_phone)}</dd>
            </dl>
            <ul class="history">{assets}</ul>
        </section>
    }
}

#[component]
pub fn LocationCard(location: LocationDto) -> impl IntoView {
    let path = location
        .path
        .iter()
        .map(|n| {
            let href = match n.kind.as_str() {
                "feeder" => Some(format!("/network?feeder={}", n.id)),
                "substation" => Some("/network".to_string()),
                _ => None,
            };
            let label = format!("{} {}", n.kind, n.code);
            match href {
                Some(h) => view! { <li><a href=h>{label}</a></li> }.into_any(),
                None => view! { <li>{label}</li> }.into_any(),
            }
        })
        .collect_view();
    view! {
        <section class="card" id="location">
            <h2>"Location"</h2>
            <dl>
                <dt>"Service point"</dt><dd>{location.service_point_id.clone()}</dd>
                <dt>"Premise"</dt><dd>{location.premise_id.clone()}</dd>
                <dt>"Address"</dt><dd class="pii">{location.address.clone()}</dd>
                <dt>"Time zone"</dt><dd>{location.time_zone.clone()}</dd>
            </dl>
            <ol class="network-path" aria-label="Network path">{path}</ol>
        </section>
    }
}

/// Audit entries as a table: the action in words (its code beside), and what changed field by
/// field — before → after, codes with their meaning.
pub fn audit_rows(entries: &[AuditEntryDto]) -> impl IntoView {
    use crate::history::{action_words, changes};
    if entries.is_empty() {
        return view! { <p class="empty">"No audit entries."</p> }.into_any();
    }
    // Client addresses reach only the audit trail's readers; the column shows when they do.
    let with_address = entries.iter().any(|a| a.client_address.is_some());
    let rows = entries
        .iter()
        .map(|a| {
            let address = with_address.then(|| {
                view! { <td class="pii client-address">{a.client_address.clone().unwrap_or_default()}</td> }
            });
            let items = changes(a.before.as_deref(), a.after.as_deref())
                .into_iter()
                .map(|c| {
                    let field = (!c.field.is_empty()).then(|| view! { <span class="field">{c.field.clone()}</span> ": " });
                    let value = match (c.before, c.after) {
                        (Some(b), Some(x)) => view! { <del>{b}</del> " → " <ins>{x}</ins> }.into_any(),
                        (None, Some(x)) => view! { <ins>{x}</ins> }.into_any(),
                        (Some(b), None) => view! { <del>{b}</del> " → removed" }.into_any(),
                        (None, None) => view! { "—" }.into_any(),
                    };
                    view! { <li>{field}{value}</li> }
                })
                .collect_view();
            view! {
                <tr>
                    <td>{fmt_time(&a.occurred_at)}</td>
                    <td>{a.actor.clone()}</td>
                    {address}
                    <td>{action_words(&a.action)} <br/><code class="action-code">{a.action.clone()}</code></td>
                    <td>{format!("{} {}", a.entity_type, a.entity_id)}</td>
                    <td><ul class="changes">{items}</ul></td>
                </tr>
            }
        })
        .collect_view();
    let address_head = with_address.then(|| view! { <th>"From"</th> });
    view! {
        <div class="table-scroll">
        <table class="data audit"><thead><tr>
            <th>"When"</th><th>"Actor"</th>{address_head}<th>"Action"</th><th>"Entity"</th><th>"What changed (before → after)"</th>
        </tr></thead><tbody>{rows}</tbody></table>
        </div>
    }.into_any()
}

/// A link to an entity's audit trail (the filtered audit page), for those who may read it.
pub fn audit_link(entity_type: &str, entity_id: &str) -> impl IntoView {
    let may = current_viewer().is_some_and(|v| crate::access::may_open("/audit", v.role));
    may.then(|| {
        let href = format!(
            "/audit?entity_type={}&entity_id={}",
            crate::query::encode(entity_type),
            crate::query::encode(entity_id)
        );
        view! { <a href=href class="audit-link">"Audit trail"</a> }
    })
}

/// Activate (a primary action) and unenroll (set apart, confirmed first), each with its own
/// reason, for the roles that own enrollments.
fn enrollment_actions(id: i64, status: &str) -> impl IntoView {
    let activate = (status == "PENDING").then(|| {
        let action = ServerAction::<ChangeEnrollmentStatus>::new();
        let reason = kept_form::<ChangeEnrollmentStatus>()
            .filter(|k| k.get("enrollment_id") == Some(id.to_string().as_str()))
            .and_then(|k| k.get("reason").map(str::to_string))
            .unwrap_or_default();
        view! {
            <ActionForm action=action attr:class="filters" attr:id="enrollment-activate">
                <CsrfField/>
                <input type="hidden" name="enrollment_id" value=id/>
                <input type="hidden" name="change" value="activate"/>
                <label>"Reason for activating" <input name="reason" required maxlength="500" placeholder="Why (kept in the history)" value=reason/></label>
                <button type="submit">"Activate"</button>
            </ActionForm>
        }
    });
    let unenroll = matches!(status, "PENDING" | "ACTIVE").then(|| {
        let ask = ServerAction::<crate::confirm::AskConfirmation>::new();
        let reason = crate::confirm::refused_reason("unenroll", &id.to_string());
        view! {
            <section class="danger-zone" aria-labelledby="unenroll-heading">
                <h2 id="unenroll-heading">"Unenroll"</h2>
                <ActionForm action=ask attr:class="inline" attr:id="enrollment-unenroll">
                    <CsrfField/>
                    <input type="hidden" name="kind" value="unenroll"/>
                    <input type="hidden" name="target" value=id/>
                    <label>"Reason for unenrolling " <input name="reason" required maxlength="500" placeholder="Why (kept in the history)" value=reason/></label>
                    <button type="submit" class="danger">"Unenroll…"</button>
                </ActionForm>
            </section>
        }
    });
    view! { <div id="enrollment-actions">{activate}{unenroll}</div> }
}

/// Replace one of the enrollment's current devices (program manager, admin).
fn replace_form(id: i64, current: Vec<(i64, String)>) -> impl IntoView {
    let action = ServerAction::<ReplaceDevice>::new();
    // A refused replacement comes back as it was typed.
    let refused = kept_form::<ReplaceDevice>()
        .filter(|k| k.get("enrollment_id") == Some(id.to_string().as_str()));
    let typed = |name: &str| {
        refused
            .as_ref()
            .and_then(|k| k.get(&format!("replacement[{name}]")))
            .unwrap_or_default()
            .to_string()
    };
    let leaving = typed("old_device_id");
    let kept = refused.is_some();
    let options = current
        .into_iter()
        .map(|(device, label)| {
            let value = device.to_string();
            let selected = value == leaving;
            view! { <option value=value selected=selected>{label}</option> }
        })
        .collect_view();
    let (head_end, nic_id, nominal_kw, specification, reason) = (
        typed("new_head_end"),
        typed("new_nic_id"),
        typed("new_nominal_kw"),
        typed("new_specification"),
        typed("reason"),
    );
    view! {
        <h3>"Replace a device"</h3>
        <ActionForm action=action attr:class="filters" attr:id="replace-device">
            {kept_note(kept)}
            <CsrfField/>
            <input type="hidden" name="enrollment_id" value=id/>
            <label>"Leaving" <select name="replacement[old_device_id]">{options}</select></label>
            <label>"New head-end" <input name="replacement[new_head_end]" required maxlength="64" placeholder="ECOBEE" value=head_end/></label>
            <label>"New NIC id" <input name="replacement[new_nic_id]" required maxlength="64" value=nic_id/></label>
            <label>"Nominal kW" <input name="replacement[new_nominal_kw]" size="5" placeholder="same" value=nominal_kw/></label>
            <label>"Specification" <input name="replacement[new_specification]" maxlength="100" placeholder="same" value=specification/></label>
            <label>"Reason" <input name="replacement[reason]" required maxlength="500" value=reason/></label>
            <button type="submit">"Replace"</button>
        </ActionForm>
    }
}
