//! The console over HTTP, as a browser without JavaScript uses it, on every backend.

mod common;

use common::*;

/// The number in `#result-count` (text nodes may be split by Leptos markers).
fn result_count(html: &str) -> i64 {
    let at = html.find("id=\"result-count\"").expect("result count");
    let start = at + html[at..].find('>').expect("tag end") + 1;
    let end = start + html[start..].find("</p>").expect("end of count");
    let digits: String = html[start..end]
        .split('<')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    digits.parse().expect("a number")
}

each_backend!(each_role_signs_in_and_lands_on_its_home);
async fn each_role_signs_in_and_lands_on_its_home(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    for (user, role) in [
        ("manager", "program_manager"),
        ("operator", "operator"),
        ("approver", "approver"),
        ("auditor", "auditor"),
        ("admin", "admin"),
    ] {
        let c = app.browser();
        assert_eq!(
            app.login(&c, user, PASSWORD).await,
            "/home",
            "{} {user}",
            t.name
        );
        let (status, html) = app.page(&c, "/home").await;
        assert_eq!(status, 200);
        assert!(
            html.contains(&format!("data-home=\"{role}\"")),
            "{} {user} home",
            t.name
        );
    }
    drop(app);
    t.cleanup().await;
}

each_backend!(a_wrong_password_is_refused_with_a_message);
async fn a_wrong_password_is_refused_with_a_message(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let c = app.browser();
    assert_eq!(app.login(&c, "manager", "not-the-password").await, "/login");
    let (_, html) = app.page(&c, "/login").await;
    assert!(html.contains("Wrong username or password."), "{}", t.name);
    // Not signed in: pages send you to sign in.
    let res = c
        .get(app.url("/enrollments"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?next="));
    drop(app);
    t.cleanup().await;
}

each_backend!(a_form_post_without_its_csrf_token_is_refused);
async fn a_form_post_without_its_csrf_token_is_refused(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let c = app.browser();
    app.page(&c, "/login").await;
    let res = c
        .post(app.url("/fn/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=manager&password=gridflex-demo")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "{}", t.name);
    let wrong = c
        .post(app.url("/fn/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&username=manager&password=gridflex-demo",
            "0".repeat(64)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    // Still not signed in.
    let (status, _) = app.page(&c, "/home").await;
    assert_eq!(status, 302);
    drop(app);
    t.cleanup().await;
}

each_backend!(the_auditor_is_refused_admin_pages_and_sees_masked_personal_data);
async fn the_auditor_is_refused_admin_pages_and_sees_masked_personal_data(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let (status, html) = app.page(&auditor, "/admin/users").await;
    assert_eq!(status, 403, "{}", t.name);
    assert!(html.contains("Not allowed"));
    assert!(
        !html.contains("href=\"/admin/users\""),
        "no Users link for the auditor"
    );
    let (status, html) = app.page(&auditor, "/enrollments/1").await;
    assert_eq!(status, 200);
    assert!(html.contains("••••••"));
    assert!(
        !html.contains("@example.com"),
        "email hidden from the auditor"
    );

    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let (_, html) = app.page(&manager, "/enrollments/1").await;
    assert!(
        html.contains("@example.com"),
        "the program manager sees the email"
    );
    drop(app);
    t.cleanup().await;
}

each_backend!(the_enrollment_list_filters_by_program_and_feeder_and_pages_by_keyset);
async fn the_enrollment_list_filters_by_program_and_feeder_and_pages_by_keyset(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let c = app.browser();
    app.login(&c, "manager", PASSWORD).await;
    let feeder: i64 = scalar(&t.db, "SELECT feeder_id FROM enrollments WHERE program_id = 1 GROUP BY feeder_id ORDER BY COUNT(*) DESC LIMIT 1", &[]).await;
    let feeder_code: String = scalar(
        &t.db,
        "SELECT code FROM program_network_nodes WHERE id = $1",
        &[Arg::from(feeder)],
    )
    .await;
    let expected: i64 = scalar(
        &t.db,
        "SELECT COUNT(*) FROM enrollments WHERE program_id = 1 AND feeder_id = $1",
        &[Arg::from(feeder)],
    )
    .await;
    assert!(expected > 3);
    let (status, html) = app
        .page(
            &c,
            &format!("/enrollments?program=1&feeder={feeder}&limit=2"),
        )
        .await;
    assert_eq!(status, 200, "{}", t.name);
    assert_eq!(result_count(&html), expected, "{}: total shown", t.name);
    assert_eq!(
        html.matches(">SMT-BYOD</a>").count(),
        2,
        "two rows of the program on the page"
    );
    assert!(html.contains(&format!("/ {feeder_code}")));
    let next = html.split("rel=\"next\"").next().unwrap();
    let href_start = next.rfind("href=\"").unwrap() + 6;
    let href =
        &next[href_start..next[href_start..].find('"').unwrap() + href_start].replace("&amp;", "&");
    assert!(
        href.contains("after="),
        "next page link carries the cursor: {href}"
    );
    let (status, page2) = app.page(&c, href).await;
    assert_eq!(status, 200);
    assert!(page2.contains("First page"));

    let csv = c
        .get(app.url(&format!("/enrollments.csv?program=1&feeder={feeder}")))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let body = csv.text().await.unwrap();
    assert_eq!(
        body.lines().count() as i64,
        expected + 1,
        "header plus one line per enrollment"
    );
    assert!(body
        .lines()
        .skip(1)
        .all(|l| l.contains(",SMT-BYOD,") && l.contains(&format!(",{feeder_code},"))));

    // A name that a spreadsheet would run as a formula is exported as text.
    let first_enrollment = body.lines().nth(1).unwrap().split(',').next().unwrap();
    let formula = "=HYPERLINK(\"http://example.invalid\";\"click\")";
    gridflex::with_db!(&t.db, |p| {
        sqlx::query(
        "UPDATE customers SET name = $1 WHERE id = (SELECT customer_id FROM enrollments WHERE id = $2)"
    )
    .bind(formula)
    .bind(first_enrollment.parse::<i64>().unwrap())
    .execute(p)
    .await
    .unwrap()
        .rows_affected()
    });
    let body = c
        .get(app.url(&format!("/enrollments.csv?program=1&feeder={feeder}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("'=HYPERLINK("),
        "the formula is prefixed with an apostrophe: {}",
        body.lines().nth(1).unwrap_or_default()
    );
    assert!(!body.contains(",\"=HYPERLINK") && !body.contains(",=HYPERLINK"));
    drop(app);
    t.cleanup().await;
}

each_backend!(bad_query_parameters_and_unknown_ids_get_clear_errors);
async fn bad_query_parameters_and_unknown_ids_get_clear_errors(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let c = app.browser();
    app.login(&c, "manager", PASSWORD).await;
    let (status, html) = app.page(&c, "/enrollments?program=abc").await;
    assert_eq!(status, 400);
    assert!(html.contains("query parameter `program`"));
    let (status, _) = app.page(&c, "/enrollments?colour=red").await;
    assert_eq!(status, 400);
    let (status, html) = app.page(&c, "/enrollments/987654321").await;
    assert_eq!(status, 404);
    assert!(html.contains("enrollment 987654321 not found"));
    let (status, _) = app.page(&c, "/devices/not-a-number").await;
    assert_eq!(status, 404);
    let (status, _) = app.page(&c, "/no/such/page").await;
    assert_eq!(status, 404);
    let (status, _) = app.page(&c, "/enrollments?limit=100000").await;
    assert_eq!(status, 400);
    let csv = c
        .get(app.url("/enrollments.csv?status=MAYBE"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 400);
    // An oversized form is refused without harm.
    let big = "x".repeat(2 * 1024 * 1024);
    let res = c
        .post(app.url("/fn/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    drop(app);
    t.cleanup().await;
}

each_backend!(an_admin_creates_disables_and_resets_users);
async fn an_admin_creates_disables_and_resets_users(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let res = app
        .post_form(
            &admin,
            "/admin/users",
            "/fn/create_user",
            &[
                ("username", "nadia"),
                ("display_name", "Nadia Network"),
                ("role", "operator"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let (_, html) = app.page(&admin, "/admin/users").await;
    assert!(
        html.contains("User nadia created."),
        "{}: confirmation shown",
        t.name
    );
    assert!(html.contains("data-username=\"nadia\""));

    // A weak password is refused with the reason, and nothing is created.
    app.post_form(
        &admin,
        "/admin/users",
        "/fn/create_user",
        &[
            ("username", "weak"),
            ("display_name", "Weak"),
            ("role", "operator"),
            ("password", "short"),
        ],
    )
    .await;
    let (_, html) = app.page(&admin, "/admin/users").await;
    assert!(html.contains("at least 12 characters"));
    assert!(!html.contains("data-username=\"weak\""));

    let nadia = app.browser();
    assert_eq!(
        app.login(&nadia, "nadia", "a long enough password").await,
        "/home"
    );
    let id: i64 = scalar(&t.db, "SELECT id FROM users WHERE username = 'nadia'", &[]).await;
    let id_s = id.to_string();
    app.post_form(
        &admin,
        "/admin/users",
        "/fn/set_user_disabled",
        &[("user_id", &id_s), ("disabled", "true")],
    )
    .await;
    // Her open session ends, and she cannot sign in again.
    let (status, _) = app.page(&nadia, "/home").await;
    assert_eq!(status, 302, "{}: a disabled user's session ends", t.name);
    assert_eq!(
        app.login(&app.browser(), "nadia", "a long enough password")
            .await,
        "/login"
    );

    app.post_form(
        &admin,
        "/admin/users",
        "/fn/set_user_disabled",
        &[("user_id", &id_s), ("disabled", "false")],
    )
    .await;
    app.post_form(
        &admin,
        "/admin/users",
        "/fn/reset_password",
        &[("user_id", &id_s), ("password", "another long password")],
    )
    .await;
    assert_eq!(
        app.login(&app.browser(), "nadia", "another long password")
            .await,
        "/home"
    );

    // A non-admin cannot call the admin functions even with a valid token.
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    app.post_form(
        &manager,
        "/home",
        "/fn/set_user_disabled",
        &[("user_id", &id_s), ("disabled", "true")],
    )
    .await;
    let disabled: bool = scalar(
        &t.db,
        "SELECT disabled FROM users WHERE id = $1",
        &[Arg::from(id)],
    )
    .await;
    assert!(
        !disabled,
        "{}: the manager's attempt changed nothing",
        t.name
    );

    let actions: Vec<String> = scalars(
        &t.db,
        "SELECT action FROM audit_log WHERE entity_type = 'user' AND entity_id = $1 ORDER BY id",
        &[Arg::from(&id_s)],
    )
    .await;
    assert_eq!(
        actions,
        [
            "user.create",
            "user.disable",
            "user.enable",
            "user.password_reset"
        ]
    );
    drop(app);
    t.cleanup().await;
}

each_backend!(repeated_failed_sign_ins_lock_the_account_for_a_while);
async fn repeated_failed_sign_ins_lock_the_account_for_a_while(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    for _ in 0..5 {
        app.login(&app.browser(), "approver", "wrong password!")
            .await;
    }
    // Even the right password waits now.
    let c = app.browser();
    assert_eq!(
        app.login(&c, "approver", PASSWORD).await,
        "/login",
        "{}",
        t.name
    );
    let (_, html) = app.page(&c, "/login").await;
    assert!(html.contains("too many failed sign-ins"), "{}", t.name);

    // A name that is no account answers exactly alike, so lockouts do not reveal names.
    for _ in 0..5 {
        app.login(&app.browser(), "no-such-approver", "wrong password!")
            .await;
    }
    let c = app.browser();
    app.login(&c, "no-such-approver", PASSWORD).await;
    let (_, html) = app.page(&c, "/login").await;
    assert!(
        html.contains("too many failed sign-ins"),
        "{}: an unknown name is locked like a real one",
        t.name
    );
    drop(app);
    t.cleanup().await;
}

each_backend!(signing_out_ends_the_session);
async fn signing_out_ends_the_session(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let c = app.browser();
    app.login(&c, "operator", PASSWORD).await;
    let res = app.post_form(&c, "/home", "/fn/logout", &[]).await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/login");
    let (status, _) = app.page(&c, "/home").await;
    assert_eq!(status, 302, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(unknown_routes_answer_404_and_wrong_methods_405);
async fn unknown_routes_answer_404_and_wrong_methods_405(t: TestDb) {
    let app = spawn_app(&t).await;
    let token = gridflex::auth::create_token(&t.db, "test", "probe", "auditor")
        .await
        .unwrap();
    let c = reqwest::Client::new();
    let problem = |res: reqwest::Response| async move {
        let status = res.status().as_u16();
        let kind = res.headers()["content-type"].to_str().unwrap().to_string();
        let body: serde_json::Value = res.json().await.unwrap();
        (status, kind, body)
    };

    // A bearer client posting to a path that does not exist: 404, not a CSRF refusal.
    let res = c
        .post(app.url("/no/such/path"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let (status, kind, body) = problem(res).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(kind, "application/problem+json");
    assert!(body["detail"].as_str().unwrap().contains("/no/such/path"));

    // Unknown API paths, with or without a token.
    for auth in [true, false] {
        let mut req = c.get(app.url("/api/v1/no-such-thing"));
        if auth {
            req = req.bearer_auth(&token);
        }
        let (status, kind, _) = problem(req.send().await.unwrap()).await;
        assert_eq!((status, kind.as_str()), (404, "application/problem+json"));
    }

    // A browser asking for a page that does not exist gets the console's page.
    let res = c
        .get(app.url("/no/such/page"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    // A known API path with the wrong method.
    let res = c
        .delete(app.url("/api/v1/enrollments"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    drop(app);
    t.cleanup().await;
}

each_backend!(a_server_function_called_without_a_form_answers_refusals_with_their_status);
async fn a_server_function_called_without_a_form_answers_refusals_with_their_status(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let c = app.browser();
    app.login(&c, "operator", PASSWORD).await;
    let csrf = app.csrf(&c, "/home").await;
    let call = |fields: Vec<(&'static str, &'static str)>| {
        let mut body = vec![("csrf", csrf.clone())];
        body.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        c.post(app.url("/fn/create_user"))
            .header("accept", "application/json")
            .form(&body)
            .send()
    };
    // An operator may not manage users: 403, not a server error.
    let res = call(vec![
        ("username", "mallory"),
        ("display_name", "Mallory"),
        ("role", "admin"),
        ("password", "a long enough password"),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("Forbidden"));
    // A call that cannot be read: 400.
    let res = call(vec![("username", "mallory")]).await.unwrap();
    assert_eq!(res.status(), 400);
    drop(app);
    t.cleanup().await;
}

each_backend!(behind_a_trusted_proxy_throttling_counts_the_forwarded_client);
async fn behind_a_trusted_proxy_throttling_counts_the_forwarded_client(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app_configured(&t, gridflex::grid::console::GridSettings::default(), |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]
    })
    .await;
    // Signs in as `user` from `client` (as the proxy reports it); returns the page's message.
    let sign_in = |user: &'static str, password: &'static str, client: &'static str| {
        let app = &app;
        async move {
            let c = app.browser();
            let csrf = app.csrf(&c, "/login").await;
            let res = c
                .post(app.url("/fn/login"))
                .header("accept", "text/html")
                .header("referer", app.url("/login"))
                .header("x-forwarded-for", client)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("username", user),
                    ("password", password),
                    ("next", ""),
                ])
                .send()
                .await
                .unwrap();
            let to = res.headers()["location"].to_str().unwrap().to_string();
            (to, app.page(&c, "/login").await.1)
        }
    };
    // Twenty failures from one client behind the proxy (spread over names, so no account locks).
    let names = ["a1", "a2", "a3", "a4"];
    for i in 0..20 {
        sign_in(names[i % 4], "wrong password!", "203.0.113.5").await;
    }
    let (to, html) = sign_in("operator", PASSWORD, "203.0.113.5").await;
    assert_eq!(to, "/login", "{}: that client waits", t.name);
    assert!(html.contains("too many failed sign-ins"), "{}", t.name);
    // Everyone else behind the same proxy still signs in.
    let (to, _) = sign_in("operator", PASSWORD, "203.0.113.9").await;
    assert_ne!(to, "/login", "{}: another client is not locked out", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(the_admin_sees_the_api_tokens_and_revokes_one);
async fn the_admin_sees_the_api_tokens_and_revokes_one(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    // Wall clock: token expiry is access control and checked against real time.
    let soon = chrono::Utc::now() + chrono::Duration::days(90);
    let exporter = gridflex::auth::create_expiring_token(
        &t.db,
        "test",
        "billing-export",
        "auditor",
        Some(soon),
        None,
    )
    .await
    .unwrap();
    gridflex::auth::create_expiring_token(
        &t.db,
        "test",
        "grid-peer",
        "integration",
        None,
        Some("grid"),
    )
    .await
    .unwrap();
    let api = reqwest::Client::new();
    let programs = |token: String| {
        let req = api.get(app.url("/api/v1/programs")).bearer_auth(token);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(programs(exporter.clone()).await, 200, "{}", t.name);

    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let (status, html) = app.page(&admin, "/admin/users").await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(
        html.contains("id=\"tokens\""),
        "{}: the token table",
        t.name
    );
    assert!(html.contains("data-token=\"billing-export\""));
    assert!(html.contains("data-token=\"grid-peer\""));
    assert!(html.contains("grid side"), "{}: the scope is shown", t.name);
    assert!(
        html.contains(&soon.format("%Y-%m-%d").to_string()),
        "{}: the expiry is shown",
        t.name
    );
    assert!(!html.contains(&exporter), "a token's value is never shown");

    // Not without the form's CSRF token.
    let res = admin
        .post(app.url("/fn/revoke_token"))
        .header("accept", "text/html")
        .form(&[("name", "billing-export")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "{}", t.name);
    assert_eq!(programs(exporter.clone()).await, 200);

    // Other roles neither see nor revoke tokens.
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let (_, html) = app.page(&manager, "/admin/users").await;
    assert!(!html.contains("billing-export"), "{}", t.name);
    app.post_form(
        &manager,
        "/home",
        "/fn/revoke_token",
        &[("name", "billing-export")],
    )
    .await;
    assert_eq!(
        programs(exporter.clone()).await,
        200,
        "{}: the manager's attempt changed nothing",
        t.name
    );
    let csrf = app.csrf(&manager, "/home").await;
    let res = manager
        .post(app.url("/fn/list_tokens"))
        .header("accept", "application/json")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        403,
        "{}: a non-admin is refused the list",
        t.name
    );

    // The admin revokes: the token stops working at once, and the revocation is audited.
    let res = app
        .post_form(
            &admin,
            "/admin/users",
            "/fn/revoke_token",
            &[("name", "billing-export")],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let (_, html) = app.page(&admin, "/admin/users").await;
    assert!(html.contains("Token billing-export revoked"), "{}", t.name);
    let row = &html[html.find("data-token=\"billing-export\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("revoked"), "{}: {row}", t.name);
    assert!(!row.contains("Revoke"), "{}: no second revoke", t.name);
    assert_eq!(programs(exporter).await, 401, "{}", t.name);
    let audited: Vec<(String, String)> = gridflex::with_db!(&t.db, |p| sqlx::query_as(
        "SELECT actor, entity_id FROM audit_log WHERE action = 'token.revoke'"
    )
    .fetch_all(p)
    .await
    .unwrap());
    assert_eq!(
        audited,
        [("admin".to_string(), "billing-export".to_string())]
    );
    // Revoking it again names what is wrong.
    app.post_form(
        &admin,
        "/admin/users",
        "/fn/revoke_token",
        &[("name", "billing-export")],
    )
    .await;
    let (_, html) = app.page(&admin, "/admin/users").await;
    assert!(
        html.contains("active token `billing-export`"),
        "{}: not found is said",
        t.name
    );
    drop(app);
    t.cleanup().await;
}

/// The client address of the newest audit record of `action`.
async fn audited_address(t: &TestDb, action: &str) -> Option<String> {
    scalar(
        &t.db,
        "SELECT client_address FROM audit_log WHERE action = $1 ORDER BY id DESC LIMIT 1",
        &[Arg::from(action)],
    )
    .await
}

each_backend!(the_audit_log_records_the_forwarded_client_only_behind_a_trusted_proxy);
async fn the_audit_log_records_the_forwarded_client_only_behind_a_trusted_proxy(t: TestDb) {
    with_demo(&t).await;
    let pending: Vec<i64> = scalars(
        &t.db,
        "SELECT id FROM enrollments WHERE status = 'PENDING' ORDER BY id LIMIT 2",
        &[],
    )
    .await;
    let pm = gridflex::auth::create_token(&t.db, "test", "pm-client", "program_manager")
        .await
        .unwrap();
    let activate = |app: &TestApp, id: i64| {
        reqwest::Client::new()
            .post(app.url(&format!("/api/v1/enrollments/{id}/activate")))
            .bearer_auth(&pm)
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
            .json(&serde_json::json!({"reason": "head-end confirmed"}))
            .send()
    };

    // Behind a trusted proxy: the address the proxy appended, through the API and the console.
    let app = spawn_app_configured(&t, gridflex::grid::console::GridSettings::default(), |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]
    })
    .await;
    assert_eq!(activate(&app, pending[0]).await.unwrap().status(), 200);
    assert_eq!(
        audited_address(&t, "enrollment.status").await.as_deref(),
        Some("203.0.113.7"),
        "{}",
        t.name
    );
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
    let admin = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    app.login(&admin, "admin", PASSWORD).await;
    let res = app
        .post_form(
            &admin,
            "/admin/users",
            "/fn/create_user",
            &[
                ("username", "proxied"),
                ("display_name", "Behind the proxy"),
                ("role", "auditor"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302);
    assert_eq!(
        audited_address(&t, "user.create").await.as_deref(),
        Some("203.0.113.9"),
        "{}: a console form carries the address too",
        t.name
    );
    // The audit trail's readers see it.
    let (_, html) = app.page(&admin, "/audit?action=user.create").await;
    assert!(html.contains("From</th>"), "{}", t.name);
    assert!(html.contains("203.0.113.9"), "{}", t.name);
    drop(app);

    // Without a trusted proxy the header is ignored: the connection's own address counts.
    let app = spawn_app(&t).await;
    assert_eq!(activate(&app, pending[1]).await.unwrap().status(), 200);
    assert_eq!(
        audited_address(&t, "enrollment.status").await.as_deref(),
        Some("127.0.0.1"),
        "{}",
        t.name
    );
    // The address is part of the hash chain, which still verifies.
    assert!(matches!(
        gridflex::db::audit::verify(&t.db).await.unwrap(),
        gridflex::db::audit::ChainCheck::Intact { .. }
    ));
    // The enrollment's own page (program managers) shows no addresses.
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let (_, html) = app
        .page(&manager, &format!("/enrollments/{}", pending[1]))
        .await;
    assert!(!html.contains("127.0.0.1"), "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(the_admin_edits_the_holiday_calendar_and_every_change_is_audited);
async fn the_admin_edits_the_holiday_calendar_and_every_change_is_audited(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    // The demo's default: the US federal holidays, Thanksgiving among them.
    let (status, html) = app.page(&admin, "/admin/holidays").await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(html.contains("Thanksgiving Day"), "{}", t.name);
    let before = t.count("holidays").await;
    assert!(before >= 11, "{}: {before}", t.name);

    let res = app
        .post_form(
            &admin,
            "/admin/holidays",
            "/fn/put_holiday",
            &[("day", "2026-12-24"), ("name", "Christmas Eve")],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let (_, html) = app.page(&admin, "/admin/holidays").await;
    assert!(
        html.contains("data-day=\"2026-12-24\"") && html.contains("Christmas Eve"),
        "{}",
        t.name
    );
    assert_eq!(t.count("holidays").await, before + 1);
    let after: String = t
        .scalar(
            "SELECT after_json FROM audit_log WHERE action = 'holiday.put' AND entity_id = '2026-12-24' AND actor = 'admin'",
            &[],
        )
        .await;
    assert!(after.contains("Christmas Eve"), "{}: {after}", t.name);

    // Bad input is a form error naming what is wrong; nothing is stored.
    for (day, name, says) in [
        ("24/12/2026", "Christmas Eve", "YYYY-MM-DD"),
        ("2026-12-31", "   ", "name"),
    ] {
        let res = app
            .post_form(
                &admin,
                "/admin/holidays",
                "/fn/put_holiday",
                &[("day", day), ("name", name)],
            )
            .await;
        assert_eq!(res.status(), 302, "{}: {day}", t.name);
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let (status, html) = app.page(&admin, &location).await;
        assert_eq!(status, 200, "{}: {location}", t.name);
        assert!(
            html.contains(says),
            "{}: {day} {name:?} says {says}",
            t.name
        );
    }
    assert_eq!(t.count("holidays").await, before + 1);

    // Others may neither open the page nor change the calendar (403).
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let (status, _) = app.page(&manager, "/admin/holidays").await;
    assert_eq!(status, 403, "{}", t.name);
    let csrf = app.csrf(&manager, "/home").await;
    let res = manager
        .post(app.url("/fn/delete_holiday"))
        .header("accept", "application/json")
        .form(&[("csrf", csrf.as_str()), ("day", "2026-12-24")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "{}", t.name);
    assert_eq!(t.count("holidays").await, before + 1);

    // The admin removes it again: gone, and audited with the name it had.
    let res = app
        .post_form(
            &admin,
            "/admin/holidays",
            "/fn/delete_holiday",
            &[("day", "2026-12-24")],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    assert_eq!(t.count("holidays").await, before);
    let gone: String = t
        .scalar(
            "SELECT before_json FROM audit_log WHERE action = 'holiday.delete' AND entity_id = '2026-12-24'",
            &[],
        )
        .await;
    assert!(gone.contains("Christmas Eve"), "{}: {gone}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(a_refused_form_comes_back_with_what_was_typed_once);
async fn a_refused_form_comes_back_with_what_was_typed_once(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;

    // A holiday with a date in the wrong format: the error, a note that the form is kept,
    // and both fields as typed.
    let res = app
        .post_form(
            &admin,
            "/admin/holidays",
            "/fn/put_holiday",
            &[("day", "24/12/2026"), ("name", "Office party")],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let (_, html) = app.page(&admin, "/admin/holidays").await;
    assert!(html.contains("YYYY-MM-DD"), "{}: the error", t.name);
    assert!(html.contains("id=\"kept-note\""), "{}: the note", t.name);
    assert!(
        html.contains("value=\"24/12/2026\"") && html.contains("value=\"Office party\""),
        "{}: what was typed",
        t.name
    );
    // Shown once: the next visit has an empty form again.
    let (_, html) = app.page(&admin, "/admin/holidays").await;
    assert!(
        !html.contains("Office party") && !html.contains("kept-note"),
        "{}: kept once",
        t.name
    );

    // A user the server refuses (a username too short): name and role come back, the
    // password never does.
    let password = "correct-horse-battery-staple";
    let res = app
        .post_form(
            &admin,
            "/admin/users",
            "/fn/create_user",
            &[
                ("username", "x"),
                ("display_name", "Ada Lovelace"),
                ("role", "auditor"),
                ("password", password),
            ],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let (_, html) = app.page(&admin, "/admin/users").await;
    assert!(html.contains("id=\"kept-note\""), "{}: the note", t.name);
    assert!(
        html.contains("value=\"Ada Lovelace\"") && html.contains("value=\"auditor\" selected"),
        "{}: name and role as typed",
        t.name
    );
    assert!(!html.contains(password), "{}: no password", t.name);

    // A value map entry refused on another page is not put into this one's form.
    let res = app
        .post_form(
            &admin,
            "/admin/holidays",
            "/fn/put_holiday",
            &[("day", "2026-13-40"), ("name", "Nowhere day")],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let (_, html) = app.page(&admin, "/admin/users").await;
    assert!(
        !html.contains("Nowhere day"),
        "{}: another form's fields",
        t.name
    );

    // A strategy the server refuses (an unknown zone) keeps every field, the new-strategy
    // form open.
    let operator = app.browser();
    app.login(&operator, "operator", PASSWORD).await;
    let res = app
        .post_form(
            &operator,
            "/strategies",
            "/fn/save_strategy",
            &[
                ("strategy[name]", "Evening peak trim"),
                ("strategy[description]", "Typed, then refused"),
                ("strategy[zone]", "NO-SUCH-NODE"),
                ("strategy[programs]", "SMT-BYOD"),
                ("strategy[event_type]", "Economic"),
                ("strategy[objective]", "LoadReduction"),
                ("strategy[target_mw]", "2.5"),
                ("strategy[control_level]", "full"),
                ("strategy[override_rules]", "on"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let (_, html) = app.page(&operator, "/strategies").await;
    assert!(html.contains("id=\"kept-note\""), "{}: the note", t.name);
    for typed in [
        "value=\"Evening peak trim\"",
        "value=\"Typed, then refused\"",
        "value=\"NO-SUCH-NODE\"",
        "value=\"2.5\"",
        "value=\"LoadReduction\" selected",
    ] {
        assert!(html.contains(typed), "{}: {typed}", t.name);
    }
    drop(app);
    t.cleanup().await;
}

each_backend!(every_whole_list_shows_its_page_count_and_refuses_a_bad_page);
async fn every_whole_list_shows_its_page_count_and_refuses_a_bad_page(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    for path in ["/events", "/programs", "/aggregators", "/admin/users"] {
        let (status, html) = app.page(&admin, path).await;
        assert_eq!(status, 200, "{}: {path}", t.name);
        assert!(
            html.contains("id=\"page-count\"") && html.contains("Page 1 of "),
            "{}: {path} counts its pages",
            t.name
        );
        for bad in ["x", "-5", "100000"] {
            let (status, html) = app.page(&admin, &format!("{path}?after={bad}")).await;
            assert_eq!(status, 400, "{}: {path}?after={bad}", t.name);
            assert!(html.contains("`after`"), "{}: names the parameter", t.name);
        }
    }
    // The events list counts 25 to a page; its last page links back and not on.
    let events = t.count("events").await;
    let pages = (events + 24) / 25;
    let (_, html) = app.page(&admin, "/events").await;
    assert!(
        html.contains(&format!("Page 1 of {pages}")),
        "{}: {events} events",
        t.name
    );
    let last = (pages - 1) * 25;
    let (status, html) = app.page(&admin, &format!("/events?after={last}")).await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(
        html.contains(&format!("Page {pages} of {pages}")) && !html.contains("rel=\"next\""),
        "{}: the last page",
        t.name
    );
    assert_eq!(html.contains("rel=\"prev\""), pages > 1, "{}", t.name);
    drop(app);
    t.cleanup().await;
}
