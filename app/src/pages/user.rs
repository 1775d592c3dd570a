//! Administration of users: create, disable or enable, reset a password.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{pager, show, WholeList};
use crate::api::{
    list_tokens, list_users, CreateUser, ResetPassword, RevokeToken, SetUserDisabled,
};
use crate::components::*;
use crate::model::*;

#[component]
pub fn UserAdminPage() -> impl IntoView {
    view! { <Guard><UserAdmin/></Guard> }
}

#[component]
fn UserAdmin() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(
        move || query.with(|q| q.get("after")),
        |after| async move {
            let list = WholeList::new("/admin/users".into(), after.as_deref())?;
            Ok::<_, crate::AppError>((list_users().await?, list))
        },
    );
    let me = current_viewer().map(|v| v.user_id).unwrap_or_default();
    let create = ServerAction::<CreateUser>::new();
    let typed_role = kept_or::<CreateUser>("role", "");
    let roles = Role::ALL
        .iter()
        .map(|r| view! { <option value=r.as_str() selected=typed_role == r.as_str()>{r.label()}</option> })
        .collect_view();
    let (username, display_name) = (
        kept_or::<CreateUser>("username", ""),
        kept_or::<CreateUser>("display_name", ""),
    );
    view! {
        <AdminTabs/>
        <h1>"Users"</h1>
        {show(data, move |(users, list): (Vec<UserDto>, WholeList)| {
            let (users, pages) = match list.page(users) {
                Ok(page) => page,
                Err(e) => return view! { <ErrorPanel err=e/> }.into_any(),
            };
            let pages = pager(pages);
            let rows = users.into_iter().map(|u| {
                let toggle = ServerAction::<SetUserDisabled>::new();
                let reset = ServerAction::<ResetPassword>::new();
                let label = if u.disabled { "Enable" } else { "Disable" };
                let state = if u.disabled { "disabled" } else if u.locked { "locked (failed sign-ins)" } else { "active" };
                let is_me = u.id == me;
                let reset_label = format!("New password for {}", u.username);
                view! {
                    <tr data-username=u.username.clone()>
                        <td>{u.username.clone()}</td>
                        <td>{u.display_name.clone()}</td>
                        <td>{u.role.label()}</td>
                        <td>{state}</td>
                        <td>
                            {(!is_me && u.disabled).then(|| view! {
                                <ActionForm action=toggle attr:class="inline">
                                    <CsrfField/>
                                    <input type="hidden" name="user_id" value=u.id/>
                                    <input type="hidden" name="disabled" value="false"/>
                                    <button type="submit" class="secondary">{label}</button>
                                </ActionForm>
                            })}
                            // Disabling is confirmed on a page of its own first.
                            {(!is_me && !u.disabled).then(|| {
                                let ask = ServerAction::<crate::confirm::AskConfirmation>::new();
                                let aria = format!("Disable {}", u.username);
                                view! {
                                    <ActionForm action=ask attr:class="inline disable-user">
                                        <CsrfField/>
                                        <input type="hidden" name="kind" value="disable_user"/>
                                        <input type="hidden" name="target" value=u.id/>
                                        <button type="submit" class="danger" aria-label=aria>"Disable…"</button>
                                    </ActionForm>
                                }
                            })}
                            <ActionForm action=reset attr:class="inline">
                                <CsrfField/>
                                <input type="hidden" name="user_id" value=u.id/>
                                <input type="password" name="password" placeholder="New password" minlength="12" required
                                    autocomplete="new-password" aria-label=reset_label/>
                                <button type="submit" class="secondary">"Reset password"</button>
                            </ActionForm>
                        </td>
                    </tr>
                }
            }).collect_view();
            view! {
                <table class="data" id="users"><thead><tr>
                    <th>"Username"</th><th>"Name"</th><th>"Role"</th><th>"State"</th><th>"Actions"</th>
                </tr></thead><tbody>{rows}</tbody></table>
                {pages}
            }
            .into_any()
        })}
        <Tokens/>
        <section class="card">
            <h2>"New user"</h2>
            <ActionForm action=create attr:class="form" attr:id="create-user">
                {kept_note_for::<CreateUser>()}
                <CsrfField/>
                <label>"Username" <input name="username" required pattern="[a-z0-9._-]{3,32}" value=username/></label>
                <label>"Display name" <input name="display_name" required value=display_name/></label>
                <label>"Role" <select name="role">{roles}</select></label>
                <label>"Password (12 characters or more)" <input type="password" name="password" minlength="12" required autocomplete="new-password"/></label>
                <button type="submit">"Create user"</button>
            </ActionForm>
        </section>
    }
}

/// The API tokens of machine clients (created and rotated with `gridflex token`); the admin
/// sees them here and may revoke one. Their values are never shown: only a hash is stored.
#[component]
fn Tokens() -> impl IntoView {
    let data = Resource::new(|| (), |_| list_tokens());
    let when = |t: Option<chrono::DateTime<chrono::Utc>>, none: &'static str| {
        t.map(|t| fmt_time(&t)).unwrap_or_else(|| none.to_string())
    };
    view! {
        <h2>"API tokens"</h2>
        {show(data, move |tokens: Vec<TokenDto>| {
            if tokens.is_empty() {
                return view! { <p class="empty">"No API tokens. Create one with " <code>"gridflex token create"</code> "."</p> }.into_any();
            }
            let rows = tokens.into_iter().map(|t| {
                let revoke = ServerAction::<RevokeToken>::new();
                let state = if t.revoked { "revoked" } else if t.expired { "expired" } else { "active" };
                let label = format!("Revoke token {}", t.name);
                let name = t.name.clone();
                view! {
                    <tr data-token=t.name.clone()>
                        <td>{t.name.clone()}</td>
                        <td>{t.role.clone()}</td>
                        <td>{t.scope.clone().map(|s| format!("{s} side")).unwrap_or_else(|| "—".into())}</td>
                        <td>{when(t.expires_at, "never")}</td>
                        <td>{when(t.last_used_at, "never")}</td>
                        <td>{state}</td>
                        <td>
                            {(!t.revoked).then(|| view! {
                                <ActionForm action=revoke attr:class="inline">
                                    <CsrfField/>
                                    <input type="hidden" name="name" value=name/>
                                    <button type="submit" class="secondary" aria-label=label>"Revoke"</button>
                                </ActionForm>
                            })}
                        </td>
                    </tr>
                }
            }).collect_view();
            view! {
                <table class="data" id="tokens"><thead><tr>
                    <th>"Name"</th><th>"Role"</th><th>"Scope"</th><th>"Expires"</th><th>"Last used"</th><th>"State"</th><th></th>
                </tr></thead><tbody>{rows}</tbody></table>
            }.into_any()
        })}
    }
}

/// Links between the pages of the Integration section: the monitor and the value maps
/// (the latter for those who may edit them).
#[component]
pub fn IntegrationTabs() -> impl IntoView {
    let here = current_path();
    let maps = viewer_may(crate::access::Action::EditValueMaps);
    view! {
        <nav class="subnav" aria-label="Integration">
            <a href="/monitor" aria-current=(here == "/monitor").then_some("page")>"Messages"</a>
            {maps.then(|| view! {
                <a href="/monitor/value-maps" aria-current=(here != "/monitor").then_some("page")>"Value maps"</a>
            })}
        </nav>
    }
}

/// Links between the administration pages.
#[component]
pub fn AdminTabs() -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Administration">
            <a href="/admin/users">"Users"</a>
            <a href="/admin/holidays">"Holidays"</a>
            <a href="/monitor">"Integration monitor"</a>
            <a href="/monitor/value-maps">"Value maps (Integration)"</a>
        </nav>
    }
}

#[component]
pub fn ValueMapPage() -> impl IntoView {
    view! { <Guard><ValueMaps/></Guard> }
}

#[component]
fn ValueMaps() -> impl IntoView {
    use crate::api::{list_value_maps, DeleteValueMap, PutValueMap};
    let data = Resource::new(|| (), |_| list_value_maps());
    let put = ServerAction::<PutValueMap>::new();
    // The published integration guide's names for the same maps (issue 12).
    let maps = [
        ("event_type", ""),
        ("device_specification", " (OUTL-BRT-DACS-DRMS_AssetSpec)"),
        ("instance_routing", " (OUTL-BRT-DRMSID-TO-DACSID)"),
        ("id_mapping", ""),
    ]
    .into_iter()
    .map(|(m, alias)| {
        let selected = kept_or::<PutValueMap>("map", "") == m;
        view! { <option value=m selected=selected>{m}{alias}</option> }
    })
    .collect_view();
    let (source, target) = (
        kept_or::<PutValueMap>("source_value", ""),
        kept_or::<PutValueMap>("target_value", ""),
    );
    view! {
        <IntegrationTabs/>
        <h1>"Value maps"</h1>
        <p class="lead">"Codes translated where messages cross between the program side and the grid side. A map with entries refuses a code it does not list, naming the map and the code."</p>
        {show(data, |entries: Vec<ValueMapEntry>| {
            let rows = entries.into_iter().map(|e| {
                let del = ServerAction::<DeleteValueMap>::new();
                view! {
                    <tr>
                        <td>{e.map}</td>
                        <td><code>{e.source_value}</code></td>
                        <td><code>{e.target_value}</code></td>
                        <td>{fmt_time(&e.updated_at)}</td>
                        <td>
                            <ActionForm action=del attr:class="inline">
                                <CsrfField/>
                                <input type="hidden" name="id" value=e.id/>
                                <button type="submit" class="secondary">"Remove"</button>
                            </ActionForm>
                        </td>
                    </tr>
                }
            }).collect_view();
            view! {
                <table class="data" id="value-maps"><thead><tr>
                    <th>"Map"</th><th>"Code"</th><th>"Translates to"</th><th>"Changed"</th><th></th>
                </tr></thead><tbody>{rows}</tbody></table>
            }
        })}
        <section class="card">
            <h2>"Add or change an entry"</h2>
            <ActionForm action=put attr:class="form" attr:id="put-value-map">
                {kept_note_for::<PutValueMap>()}
                <CsrfField/>
                <label>"Map" <select name="map">{maps}</select></label>
                <label>"Code" <input name="source_value" required maxlength="100" value=source/></label>
                <label>"Translates to" <input name="target_value" required maxlength="100" value=target/></label>
                <button type="submit">"Save"</button>
            </ActionForm>
        </section>
    }
}

#[component]
pub fn HolidayPage() -> impl IntoView {
    view! { <Guard><Holidays/></Guard> }
}

#[component]
fn Holidays() -> impl IntoView {
    use crate::api::{list_holidays, DeleteHoliday, PutHoliday};
    let data = Resource::new(|| (), |_| list_holidays());
    let put = ServerAction::<PutHoliday>::new();
    let (day, name) = (
        kept_or::<PutHoliday>("day", ""),
        kept_or::<PutHoliday>("name", ""),
    );
    view! {
        <AdminTabs/>
        <h1>"Holidays"</h1>
        <p class="lead">"Local dates of the utility's calendar that are never baseline days, like weekends and each customer's event days. Every change is in the audit trail and applies to settlements run after it."</p>
        {show(data, |entries: Vec<HolidayEntry>| {
            let rows = entries.into_iter().map(|h| {
                let del = ServerAction::<DeleteHoliday>::new();
                let day = h.day.to_string();
                let label = format!("Remove the holiday on {day}");
                let (row, shown) = (day.clone(), day.clone());
                view! {
                    <tr data-day=row>
                        <td>{shown}</td>
                        <td>{h.day.format("%A").to_string()}</td>
                        <td>{h.name}</td>
                        <td>{fmt_time(&h.updated_at)}</td>
                        <td>
                            <ActionForm action=del attr:class="inline">
                                <CsrfField/>
                                <input type="hidden" name="day" value=day/>
                                <button type="submit" class="secondary" aria-label=label>"Remove"</button>
                            </ActionForm>
                        </td>
                    </tr>
                }
            }).collect_view();
            view! {
                <table class="data" id="holidays"><thead><tr>
                    <th>"Date"</th><th>"Weekday"</th><th>"Holiday"</th><th>"Changed"</th><th></th>
                </tr></thead><tbody>{rows}</tbody></table>
            }
        })}
        <section class="card">
            <h2>"Add a holiday or rename one"</h2>
            <ActionForm action=put attr:class="form" attr:id="put-holiday">
                {kept_note_for::<PutHoliday>()}
                <CsrfField/>
                <label>"Date" <input type="date" name="day" required value=day/></label>
                <label>"Name" <input name="name" required maxlength="100" value=name/></label>
                <button type="submit">"Save"</button>
            </ActionForm>
        </section>
    }
}
