//! The confirmation page of a destructive action: what will happen, the reason given, a
//! Confirm button (a real form with the CSRF field) and a way back that changes nothing.

use leptos::prelude::*;

use super::show;
use crate::components::*;
use crate::confirm::{pending_confirmation, PendingConfirm};

#[component]
pub fn ConfirmPage() -> impl IntoView {
    view! { <Guard><ConfirmView/></Guard> }
}

#[component]
fn ConfirmView() -> impl IntoView {
    let data = Resource::new(|| (), |_| pending_confirmation());
    show(data, |p: PendingConfirm| {
        let items = p
            .consequences
            .iter()
            .map(|c| view! { <li>{c.clone()}</li> })
            .collect_view();
        let reason = p.reason.clone().map(|r| {
            view! { <p>"Reason given: " <strong id="confirm-reason">{r}</strong></p> }
        });
        let fields = p
            .fields
            .iter()
            .map(|(k, v)| view! { <input type="hidden" name=k.clone() value=v.clone()/> })
            .collect_view();
        view! {
            <h1>{p.title.clone()}</h1>
            <section class="confirm danger-zone" id="confirm">
                <h2>"Please confirm: this is not a routine step"</h2>
                <p>"What will happen:"</p>
                <ul id="confirm-consequences">{items}</ul>
                {reason}
                <form method="post" action=p.post_to.clone() id="confirm-form" class="buttons">
                    <CsrfField/>
                    {fields}
                    <button type="submit" class="danger solid" id="confirm-button">{format!("Confirm: {}", p.kind.verb())}</button>
                    <a href=p.back.clone() class="button secondary" id="confirm-cancel">"Go back, change nothing"</a>
                </form>
            </section>
        }
    })
}
