//! The console's safety and clarity (issue 15): destructive actions go through a
//! confirmation step that checks the role and the CSRF token and changes nothing until
//! confirmed; a refused new-event form keeps what was typed; every page has its own title;
//! value maps live under Integration. Every backend.

mod common;

use chrono::{Duration, DurationRound};
use common::*;

async fn event_status(t: &TestDb, id: i64) -> String {
    scalar(
        &t.db,
        "SELECT status FROM events WHERE id = $1",
        &[Arg::from(id)],
    )
    .await
}

/// An operator's new event (status New) from the demo's "Northgate heat wave".
async fn new_event(t: &TestDb, app: &TestApp, op: &reqwest::Client) -> i64 {
    let strategy: i64 = scalar(
        &t.db,
        "SELECT id FROM strategies WHERE name = $1",
        &[Arg::from("Northgate heat wave")],
    )
    .await;
    let start = app
        .events
        .now()
        .duration_trunc(Duration::minutes(15))
        .unwrap()
        + Duration::hours(2);
    app.create_event_in_console(op, strategy, "Called off", start, 2)
        .await
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The value of the hidden field `name` in the confirmation form.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker)? + marker.len();
    Some(html[at..at + html[at..].find('"')?].to_string())
}

each_backend!(cancelling_an_event_is_confirmed_on_its_own_page_first);
async fn cancelling_an_event_is_confirmed_on_its_own_page_first(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let id = new_event(&t, &app, &op).await;
    let page = format!("/events/{id}");
    let (_, html) = app.page(&op, &page).await;
    assert!(
        html.contains("id=\"event-cancel\"") && html.contains("danger-zone"),
        "{}: the cancel form stands apart",
        t.name
    );

    // The step: a redirect to the confirmation page, and nothing changed.
    let res = app
        .post_form(
            &op,
            &page,
            "/fn/ask_confirmation",
            &[
                ("kind", "cancel_event"),
                ("target", &id.to_string()),
                ("reason", "Storm front cooled the city"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    assert_eq!(location(&res), "/confirm");
    assert_eq!(event_status(&t, id).await, "New", "{}: not yet", t.name);

    let (status, html) = app.page(&op, "/confirm").await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(html.contains("Cancel event") && html.contains("Called off"));
    assert!(
        html.contains("Storm front cooled the city"),
        "the reason shown"
    );
    assert!(
        html.contains("<title>Confirm · GridFlex</title>"),
        "{}",
        t.name
    );
    assert!(html.contains(&format!("href=\"{page}\"")), "a way back");
    assert_eq!(hidden(&html, "action").as_deref(), Some("cancel"));
    assert!(
        hidden(&html, "csrf").is_some_and(|c| c.len() == 64),
        "CSRF field"
    );

    // Going back changes nothing; confirming cancels, with the reason.
    let (_, html) = app.page(&op, &page).await;
    assert!(html.contains("badge-new"), "{}", t.name);
    assert_eq!(event_status(&t, id).await, "New");
    let res = app
        .post_form(
            &op,
            "/confirm",
            "/fn/event_action",
            &[
                ("id", &id.to_string()),
                ("action", "cancel"),
                ("reason", "Storm front cooled the city"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302);
    assert_eq!(event_status(&t, id).await, "Canceled", "{}", t.name);
    let (_, html) = app.page(&op, &page).await;
    assert!(
        html.contains(">Cancelled<") && html.contains("tone-danger"),
        "{}: a red badge with the human name",
        t.name
    );
    drop(app);
    t.cleanup().await;
}

each_backend!(the_confirmation_step_checks_the_role_the_input_and_the_csrf_token);
async fn the_confirmation_step_checks_the_role_the_input_and_the_csrf_token(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let id = new_event(&t, &app, &op).await;
    let id_s = id.to_string();

    // Without the CSRF token: refused before anything runs.
    let res = op
        .post(app.url("/fn/ask_confirmation"))
        .header("accept", "text/html")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("kind=cancel_event&target={id}&reason=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "{}", t.name);

    // The auditor may not cancel: a browser is told so, a program gets 403; nothing pending.
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let res = app
        .post_form(
            &auditor,
            &format!("/events/{id}"),
            "/fn/ask_confirmation",
            &[
                ("kind", "cancel_event"),
                ("target", &id_s),
                ("reason", "no"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302);
    assert_ne!(location(&res), "/confirm", "{}", t.name);
    let (_, html) = app.page(&auditor, &format!("/events/{id}")).await;
    assert!(
        html.contains("your role may not cancel events"),
        "{}",
        t.name
    );
    let (status, _) = app.page(&auditor, "/confirm").await;
    assert_eq!(status, 404, "{}: nothing waits for the auditor", t.name);
    let token = app.csrf(&auditor, "/home").await;
    let res = auditor
        .post(app.url("/fn/ask_confirmation"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={token}&kind=cancel_event&target={id}&reason=no"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "{}", t.name);

    // Only admins disable users; a program manager is refused.
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let admin_id: i64 = scalar(&t.db, "SELECT id FROM users WHERE username = 'admin'", &[]).await;
    let res = app
        .post_form(
            &manager,
            "/home",
            "/fn/ask_confirmation",
            &[("kind", "disable_user"), ("target", &admin_id.to_string())],
        )
        .await;
    assert_ne!(location(&res), "/confirm", "{}", t.name);

    // A missing reason and an unknown kind are named; nothing waits, nothing changed.
    let res = app
        .post_form(
            &op,
            &format!("/events/{id}"),
            "/fn/ask_confirmation",
            &[("kind", "cancel_event"), ("target", &id_s), ("reason", " ")],
        )
        .await;
    assert_eq!(location(&res), format!("/events/{id}"), "{}", t.name);
    let (_, html) = app.page(&op, &format!("/events/{id}")).await;
    assert!(html.contains("reason: say why"), "{}", t.name);
    let res = app
        .post_form(
            &op,
            "/home",
            "/fn/ask_confirmation",
            &[("kind", "drop_everything"), ("target", &id_s)],
        )
        .await;
    assert_ne!(location(&res), "/confirm");
    let (_, html) = app.page(&op, "/home").await;
    assert!(html.contains("kind: `drop_everything`"), "{}", t.name);
    assert_eq!(event_status(&t, id).await, "New");

    // The admin's disable step names the user; the operator cannot see that confirmation.
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let operator_id: i64 = scalar(
        &t.db,
        "SELECT id FROM users WHERE username = 'operator'",
        &[],
    )
    .await;
    let res = app
        .post_form(
            &admin,
            "/admin/users",
            "/fn/ask_confirmation",
            &[
                ("kind", "disable_user"),
                ("target", &operator_id.to_string()),
            ],
        )
        .await;
    assert_eq!(location(&res), "/confirm", "{}", t.name);
    let (_, html) = app.page(&admin, "/confirm").await;
    assert!(html.contains("Disable user operator"), "{}", t.name);
    assert_eq!(hidden(&html, "disabled").as_deref(), Some("true"));
    let disabled: bool = scalar(
        &t.db,
        "SELECT disabled FROM users WHERE id = $1",
        &[Arg::from(operator_id)],
    )
    .await;
    assert!(!disabled, "{}: not before the confirmation", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(a_refused_new_event_keeps_what_was_typed_and_pages_have_titles);
async fn a_refused_new_event_keeps_what_was_typed_and_pages_have_titles(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let strategy: i64 = scalar(
        &t.db,
        "SELECT id FROM strategies WHERE name = $1",
        &[Arg::from("Northgate heat wave")],
    )
    .await;
    let events_before: i64 = scalar(&t.db, "SELECT COUNT(*) FROM events", &[]).await;
    let res = app
        .post_event_form(
            &op,
            strategy,
            "Typed with care",
            "next tuesday at five",
            "2026-12-09 19:00",
        )
        .await;
    let (_, html) = app.page(&op, &location(&res)).await;
    assert!(html.contains("id=\"event-form-errors\""), "{}", t.name);
    assert!(
        html.contains("href=\"#event-starts\""),
        "the summary links the field"
    );
    assert!(html.contains("value=\"Typed with care\""), "{}", t.name);
    assert!(html.contains("value=\"next tuesday at five\""));
    assert!(html.contains("value=\"2026-12-09 19:00\""));
    let count: i64 = scalar(&t.db, "SELECT COUNT(*) FROM events", &[]).await;
    assert_eq!(count, events_before, "{}: nothing stored", t.name);
    // Shown once: the next visit has a fresh form.
    let (_, html) = app.page(&op, "/events").await;
    assert!(!html.contains("Typed with care"), "{}", t.name);
    assert!(
        html.contains("<title>Events · GridFlex</title>"),
        "{}",
        t.name
    );
    let (_, html) = app.page(&op, "/strategies").await;
    assert!(html.contains("<title>Strategies · GridFlex</title>"));

    // Value maps are a page of the Integration section.
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let (status, html) = app.page(&admin, "/monitor/value-maps").await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(html.contains("<title>Value maps · GridFlex</title>"));
    assert!(
        html.contains("href=\"/monitor\" aria-current=\"page\">Integration<"),
        "{}: Integration is the current section",
        t.name
    );
    let (_, html) = app.page(&admin, "/admin/users").await;
    assert!(!html.contains("href=\"/admin/value-maps\""), "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(keyset_lists_have_previous_pages_and_a_page_count);
async fn keyset_lists_have_previous_pages_and_a_page_count(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let m = app.browser();
    app.login(&m, "manager", PASSWORD).await;
    let (_, first) = app.page(&m, "/enrollments?limit=10").await;
    assert!(first.contains("Page 1 of "), "{}", t.name);
    let next = hidden_href(&first, "next").expect("a next page");
    let (_, second) = app.page(&m, &next).await;
    assert!(second.contains("Page 2 of "), "{}", t.name);
    let third_href = hidden_href(&second, "next").expect("a third page");
    assert!(third_href.contains("back="), "{third_href}");
    let (_, third) = app.page(&m, &third_href).await;
    assert!(third.contains("Page 3 of "), "{}", t.name);
    let prev = hidden_href(&third, "prev").expect("a previous page");
    assert_eq!(prev.replace("&amp;", "&"), next.replace("&amp;", "&"));
    let (status, _) = app.page(&m, "/enrollments?back=x").await;
    assert_eq!(status, 400, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

/// The href of the link with `rel`.
fn hidden_href(html: &str, rel: &str) -> Option<String> {
    let rel_at = html.find(&format!("rel=\"{rel}\""))?;
    let tag_start = html[..rel_at].rfind("<a ")?;
    let tag = &html[tag_start..rel_at + html[rel_at..].find('>')?];
    let at = tag.find("href=\"")? + 6;
    Some(tag[at..at + tag[at..].find('"')?].replace("&amp;", "&"))
}

/// A multipart form as a browser sends it: (name, file name, content) per part.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----gridflexboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    app: &TestApp,
    c: &reqwest::Client,
    parts: &[(&str, Option<&str>, &[u8])],
) -> reqwest::Response {
    let (content_type, body) = multipart(parts);
    c.post(app.url("/meter-data/upload"))
        .header("accept", "text/html")
        .header("content-type", content_type)
        .header("referer", app.url("/meter-data"))
        .body(body)
        .send()
        .await
        .expect("upload")
}

each_backend!(a_meter_data_file_is_uploaded_through_the_paste_boxs_import);
async fn a_meter_data_file_is_uploaded_through_the_paste_boxs_import(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let sp: String = scalar(
        &t.db,
        "SELECT service_point_id FROM device_locations ORDER BY id LIMIT 1",
        &[],
    )
    .await;
    let csv = format!(
        "service_point_id,interval_start,interval_minutes,kwh\n{sp},2025-07-01T00:00:00Z,15,1.5\n{sp},2025-07-01T00:15:00Z,15,1.25\n"
    );
    let pm = app.browser();
    app.login(&pm, "manager", PASSWORD).await;
    let (_, html) = app.page(&pm, "/meter-data").await;
    assert!(
        html.contains("enctype=\"multipart/form-data\""),
        "{}: the upload form",
        t.name
    );
    let imports = t.count("SELECT COUNT(*) FROM meter_imports").await;

    // Without the CSRF field: refused, nothing stored.
    let res = upload(&app, &pm, &[("file", Some("july.csv"), csv.as_bytes())]).await;
    assert_eq!(res.status(), 403, "{}", t.name);
    assert_eq!(t.count("SELECT COUNT(*) FROM meter_imports").await, imports);

    let token = app.csrf(&pm, "/meter-data").await;
    let res = upload(
        &app,
        &pm,
        &[
            ("csrf", None, token.as_bytes()),
            ("file", Some("july.csv"), csv.as_bytes()),
            ("format", None, b"auto"),
            ("service_point", None, b""),
        ],
    )
    .await;
    assert_eq!(res.status(), 303, "{}", t.name);
    let to = location(&res);
    assert!(to.starts_with("/meter-data?import="), "{}: {to}", t.name);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM meter_imports").await,
        imports + 1
    );
    let (_, html) = app.page(&pm, &to).await;
    assert!(html.contains("july.csv"), "{}: the import's report", t.name);

    // An empty file, a file over the limit: clear messages, nothing stored.
    let res = upload(
        &app,
        &pm,
        &[
            ("csrf", None, token.as_bytes()),
            ("file", Some("empty.csv"), b""),
        ],
    )
    .await;
    assert_eq!(location(&res), "/meter-data");
    let (_, html) = app.page(&pm, "/meter-data").await;
    assert!(html.contains("`empty.csv` is empty"), "{}", t.name);
    let big = vec![b'x'; 4 * 1024 * 1024 + 1];
    let res = upload(
        &app,
        &pm,
        &[
            ("csrf", None, token.as_bytes()),
            ("file", Some("big.csv"), &big),
        ],
    )
    .await;
    assert_eq!(res.status(), 303, "{}", t.name);
    let (_, html) = app.page(&pm, "/meter-data").await;
    assert!(html.contains("larger than the 4 MB"), "{}", t.name);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM meter_imports").await,
        imports + 1
    );

    // The auditor may not import.
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let token = app.csrf(&auditor, "/home").await;
    let res = upload(
        &app,
        &auditor,
        &[
            ("csrf", None, token.as_bytes()),
            ("file", Some("x.csv"), csv.as_bytes()),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, html) = app.page(&auditor, "/home").await;
    assert!(
        html.contains("your role may not import meter data"),
        "{}",
        t.name
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM meter_imports").await,
        imports + 1
    );
    drop(app);
    t.cleanup().await;
}
