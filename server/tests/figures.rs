//! The demo's events tell the truth at a glance: each plan's feasibility (met, or the
//! shortfall and its local periods; rebound above the pre-event peak) reads the same on the
//! event page, in the REST answer and in the answer to submit; the demo's strategies are
//! feasible and its one drill event warns on purpose; and each figure of `gridflex::figures`
//! — peak reduction, expected reduction, enrolled load, credit — is one number on every page,
//! in the API and in CSV, checked against its definition read straight from the tables.
//! Every backend.

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

/// The part of `html` from the element with this id on.
fn from_id<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id} in the page"));
    &html[at..]
}

/// The text of the element with this id (up to its first tag).
fn text_of(html: &str, id: &str) -> String {
    let rest = from_id(html, id);
    let open = rest.find('>').unwrap() + 1;
    let close = rest[open..].find('<').unwrap();
    rest[open..open + close].replace("&#x27;", "'")
}

async fn json(app: &TestApp, token: &str, path: &str) -> serde_json::Value {
    let res = app.api_get(token, path).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

each_backend!(an_events_expected_reduction_is_one_figure_on_every_page_and_in_the_api);
async fn an_events_expected_reduction_is_one_figure_on_every_page_and_in_the_api(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = gridflex::auth::create_token(&t.db, "test", "auditor-client", "auditor")
        .await
        .unwrap();
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let (mut reports, mut staged) = (0, 0);
    for (id, name, status) in event_ids(&t).await {
        let api = json(&app, &token, &format!("/api/v1/events/{id}")).await;
        let stages = api["stages"].as_array().unwrap();
        staged += stages.len();
        let (_, page) = app.page(&auditor, &format!("/events/{id}")).await;
        let table = from_id(&page, "stages");
        let ended = status == "Completed" || status == "Canceled";
        let report = if ended {
            reports += 1;
            let r = json(&app, &token, &format!("/api/v1/reports/events/{id}")).await;
            let (_, html) = app.page(&auditor, &format!("/reports/events/{id}")).await;
            Some((r, html))
        } else {
            None
        };
        for st in stages {
            let ext = st["externalId"].as_str().unwrap();
            let kw = st["expectedKw"].as_f64().unwrap();
            // The definition: the stage's reserved devices' expected kW, to 0.1 kW.
            let stored: f64 = scalar(
                &t.db,
                "SELECT expected_kw FROM event_stages WHERE external_id = $1",
                &[Arg::Text(ext.into())],
            )
            .await;
            assert_eq!(kw, (stored * 10.0).round() / 10.0, "{}: {ext}", t.name);
            let shown = app::format::kw(kw);
            assert!(
                row_with(table, &format!("{ext}<")).contains(&shown),
                "{}: {ext} shows {shown} on the event page",
                t.name
            );
            if let Some((r, html)) = &report {
                let in_report = r["stages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["externalId"] == ext)
                    .unwrap();
                assert_eq!(in_report["expectedKw"].as_f64(), Some(kw), "{}", t.name);
                assert!(
                    row_with(from_id(html, "report-stages"), &format!(">{ext}<")).contains(&shown),
                    "{}: {ext} in the report",
                    t.name
                );
            }
        }
        if let Some((r, html)) = &report {
            // The event's expected energy: counted stages' expected kW over their lengths.
            let rows: Vec<(
                f64,
                chrono::DateTime<chrono::Utc>,
                chrono::DateTime<chrono::Utc>,
                String,
            )> = gridflex::with_db!(&t.db, |p| {
                sqlx::query_as(
                    "SELECT expected_kw, starts_at, ends_at, status FROM event_stages WHERE event_id = $1"
                )
                .bind(id)
                .fetch_all(p)
                .await
                .unwrap()
            });
            let kwh: f64 = rows
                .iter()
                .filter(|r| r.3 != "canceled")
                .map(|r| r.0 * (r.2 - r.1).num_seconds() as f64 / 3600.0)
                .sum();
            let expected = r["expectedKwh"].as_f64().unwrap();
            assert_eq!(expected, (kwh * 10.0).round() / 10.0, "{}: {name}", t.name);
            assert!(
                text_of(html, "expected-reduction").starts_with(&app::format::kwh(expected)),
                "{}: {name}",
                t.name
            );
            assert_eq!(
                r["expectedPeakKw"].as_f64(),
                api["summary"]["peakReductionKw"].as_f64(),
                "{}: {name}",
                t.name
            );
        }
    }
    assert!(reports > 0, "{}: the demo has ended events", t.name);
    assert!(staged > 0, "{}: the demo's events have stages", t.name);
    t.cleanup().await;
}

each_backend!(
    a_substations_enrolled_load_is_one_figure_on_the_network_and_forecast_pages_and_in_the_api
);
async fn a_substations_enrolled_load_is_one_figure_on_the_network_and_forecast_pages_and_in_the_api(
    t: TestDb,
) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = gridflex::auth::create_token(&t.db, "test", "auditor-client", "auditor")
        .await
        .unwrap();
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let net = json(&app, &token, "/api/v1/network").await;
    let (_, network) = app.page(&auditor, "/network").await;
    let (_, forecast) = app.page(&auditor, "/forecast").await;
    let subs = net["substations"].as_array().unwrap();
    assert!(!subs.is_empty(), "{}", t.name);
    let (mut registrations_differ, mut enrolled) = (false, 0);
    for s in subs {
        let code = s["node"]["code"].as_str().unwrap();
        let kw = s["enrolledKw"].as_f64().unwrap();
        let devices = s["enrolledDevices"].as_i64().unwrap();
        // The definition, from the program side's tables: active devices of ACTIVE
        // enrollments under the substation's feeders (matched to the grid's by code).
        let (n, raw): (i64, f64) = gridflex::with_db!(&t.db, |p| sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(d.nominal_kw), 0.0)
             FROM enrollments e
             JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
             JOIN devices d ON d.id = ed.device_id
             JOIN program_network_nodes f ON f.id = e.feeder_id
             JOIN network_current gf ON gf.code = f.code AND gf.kind = 'feeder'
             JOIN network_current gs ON gs.id = gf.parent_id
             WHERE gs.code = $1 AND e.status = 'ACTIVE' AND d.status = 'active'"
        )
        .bind(code)
        .fetch_one(p)
        .await
        .unwrap());
        enrolled += n;
        assert_eq!(devices, n, "{}: {code}", t.name);
        assert_eq!(kw, (raw * 10.0).round() / 10.0, "{}: {code}", t.name);
        let (shown_kw, shown_n) = (app::format::kw(kw), app::format::thousands(n as f64, 0));
        for (page, table, needle) in [
            ("network", from_id(&network, "network"), format!(">{code}<")),
            (
                "forecast",
                from_id(&forecast, "rollup"),
                format!(">{code}<"),
            ),
        ] {
            let row = row_with(table, &needle);
            assert!(
                row.contains(&format!(">{shown_kw}<")) && row.contains(&format!(">{shown_n}<")),
                "{}: {code} shows {shown_n} devices, {shown_kw} on the {page} page: {row}",
                t.name
            );
        }
        // The grid's own registrations are another figure (shown as registered devices).
        let registered: f64 = gridflex::with_db!(&t.db, |p| sqlx::query_scalar(
            "SELECT COALESCE(SUM(g.nominal_kw), 0.0) FROM grid_devices g
             JOIN network_current tr ON tr.id = g.transformer_id
             JOIN network_current f ON f.id = tr.parent_id
             JOIN network_current s ON s.id = f.parent_id
             WHERE s.code = $1 AND g.status = 'registered'"
        )
        .bind(code)
        .fetch_one(p)
        .await
        .unwrap());
        registrations_differ |= app::format::kw(registered) != shown_kw;
    }
    assert!(enrolled > 0, "{}: the demo has enrolled devices", t.name);
    // Were a page to sum the grid's registrations instead, this test would see it.
    assert!(registrations_differ, "{}", t.name);
    t.cleanup().await;
}

/// The sum of the `credit` column of a CSV, per value of `by` (all rows under "").
fn csv_credit(csv: &str, by: Option<&str>) -> std::collections::BTreeMap<String, f64> {
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let head = r.headers().unwrap().clone();
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let credit = col("credit");
    let key = by.map(col);
    let mut out = std::collections::BTreeMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        let k = key.map(|k| rec[k].to_string()).unwrap_or_default();
        *out.entry(k).or_insert(0.0) += rec[credit].parse::<f64>().unwrap();
    }
    out
}

fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

each_backend!(credit_is_one_figure_on_the_report_and_settlement_pages_in_the_api_and_in_csv);
async fn credit_is_one_figure_on_the_report_and_settlement_pages_in_the_api_and_in_csv(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = gridflex::auth::create_token(&t.db, "test", "auditor-client", "auditor")
        .await
        .unwrap();
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let get_csv = |path: String| {
        let auditor = auditor.clone();
        let url = app.url(&path);
        async move {
            let res = auditor.get(url).send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            res.text().await.unwrap()
        }
    };
    let overview = json(&app, &token, "/api/v1/settlements").await;
    let events = overview["events"].as_array().unwrap();
    let mut credited = 0;
    for ev in events {
        let code = ev["eventCode"].as_str().unwrap();
        let credit = ev["credit"].as_f64().unwrap();
        // The definition: the stored results' credits, to the cent.
        let stored: f64 = scalar(
            &t.db,
            "SELECT COALESCE(SUM(credit), 0.0) FROM settlements WHERE event_code = $1",
            &[Arg::Text(code.into())],
        )
        .await;
        assert_eq!(credit, cents(stored), "{}: {code}", t.name);
        if credit > 0.0 {
            credited += 1;
        }
        let money = app::format::money(credit);
        let detail = json(&app, &token, &format!("/api/v1/settlements/events/{code}")).await;
        assert_eq!(
            detail["event"]["credit"].as_f64(),
            Some(credit),
            "{}",
            t.name
        );
        let (_, page) = app
            .page(&auditor, &format!("/settlements/events/{code}"))
            .await;
        assert_eq!(
            text_of(&page, "settlement-credit"),
            money,
            "{}: {code}",
            t.name
        );
        let id: i64 = scalar(
            &t.db,
            "SELECT id FROM events WHERE code = $1",
            &[Arg::Text(code.into())],
        )
        .await;
        let report = json(&app, &token, &format!("/api/v1/reports/events/{id}")).await;
        assert_eq!(report["creditTotal"].as_f64(), Some(credit), "{}", t.name);
        assert_eq!(
            report["creditProvisional"].as_f64(),
            ev["provisionalCredit"].as_f64(),
            "{}",
            t.name
        );
        let (_, html) = app.page(&auditor, &format!("/reports/events/{id}")).await;
        assert_eq!(text_of(&html, "credits-total"), money, "{}: {code}", t.name);
        // The CSV: one line per enrollment; per program and in all, the same sums.
        let csv = get_csv(format!("/reports/events/{id}.csv")).await;
        let all = csv_credit(&csv, None);
        assert_eq!(cents(all.values().sum()), credit, "{}: {code}", t.name);
        let per_program = csv_credit(&csv, Some("program_code"));
        for p in report["byProgram"].as_array().unwrap() {
            let program = p["programCode"].as_str().unwrap();
            let in_csv = per_program.get(program).copied().unwrap_or(0.0);
            assert_eq!(
                p["credit"].as_f64(),
                Some(cents(in_csv)),
                "{}: {code} {program}",
                t.name
            );
        }
    }
    assert!(
        credited > 0,
        "{}: the demo's past events earn credits",
        t.name
    );

    // A program's season: the settlement page, the season report, both REST answers and the
    // billing export.
    for p in overview["programs"].as_array().unwrap() {
        let code = p["code"].as_str().unwrap();
        let credit = p["credit"].as_f64().unwrap();
        let money = app::format::money(credit);
        let season = json(
            &app,
            &token,
            &format!("/api/v1/settlements/programs/{code}"),
        )
        .await;
        assert_eq!(
            season["program"]["credit"].as_f64(),
            Some(credit),
            "{}",
            t.name
        );
        let report = json(&app, &token, &format!("/api/v1/reports/programs/{code}")).await;
        assert_eq!(
            report["creditTotal"].as_f64(),
            Some(credit),
            "{}: {code}",
            t.name
        );
        let (_, page) = app
            .page(&auditor, &format!("/settlements/programs/{code}"))
            .await;
        assert_eq!(text_of(&page, "season-credit"), money, "{}: {code}", t.name);
        let (_, html) = app
            .page(&auditor, &format!("/reports/programs/{code}"))
            .await;
        assert_eq!(text_of(&html, "credits-total"), money, "{}: {code}", t.name);
        let res = app
            .api_get(
                &token,
                &format!("/api/v1/settlements/programs/{code}/billing.csv"),
            )
            .await;
        assert_eq!(res.status(), 200, "{}", t.name);
        let billing = csv_credit(&res.text().await.unwrap(), None);
        assert_eq!(cents(billing.values().sum()), credit, "{}: {code}", t.name);
    }
    t.cleanup().await;
}
