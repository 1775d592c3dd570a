//! Sign-in, the per-role home pages and the 404 page.

use leptos::prelude::*;

use super::event::EventDigest;
use leptos_router::hooks::use_query_map;

use super::show;
use crate::access::home_of;
use crate::api::{home, Login};
use crate::components::*;
use crate::error::AppError;
use crate::model::{HomeDto, Role};

#[component]
pub fn RootPage() -> impl IntoView {
    match current_viewer() {
        Some(v) => page_redirect(home_of(v.role)),
        None => page_redirect("/login"),
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    if let Some(v) = current_viewer() {
        page_redirect(home_of(v.role));
    }
    let next = use_query_map().get().get("next").unwrap_or_default();
    let login = ServerAction::<Login>::new();
    // After a refused sign-in the username stays; the password never comes back.
    let username = kept_or::<Login>("username", "");
    view! {
        <main class="login">
            <h1>"GridFlex"</h1>
            <p class="tagline">"Demand-response operations"</p>
            <FlashBanner/>
            <ActionForm action=login attr:class="card form" attr:id="login-form">
                <CsrfField/>
                <input type="hidden" name="next" value=next/>
                <label>
                    "Username"
                    <input type="text" name="username" autocomplete="username" required autofocus value=username/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <button type="submit">"Sign in"</button>
            </ActionForm>
        </main>
    }
}

#[component]
pub fn NotFoundPage() -> impl IntoView {
    view! {
        <main class="page">
            <ErrorPanel err=AppError::NotFound("page".into())/>
            <p><a href="/home">"Back to the home page"</a></p>
        </main>
    }
}

fn home_title(role: Role) -> &'static str {
    match role {
        Role::ProgramManager => "Programs and enrollments",
        Role::Operator => "Grid operations",
        Role::Approver => "Approvals",
        Role::Auditor => "Audit overview",
        Role::Admin => "Administration",
    }
}

#[component]
pub fn HomePage() -> impl IntoView {
    view! { <Guard><HomeContent/></Guard> }
}

#[component]
fn HomeContent() -> impl IntoView {
    let viewer = current_viewer().expect("guarded");
    let role = viewer.role;
    let data = Resource::new(|| (), |_| home());
    view! {
        <h1 data-home=role.as_str()>{home_title(role)}</h1>
        <p class="lead">"Signed in as " {viewer.display_name.clone()} " (" {role.label()} ")."</p>
        {show(data, move |h: HomeDto| view! {
            <section class="cards">
                <div class="card stat"><span>"Customers"</span><strong>{fmt_count(h.customers)}</strong></div>
                <div class="card stat"><span>"Devices"</span><strong>{fmt_count(h.devices)}</strong></div>
                <div class="card stat"><span>"Enrollments"</span><strong>{fmt_count(h.enrollments)}</strong></div>
                <div class="card stat"><span>"Enrolled load"</span><strong>{h.enrolled_kw.map(fmt_kw).unwrap_or_else(|| "computing…".into())}</strong></div>
            </section>
            {role_section(role, &h)}
        })}
    }
}

fn role_section(role: Role, h: &HomeDto) -> AnyView {
    match role {
        Role::ProgramManager => {
            let rows = h.by_program.iter().map(|c| {
                view! {
                    <tr>
                        <td>{c.program_code.clone()}</td>
                        <td>{status_badge(&c.status)}</td>
                        <td class="num">{fmt_count(c.count)}</td>
                    </tr>
                }
            }).collect_view();
            view! {
                <section>
                    <h2>"Enrollments by program and status"</h2>
                    <table class="data"><thead><tr><th>"Program"</th><th>"Status"</th><th class="num">"Enrollments"</th></tr></thead>
                    <tbody>{rows}</tbody></table>
                    <p><a class="button" href="/enrollments?status=PENDING">"Review pending enrollments"</a></p>
                </section>
            }.into_any()
        }
        Role::Operator => view! {
            <section>
                <h2>"Open events"</h2>
                <EventDigest status=None empty="No open events."/>
                <p><a class="button" href="/events">"Events"</a> " " <a href="/strategies">"Strategies"</a>
                   " · enrolled controllable load per node on the " <a href="/network">"network page"</a> "."</p>
            </section>
        }.into_any(),
        Role::Approver => view! {
            <section>
                <h2>"Events awaiting approval"</h2>
                <EventDigest status=Some("Submitted") empty="No events are waiting for your approval."/>
                <p>"Program limits that bound each event are on the " <a href="/programs">"programs page"</a> "."</p>
            </section>
        }.into_any(),
        Role::Auditor | Role::Admin => {
            let rows = h.recent_audit.iter().map(|a| view! {
                <tr>
                    <td>{fmt_time(&a.occurred_at)}</td>
                    <td>{a.actor.clone()}</td>
                    <td>{a.action.clone()}</td>
                    <td>{format!("{} {}", a.entity_type, a.entity_id)}</td>
                </tr>
            }).collect_view();
            let admin = (role == Role::Admin).then(|| view! {
                <p>{fmt_count(h.users)} " users · database: " {h.backend.clone()} " · "
                   <a href="/admin/users">"manage users"</a></p>
            });
            view! {
                <section>
                    {admin}
                    <h2>"Recent audit entries"</h2>
                    <table class="data"><thead><tr><th>"When"</th><th>"Actor"</th><th>"Action"</th><th>"Entity"</th></tr></thead>
                    <tbody>{rows}</tbody></table>
                    <p><a href="/audit">"Full audit trail"</a></p>
                </section>
            }.into_any()
        }
    }
}
