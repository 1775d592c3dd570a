//! Administration of users: create, disable or enable, reset a password.

use leptos::prelude::*;

use super::show;
use crate::api::{list_users, CreateUser, ResetPassword, SetUserDisabled};
use crate::components::*;
use crate::model::*;

#[component]
pub fn UserAdminPage() -> impl IntoView {
    view! { <Guard><UserAdmin/></Guard> }
}

#[component]
fn UserAdmin() -> impl IntoView {
    let data = Resource::new(|| (), |_| list_users());
    let me = current_viewer().map(|v| v.user_id).unwrap_or_default();
    let create = ServerAction::<CreateUser>::new();
    let roles = Role::ALL
        .iter()
        .map(|r| view! { <option value=r.as_str()>{r.label()}</option> })
        .collect_view();
    view! {
        <h1>"Users"</h1>
        {show(data, move |users: Vec<UserDto>| {
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
                            {(!is_me).then(|| view! {
                                <ActionForm action=toggle attr:class="inline">
                                    <CsrfField/>
                                    <input type="hidden" name="user_id" value=u.id/>
                                    <input type="hidden" name="disabled" value=(!u.disabled).to_string()/>
                                    <button type="submit" class="secondary">{label}</button>
                                </ActionForm>
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
            }
        })}
        <section class="card">
            <h2>"New user"</h2>
            <ActionForm action=create attr:class="form" attr:id="create-user">
                <CsrfField/>
                <label>"Username" <input name="username" required pattern="[a-z0-9._-]{3,32}"/></label>
                <label>"Display name" <input name="display_name" required/></label>
                <label>"Role" <select name="role">{roles}</select></label>
                <label>"Password (12 characters or more)" <input type="password" name="password" minlength="12" required autocomplete="new-password"/></label>
                <button type="submit">"Create user"</button>
            </ActionForm>
        </section>
    }
}
