//! The demo's events tell the truth at a glance: each plan's feasibility (met, or the
//! shortfall and its local periods; rebound above the pre-event peak) reads the same on the
//! event page, in the REST answer and in the answer to submit; the demo's strategies are
//! feasible and its one drill event warns on purpose; and an event's peak reduction is the
//! same figure in the events list, on its page, in its report and in the API. Every backend.

mod common;

use common::*;
use gridflex::demo::DRILL_EVENT;

async fn event_ids(t: &TestDb) -> Vec<(i64, String, String)> {
    gridflex::with_db!(&t.db, |p| sqlx::query_as(
        "SELECT id, name, status FROM events ORDER BY id"
    )
    .fetch_all(p)
    .await
    .unwrap())
}

/// The text of the first `<tr>` of `html` that mentions `needle`.
fn row_with<'a>(html: &'a str, needle: &str) -> &'a str {
    let at = html
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} in the page"));
    let start = html[..at].rfind("<tr").unwrap();
    let end = at + html[at..].find("</tr>").unwrap();
    &html[start..end]
}

each_backend!(the_demo_plans_are_feasible_and_the_drill_warns_the_same_everywhere);
async fn the_demo_plans_are_feasible_and_the_drill_warns_the_same_everywhere(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = gridflex::auth::create_token(&t.db, "test", "auditor-client", "auditor")
        .await
        .unwrap();
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let events = event_ids(&t).await;
    assert!(events.len() >= 2, "{}: {events:?}", t.name);
    let mut drill = None;
    for (id, name, status) in &events {
        let api: serde_json::Value = app
            .api_get(&token, &format!("/api/v1/events/{id}"))
            .await
            .json()
            .await
            .unwrap();
        let f = &api["feasibility"];
        assert!(
            f.is_object(),
            "{}: {name} carries its feasibility: {api}",
            t.name
        );
        let (_, html) = app.page(&op, &format!("/events/{id}")).await;
        if name == DRILL_EVENT {
            drill = Some(*id);
            assert_eq!(status, "New", "{}", t.name);
            assert_eq!(f["met"], false, "{}: {f}", t.name);
            let short = f["maxShortfallKw"].as_f64().unwrap();
            assert!(short > 100.0, "{}: {f}", t.name);
            assert!(!f["shortPeriods"].as_array().unwrap().is_empty());
            // The page shows the API's warnings word for word, above the actions, with the
            // shortfall in the one formatter's units.
            let warnings: Vec<&str> = f["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            assert!(!warnings.is_empty(), "{}: {f}", t.name);
            assert!(
                warnings[0].contains(&app::format::kw(short)),
                "{}: {warnings:?}",
                t.name
            );
            assert!(warnings[0].contains("CDT") || warnings[0].contains("CST"));
            let box_at = html.find("id=\"plan-warnings\"").expect("warning box");
            for w in &warnings {
                let shown = html
                    .find(&w.replace('\'', "&#x27;"))
                    .or_else(|| html.find(w));
                assert!(shown.is_some_and(|at| at > box_at), "{}: {w}", t.name);
            }
            if let Some(submit) = html.find("id=\"event-submit\"") {
                assert!(
                    box_at < submit,
                    "the warning comes before the Submit button"
                );
            }
            // The chart draws the ceiling.
            assert!(html.contains("Ceiling (objective)"), "{}", t.name);
        } else {
            assert_eq!(
                f["met"], true,
                "{}: {name} meets its objective: {f}",
                t.name
            );
            assert_eq!(f["newPeak"], false, "{}: {name}: {f}", t.name);
            assert!(f["warnings"].as_array().unwrap().is_empty());
            assert!(
                html.contains("id=\"plan-feasibility\""),
                "{}: {name}",
                t.name
            );
            assert!(!html.contains("id=\"plan-warnings\""), "{}: {name}", t.name);
        }
    }
    let drill = drill.unwrap_or_else(|| panic!("{}: the demo's drill event", t.name));

    // Submitting the drill repeats the warning in the answer.
    let page = format!("/events/{drill}");
    let res = app
        .post_form(
            &op,
            &page,
            "/fn/event_action",
            &[
                ("id", &drill.to_string()),
                ("action", "submit"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 302);
    let (_, html) = app.page(&op, &page).await;
    assert!(
        html.contains("Warning: The plan does not keep the zone under"),
        "{}",
        t.name
    );
    let audit: String = scalar(
        &t.db,
        "SELECT after_json FROM audit_log WHERE action = 'event.submit' ORDER BY id DESC LIMIT 1",
        &[],
    )
    .await;
    assert!(audit.contains("falls up to"), "{}: {audit}", t.name);
    t.cleanup().await;
}

each_backend!(an_events_peak_reduction_is_one_figure_on_every_page_and_in_the_api);
async fn an_events_peak_reduction_is_one_figure_on_every_page_and_in_the_api(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = gridflex::auth::create_token(&t.db, "test", "auditor-client", "auditor")
        .await
        .unwrap();
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let (_, list) = app.page(&auditor, "/events").await;
    let listed: Vec<serde_json::Value> = app
        .api_get(&token, "/api/v1/events")
        .await
        .json()
        .await
        .unwrap();
    for (id, name, _) in event_ids(&t).await {
        let api: serde_json::Value = app
            .api_get(&token, &format!("/api/v1/events/{id}"))
            .await
            .json()
            .await
            .unwrap();
        let peak = api["summary"]["peakReductionKw"].as_f64().unwrap();
        assert!(peak > 0.0, "{}: {name}", t.name);
        // The same figure in the list of the API, computed from the stored intervals.
        let in_list = listed.iter().find(|e| e["id"] == id).unwrap();
        assert_eq!(
            in_list["peakReductionKw"].as_f64(),
            Some(peak),
            "{}",
            t.name
        );
        let intervals = api["intervals"].as_array().unwrap();
        let ends = api["summary"]["endsAt"].as_str().unwrap();
        let from_intervals = intervals
            .iter()
            .filter(|i| i["startsAt"].as_str().unwrap() < ends)
            .map(|i| i["baselineKw"].as_f64().unwrap() - i["plannedKw"].as_f64().unwrap())
            .fold(0.0, f64::max);
        assert!((from_intervals - peak).abs() <= 0.2, "{}: {name}", t.name);
        // One formatter: the list row and the event page show the same text.
        let shown = app::format::kw(peak);
        let code = api["summary"]["code"].as_str().unwrap();
        assert!(
            row_with(&list, code).contains(&shown),
            "{}: {name} {shown}",
            t.name
        );
        let (_, html) = app.page(&auditor, &format!("/events/{id}")).await;
        assert!(
            html.contains(&format!("peak reduction {shown}")),
            "{}: {name}",
            t.name
        );
    }
    t.cleanup().await;
}
