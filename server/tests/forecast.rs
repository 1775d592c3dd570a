//! Forecasts on every backend: the zone baseline from the demo's history and weather, the
//! temperature upload (console and REST), the expected-reduction table and the forecast page.

mod common;

use chrono::Duration;
use common::*;
use gridflex::calendar::align;
use gridflex::grid::forecast::{reduction_factors, zone_baseline, HORIZON_INTERVALS};
use gridflex::grid::rollup::network_rollup;
use gridflex::grid::{device_type_index, DEVICE_TYPES};
use gridflex::with_db;
use serde_json::Value;

async fn node_id(t: &TestDb, code: &str) -> i64 {
    scalar(
        &t.db,
        "SELECT id FROM network_nodes WHERE code = $1",
        &[Arg::from(code)],
    )
    .await
}

async fn token(t: &TestDb, role: &str) -> String {
    gridflex::auth::create_token(&t.db, "test", &format!("{role}-client"), role)
        .await
        .expect("token")
}

/// A forecast CSV for the next 48 hours at a constant temperature.
fn csv_at(celsius: f64) -> String {
    let first = test_now().timestamp();
    let first = first - first.rem_euclid(3600);
    let mut out = String::from("timestamp,temperature_c\n");
    for h in 0..49 {
        let t = chrono::DateTime::from_timestamp(first + h * 3600, 0).unwrap();
        out.push_str(&format!(
            "{},{celsius}\n",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    out
}

each_backend!(the_demo_forecast_follows_temperature_and_counts_each_feeder_once);
async fn the_demo_forecast_follows_temperature_and_counts_each_feeder_once(t: TestDb) {
    with_demo(&t).await;
    let start = align(test_now());
    let sub = node_id(&t, "SUB-NORTH").await;
    let f1 = node_id(&t, "FDR-N01").await;
    let f2 = node_id(&t, "FDR-N02").await;
    let base = zone_baseline(&t.db, cal(), &[sub], start, HORIZON_INTERVALS)
        .await
        .unwrap();
    assert_eq!(base.len(), HORIZON_INTERVALS, "{}", t.name);
    assert!(
        base.iter().all(|kw| *kw > 0.0),
        "{}: load everywhere",
        t.name
    );
    // Naming a substation's feeder and transformer again adds nothing.
    let xf: i64 = scalar(
        &t.db,
        "SELECT child_id FROM network_edges WHERE parent_id = $1 AND valid_to IS NULL LIMIT 1",
        &[Arg::from(f1)],
    )
    .await;
    let again = zone_baseline(&t.db, cal(), &[sub, f1, xf], start, HORIZON_INTERVALS)
        .await
        .unwrap();
    assert_eq!(base, again, "{}: no double counting", t.name);
    // Two feeders add up.
    let a = zone_baseline(&t.db, cal(), &[f1], start, 8).await.unwrap();
    let b = zone_baseline(&t.db, cal(), &[f2], start, 8).await.unwrap();
    let ab = zone_baseline(&t.db, cal(), &[f1, f2], start, 8)
        .await
        .unwrap();
    for i in 0..8 {
        assert!((a[i] + b[i] - ab[i]).abs() < 1e-6, "{}", t.name);
    }
    // The demo's afternoon is the peak: the highest interval is not at night.
    let peak = base
        .iter()
        .enumerate()
        .max_by(|x, y| x.1.total_cmp(y.1))
        .unwrap()
        .0;
    let local_hour = cal().local_hour(start + Duration::minutes(15 * peak as i64));
    assert!(
        (12..=21).contains(&local_hour),
        "{}: peak at {local_hour} h",
        t.name
    );

    // A hotter uploaded forecast raises the baseline.
    let app = spawn_app(&t).await;
    let op = token(&t, "operator").await;
    let c = reqwest::Client::new();
    let mut totals = Vec::new();
    // The feeders' models are fitted on observed temperatures, so an uploaded forecast keeps
    // them: the new forecast is applied to the kept models.
    let inputs = gridflex::db::forecast::inputs_version(&t.db).await.unwrap();
    for celsius in [20.0, 38.0] {
        let res = c
            .put(app.url("/api/v1/weather"))
            .bearer_auth(&op)
            .header("content-type", "text/csv")
            .body(csv_at(celsius))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", t.name);
        let kw = zone_baseline(&t.db, cal(), &[f1], start, HORIZON_INTERVALS)
            .await
            .unwrap();
        totals.push(kw.iter().sum::<f64>());
    }
    assert_eq!(
        gridflex::db::forecast::inputs_version(&t.db).await.unwrap(),
        inputs,
        "{}: a forecast upload leaves the fitted models' inputs as they were",
        t.name
    );
    assert!(
        totals[1] > totals[0] * 1.1,
        "{}: hot {} vs mild {}",
        t.name,
        totals[1],
        totals[0]
    );

    // Thermostats shed more on the hot afternoon than at night; batteries are flat.
    let f = reduction_factors(&t.db, cal(), start, HORIZON_INTERVALS)
        .await
        .unwrap();
    assert_eq!(f.len(), DEVICE_TYPES.len());
    let th = &f[device_type_index("thermostat").unwrap() as usize];
    let max = th.iter().copied().fold(0.0f32, f32::max);
    let min = th.iter().copied().fold(1.0f32, f32::min);
    assert!(max >= 0.6 && min <= 0.2, "{}: {min}..{max}", t.name);
    let batt = &f[device_type_index("battery").unwrap() as usize];
    assert!(batt.iter().all(|v| (*v - 0.9).abs() < 1e-6));

    // No history: a clear error naming the feeder.
    with_db!(&t.db, |p| sqlx::query(
        "DELETE FROM feeder_load_history WHERE feeder_id = $1"
    )
    .bind(f2)
    .execute(p)
    .await
    .unwrap()
    .rows_affected());
    // As every writer of the history does, in its transaction: the models kept are refitted.
    with_db!(&t.db, |p| sqlx::query(
        "UPDATE forecast_inputs SET version = version + 1"
    )
    .execute(p)
    .await
    .unwrap()
    .rows_affected());
    let err = zone_baseline(&t.db, cal(), &[sub], start, 8)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("FDR-N02"), "{}: {err}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(the_rollup_counts_registered_devices_up_the_network);
async fn the_rollup_counts_registered_devices_up_the_network(t: TestDb) {
    with_demo(&t).await;
    // Every feeder expanded: its transformers are listed with their devices.
    let feeders: Vec<i64> = scalars(
        &t.db,
        "SELECT id FROM network_nodes WHERE kind = 'feeder'",
        &[],
    )
    .await;
    let r = network_rollup(&t.db, cal(), test_now(), &feeders)
        .await
        .unwrap();
    let registered = t
        .count("SELECT COUNT(*) FROM grid_devices WHERE status = 'registered'")
        .await;
    let subs: i64 = r
        .nodes
        .iter()
        .filter(|n| n.kind == "substation")
        .map(|n| n.registered_devices)
        .sum();
    let transformers: i64 = r
        .nodes
        .iter()
        .filter(|n| n.kind == "transformer")
        .map(|n| n.registered_devices)
        .sum();
    assert!(registered > 0);
    assert_eq!(subs, registered, "{}", t.name);
    assert_eq!(transformers, registered, "{}", t.name);
    assert!(r
        .nodes
        .iter()
        .filter(|n| n.kind != "transformer")
        .all(|n| n.forecast_peak_kw.is_some_and(|kw| kw > 0.0)));
    t.cleanup().await;
}

each_backend!(temperature_uploads_are_all_or_nothing_audited_and_for_operators);
async fn temperature_uploads_are_all_or_nothing_audited_and_for_operators(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let forecasts = "SELECT COUNT(*) FROM temperatures WHERE kind = 'forecast'";
    let audits = "SELECT COUNT(*) FROM audit_log WHERE action = 'weather.upload'";
    let before = t.count(forecasts).await;

    // Console: a good paste is stored and audited.
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let res = app
        .post_form(
            &op,
            "/forecast",
            "/fn/upload_weather",
            &[("csv", &csv_at(36.0))],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let (_, html) = app.page(&op, "/forecast").await;
    assert!(
        html.contains("Temperature forecast stored: 49 hour(s)"),
        "{}",
        t.name
    );
    assert_eq!(t.count(audits).await, 1, "{}", t.name);
    let stored = t.count(forecasts).await;
    assert!(stored >= before, "{}", t.name);
    let hot = t
        .count("SELECT COUNT(*) FROM temperatures WHERE kind = 'forecast' AND temperature_c = 36.0")
        .await;
    assert_eq!(
        hot, 49,
        "{}: the uploaded hours replace the forecast",
        t.name
    );

    // A bad line is named and nothing is stored.
    let bad = format!("{}2026-07-01T15:00:00Z,31\nnot-a-time,30\n", csv_at(12.0));
    app.post_form(&op, "/forecast", "/fn/upload_weather", &[("csv", &bad)])
        .await;
    let (_, html) = app.page(&op, "/forecast").await;
    assert!(
        html.contains("line 52: `not-a-time` is not an RFC 3339 timestamp"),
        "{}: the bad line is named",
        t.name
    );
    assert_eq!(
        t.count(
            "SELECT COUNT(*) FROM temperatures WHERE kind = 'forecast' AND temperature_c = 12.0"
        )
        .await,
        0
    );
    assert_eq!(t.count(audits).await, 1);

    // The auditor reads the page but gets no upload form, and cannot post.
    let aud = app.browser();
    app.login(&aud, "auditor", PASSWORD).await;
    let (status, html) = app.page(&aud, "/forecast").await;
    assert_eq!(status, 200);
    assert!(!html.contains("weather-upload"), "{}", t.name);
    app.post_form(
        &aud,
        "/forecast",
        "/fn/upload_weather",
        &[("csv", &csv_at(1.0))],
    )
    .await;
    let (_, html) = app.page(&aud, "/forecast").await;
    assert!(
        html.contains("your role may not upload temperature forecasts"),
        "{}",
        t.name
    );
    let pm = app.browser();
    app.login(&pm, "manager", PASSWORD).await;
    assert_eq!(app.page(&pm, "/forecast").await.0, 403, "{}", t.name);

    // REST: good, bad (line named, 400), wrong role (403), wrong media type (415).
    let c = reqwest::Client::new();
    let op_token = token(&t, "operator").await;
    let res = c
        .put(app.url("/api/v1/weather"))
        .bearer_auth(&op_token)
        .header("content-type", "text/csv")
        .body(csv_at(30.5))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    let res = c
        .get(app.url("/api/v1/weather"))
        .bearer_auth(&op_token)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert!(body["hours"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["temperatureC"] == 30.5));
    let res = c
        .put(app.url("/api/v1/weather"))
        .bearer_auth(&op_token)
        .header("content-type", "text/csv")
        .body("timestamp,temperature_c\n2026-07-01T15:00:00Z,31\n2026-07-01T16:00:00Z,warm\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .starts_with("line 3: temperature `warm`"));
    let res = c
        .put(app.url("/api/v1/weather"))
        .bearer_auth(token(&t, "program_manager").await)
        .header("content-type", "text/csv")
        .body(csv_at(20.0))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "{}", t.name);
    let res = c
        .put(app.url("/api/v1/weather"))
        .bearer_auth(&op_token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415, "{}", t.name);
    assert_eq!(t.count(audits).await, 2, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(the_reduction_table_is_edited_by_operators_validated_and_audited);
async fn the_reduction_table_is_edited_by_operators_validated_and_audited(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let id: i64 = scalar(
        &t.db,
        "SELECT id FROM reduction_factors WHERE device_type = 'battery'",
        &[],
    )
    .await;
    let id_s = id.to_string();
    let row = |share: &'static str| {
        vec![
            ("row[id]", id_s.clone()),
            ("row[device_type]", "battery".to_string()),
            ("row[hour_from]", "0".to_string()),
            ("row[hour_to]", "24".to_string()),
            ("row[temp_from_c]", "-60".to_string()),
            ("row[temp_to_c]", "60".to_string()),
            ("row[share]", share.to_string()),
        ]
    };
    let post = |client: reqwest::Client, fields: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form(&client, "/reductions", "/fn/save_reduction", &f)
                .await
        }
    };
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let res = post(op.clone(), row("0.75")).await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let (_, html) = app.page(&op, "/reductions").await;
    assert!(
        html.contains(&format!("Reduction row {id} changed")),
        "{}",
        t.name
    );
    let share: f64 = scalar(
        &t.db,
        "SELECT share FROM reduction_factors WHERE id = $1",
        &[Arg::from(id)],
    )
    .await;
    assert_eq!(share, 0.75);
    let audit: (Option<String>, Option<String>) = with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT before_json, after_json FROM audit_log WHERE action = 'reduction.change' AND entity_id = $1"
    )
    .bind(&id_s)
    .fetch_one(p)
    .await
    .unwrap()
    });
    assert!(audit.0.unwrap().contains("0.9") && audit.1.unwrap().contains("0.75"));

    // Out of range: refused with the reason, nothing changed.
    post(op.clone(), row("1.5")).await;
    let (_, html) = app.page(&op, "/reductions").await;
    assert!(
        html.contains("share: expected a fraction of nominal kW from 0 to 1, got 1.5"),
        "{}",
        t.name
    );
    let mut hours = row("0.5");
    hours[2].1 = "18".into();
    hours[3].1 = "6".into();
    post(op.clone(), hours).await;
    let (_, html) = app.page(&op, "/reductions").await;
    assert!(
        html.contains("hours: expected 0 ≤ from &lt; until ≤ 24")
            || html.contains("hours: expected 0 ≤ from < until ≤ 24"),
        "{}",
        t.name
    );
    assert_eq!(
        t.count(
            "SELECT COUNT(*) FROM reduction_factors WHERE share = 0.5 AND device_type = 'battery'"
        )
        .await,
        0
    );

    // Adding a row, then removing it, both audited.
    let mut new_row = row("0.4");
    new_row[0].1 = String::new();
    new_row[1].1 = "pool_pump".into();
    post(op.clone(), new_row).await;
    let added: i64 = scalar(&t.db, "SELECT MAX(id) FROM reduction_factors", &[]).await;
    let res = app
        .post_form(
            &op,
            "/reductions",
            "/fn/delete_reduction",
            &[("id", &added.to_string())],
        )
        .await;
    assert_eq!(res.status(), 302);
    assert_eq!(
        t.count(
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('reduction.add', 'reduction.delete')"
        )
        .await,
        2
    );

    // Program managers and auditors read; their posts are refused.
    for user in ["manager", "auditor"] {
        let c = app.browser();
        app.login(&c, user, PASSWORD).await;
        let (status, html) = app.page(&c, "/reductions").await;
        assert_eq!(status, 200, "{}: {user}", t.name);
        assert!(
            html.contains("water_heater") && !html.contains("reduction-new"),
            "{user}"
        );
        post(c.clone(), row("0.1")).await;
        let (_, html) = app.page(&c, "/reductions").await;
        assert!(
            html.contains("your role may not edit the expected-reduction table"),
            "{user}"
        );
    }
    assert_eq!(
        t.count("SELECT COUNT(*) FROM reduction_factors WHERE share = 0.1")
            .await,
        0
    );
    drop(app);
    t.cleanup().await;
}

each_backend!(the_forecast_page_draws_the_zone_chart);
async fn the_forecast_page_draws_the_zone_chart(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let sub = node_id(&t, "SUB-RIVER").await;
    let feeder = node_id(&t, "FDR-R02").await;
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let (status, html) = app
        .page(&op, &format!("/forecast?node={sub}&node={feeder}"))
        .await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(html.contains("<svg"), "{}: chart drawn", t.name);
    assert!(html.contains("id=\"forecast-chart\""));
    assert!(html.contains("192 intervals"), "{}", t.name);
    assert!(html.contains("id=\"rollup\""));
    assert!(html.contains("weather-upload"), "operators may upload");
    // Without a zone: the picker and the roll-up, no chart; a bad node id is a 400.
    let (status, html) = app.page(&op, "/forecast").await;
    assert_eq!(status, 200);
    assert!(html.contains("zone-picker") && !html.contains("<svg"));
    assert_eq!(app.page(&op, "/forecast?node=abc").await.0, 400);
    assert_eq!(app.page(&op, "/forecast?node=999999").await.0, 404);
    drop(app);
    t.cleanup().await;
}

each_backend!(a_forecast_is_fitted_again_once_its_history_changes);
/// Fitted models are kept between requests; a change to the history (made as every writer
/// makes it, with `inputs_changed` in its transaction) is in the very next forecast.
async fn a_forecast_is_fitted_again_once_its_history_changes(t: TestDb) {
    with_demo(&t).await;
    let start = align(test_now());
    let f1 = node_id(&t, "FDR-N01").await;
    let before = zone_baseline(&t.db, cal(), &[f1], start, 8).await.unwrap();
    let kept = zone_baseline(&t.db, cal(), &[f1], start, 8).await.unwrap();
    assert_eq!(before, kept, "{}: the kept model forecasts alike", t.name);
    let mut tx = t.db.begin().await.unwrap();
    gridflex::with_tx!(&mut tx, |c| sqlx::query(
        "UPDATE feeder_load_history SET kw = kw * 2 WHERE feeder_id = $1"
    )
    .bind(f1)
    .execute(c)
    .await
    .unwrap()
    .rows_affected());
    gridflex::db::forecast::inputs_changed(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let after = zone_baseline(&t.db, cal(), &[f1], start, 8).await.unwrap();
    for i in 0..8 {
        assert!(
            after[i] > before[i] * 1.5,
            "{}: interval {i}: {} then {} with the history doubled",
            t.name,
            before[i],
            after[i]
        );
    }
    t.cleanup().await;
}
