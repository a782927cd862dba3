//! The customer's side of the pages (issue 13), over HTTP through the real router on
//! SQLite and PostgreSQL: a form posted without JavaScript comes back at the form with its
//! error (not base64 in the address, not beside a stale success message), a top-up started
//! from a shortfall brings the customer back to what they were doing, and times are shown
//! in the customer's time zone (a profile setting) and named.

use crate::common;

use axum::http::{Method, StatusCode};
use common::{
    Backend, PASSWORD, TEST_NOW, TestApp, TestResponse, call, form_post_from as form_post,
    session_of, sign_up, subscribe_locally,
};
use studio_billing::server::zones;

/// A page load, as a browser sends it.
async fn page(app: &TestApp, path: &str, cookies: &str) -> TestResponse {
    app.call(
        Method::GET,
        path,
        &[("accept", "text/html"), ("cookie", cookies)],
        None,
    )
    .await
}

/// The `name=value` of the response's cookie `name`, if it set one.
fn cookie_set(res: &TestResponse, name: &str) -> Option<String> {
    res.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// Without JavaScript, a refused plan change comes back to the page at the form
/// (`#form-error`), with the error shown there once, the address free of `__err`, and the
/// success message the address held (`subscribed=1`) gone. An address that carries an
/// error (a crafted link) is answered with the page without it.
async fn a_form_error_comes_back_at_the_form_and_only_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let session = format!("sb_session={}", sign_up(&app, "nojs@example.com").await);
    let res = form_post(
        &app,
        "plans/change",
        &session,
        "http://127.0.0.1:3000/subscription?subscribed=1&before=5",
        &[("action", "upside-down")],
    )
    .await;
    assert!(res.status.is_redirection(), "{}", res.status);
    let location = res.header("location");
    assert_eq!(location, "/subscription?before=5#form-error");
    let flash = cookie_set(&res, "studio_form_error").expect("the error waits in a cookie");
    assert!(
        flash.starts_with("studio_form_error=/api/plans/change|"),
        "{flash}"
    );

    let cookies = format!("{session}; {flash}");
    let shown = page(&app, "/subscription?before=5", &cookies).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        shown.body.contains(r#"id="form-error""#)
            && shown
                .body
                .contains("That plan change is not one this page offers."),
        "the error is shown at its form"
    );
    assert_eq!(
        cookie_set(&shown, "studio_form_error").as_deref(),
        Some("studio_form_error="),
        "shown once: the cookie is cleared"
    );
    let again = page(&app, "/subscription?before=5", &session).await;
    assert!(
        !again
            .body
            .contains("That plan change is not one this page offers.")
    );

    // A link that carries an error is not shown; it goes to the page without it.
    let crafted = page(
        &app,
        "/subscription?before=5&__path=%2Fapi%2Fplans%2Fchange&__err=eyJjb2RlIjoiYmFkX3JlcXVlc3QifQ%3D%3D",
        &session,
    )
    .await;
    assert_eq!(crafted.status, StatusCode::SEE_OTHER);
    assert_eq!(crafted.header("location"), "/subscription?before=5");
    // A cookie this layer did not write is ignored.
    let forged = page(
        &app,
        "/subscription",
        &format!("{session}; studio_form_error=/api/plans/change|<b>hi</b>"),
    )
    .await;
    assert!(!forged.body.contains(r#"id="form-error""#));
    app.cleanup().await;
}

/// Without JavaScript (and so with it: the pages are islands, every form is posted), a
/// change that succeeds comes back to the page saying what it did, once: the result waits
/// in a signed cookie, the page shows it and clears it. A result cookie this app did not
/// sign is ignored.
async fn a_form_result_comes_back_with_the_page_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let token = sign_up(&app, "done@example.com").await;
    let session = format!("sb_session={token}");
    subscribe_locally(&app, &token, "creator").await;
    let res = form_post(
        &app,
        "plans/change",
        &session,
        "http://127.0.0.1:3000/subscription?confirm=cancel",
        &[("action", "change"), ("plan", "starter")],
    )
    .await;
    assert!(res.status.is_redirection(), "{}", res.status);
    assert_eq!(res.header("location"), "/subscription#plans");
    let result = cookie_set(&res, "studio_form_result").expect("the result waits in a cookie");
    assert!(
        result.starts_with("studio_form_result=/api/plans/change|"),
        "{result}"
    );

    let said = "Switch booked: you move to Starter on";
    let shown = page(&app, "/subscription", &format!("{session}; {result}")).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains(said), "the page says what was done");
    assert!(
        shown.body.contains(r#"data-testid="plan-message""#),
        "as the plan's message"
    );
    assert_eq!(
        cookie_set(&shown, "studio_form_result").as_deref(),
        Some("studio_form_result="),
        "said once: the cookie is cleared"
    );
    let again = page(&app, "/subscription", &session).await;
    assert!(!again.body.contains(said));

    // The same result with other words in it, not sealed by this app: ignored.
    let value = result.trim_start_matches("studio_form_result=");
    let parts: Vec<&str> = value.split('|').collect();
    assert_eq!(parts.len(), 4, "path, result, time, seal: {value}");
    let forged = format!(
        "studio_form_result={}|{}|{}|{}",
        parts[0],
        base64_url(br#"{"upgraded":{"plan":"Everything for free"}}"#),
        parts[2],
        parts[3]
    );
    let shown = page(&app, "/subscription", &format!("{session}; {forged}")).await;
    assert!(!shown.body.contains("Everything for free"));
    assert!(!shown.body.contains(r#"data-testid="plan-message""#));
    // The genuine one, in another customer's browser: not theirs, not shown.
    let other = format!("sb_session={}", sign_up(&app, "other@example.com").await);
    let shown = page(&app, "/subscription", &format!("{other}; {result}")).await;
    assert!(!shown.body.contains(said));

    // A change made by a script (JSON, not a form) hands nothing on.
    let res = common::call(&app, "plans/change", Some(&token), &[("action", "keep")]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(cookie_set(&res, "studio_form_result"), None);
    app.cleanup().await;
}

/// Base64url without padding, as the result cookie carries its JSON.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Too few credits in the Try panel, without JavaScript: back at the panel with the
/// operation and size asked (not the address's old `tried=` receipt), the shortfall and a
/// form that buys the smallest covering pack; paying for it offers the way back to the
/// panel with the same choice. A way back that is not a path on this site is dropped.
async fn a_top_up_from_a_shortfall_leads_back_to_the_panel(backend: Backend) {
    let app = TestApp::start(backend).await;
    let token = sign_up(&app, "short@example.com").await;
    let session = format!("sb_session={token}");
    let tried = form_post(
        &app,
        "demo/try",
        &session,
        "http://127.0.0.1:3000/subscription?op=voice_generation&qty=3&tried=17",
        &[
            ("operation", "sound_effects"),
            ("quantity", "40"),
            ("intent", "run"),
            ("request_key", "try-key-0000000000000001"),
        ],
    )
    .await;
    assert_eq!(
        tried.header("location"),
        "/subscription?op=sound_effects&qty=40#form-error"
    );
    let flash = cookie_set(&tried, "studio_form_error").unwrap();
    let shown = page(
        &app,
        "/subscription?op=sound_effects&qty=40",
        &format!("{session}; {flash}"),
    )
    .await;
    assert!(
        shown.body.contains(r#"data-testid="p10-notice""#),
        "the shortfall is said"
    );
    assert!(
        !shown.body.contains(r#"data-testid="try-done""#),
        "no stale success"
    );
    let then = "/subscription?op=sound_effects&amp;qty=40#try";
    assert!(
        shown
            .body
            .contains(&format!(r#"name="then" value="{then}""#)),
        "the covering pack's form leads back to the panel"
    );

    // Buying it with that way back; paying; the page after says how to go back.
    let way_back = "/subscription?op=sound_effects&qty=40#try";
    let bought = call(
        &app,
        "top-up/buy",
        Some(&token),
        &[
            ("pack", "small"),
            ("request_key", "shortfall-key-000001"),
            ("then", way_back),
        ],
    )
    .await;
    let checkout = bought.header("location").to_owned();
    let (path, query) = checkout.split_once('?').expect("the way back rides along");
    assert_eq!(
        query,
        "then=%2Fsubscription%3Fop%3Dsound_effects%26qty%3D40%23try"
    );
    let session_id = path.trim_start_matches("/checkout/local/");
    let paid = call(
        &app,
        "checkout/local/pay",
        Some(&token),
        &[
            ("session_id", session_id),
            ("method", "card"),
            ("then", way_back),
        ],
    )
    .await;
    let complete = paid.header("location").to_owned();
    assert_eq!(
        complete,
        format!("/top-up/complete?session_id={session_id}&{query}")
    );
    let done = page(&app, &complete, &session).await;
    assert!(done.body.contains(r#"data-testid="top-up-paid""#));
    assert!(
        done.body
            .contains(r#"href="/subscription?op=sound_effects&amp;qty=40#try""#)
            && done.body.contains(r#"data-testid="top-up-back""#),
        "the way back to the panel"
    );

    // Another site is never a way back.
    let elsewhere = call(
        &app,
        "top-up/buy",
        Some(&token),
        &[
            ("pack", "small"),
            ("request_key", "shortfall-key-000002"),
            ("then", "https://evil.example/"),
        ],
    )
    .await;
    assert!(!elsewhere.header("location").contains('?'));
    let sneaky = page(
        &app,
        &format!("/top-up/complete?session_id={session_id}&then=%2F%2Fevil.example"),
        &session,
    )
    .await;
    assert!(!sneaky.body.contains(r#"data-testid="top-up-back""#));
    app.cleanup().await;
}

/// The time zone is a profile setting the server uses without JavaScript: chosen from the
/// list, every time on the pages reads in it and the page names it; a name the tz database
/// does not know is refused and changes nothing; a browser's own zone never overrides a
/// choice but is taken by a customer who has none; signing in brings the choice back.
async fn times_are_shown_in_the_customers_time_zone(backend: Backend) {
    let app = TestApp::start(backend).await;
    let token = sign_up(&app, "zone@example.com").await;
    subscribe_locally(&app, &token, "creator").await;
    let session = format!("sb_session={token}");
    let berlin = zones::table("Europe/Berlin").unwrap();
    let utc = studio_billing::domain::zone::Zone::utc();

    let before = page(&app, "/history", &session).await;
    assert!(before.body.contains("Times are in UTC."));
    assert!(before.body.contains(&utc.date_time(TEST_NOW)));

    let set = call(
        &app,
        "account/set_time_zone",
        Some(&token),
        &[("zone", "Europe/Berlin")],
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let tz = cookie_set(&set, "studio_tz").expect("the browser remembers it");
    assert_eq!(tz, "studio_tz=Europe/Berlin");
    let after = page(&app, "/history", &format!("{session}; {tz}")).await;
    assert!(after.body.contains("Times are in Europe/Berlin."));
    assert!(
        after.body.contains(&berlin.date_time(TEST_NOW)),
        "the grant's time, in Berlin"
    );
    assert!(!after.body.contains(&utc.date_time(TEST_NOW)));

    let bad = call(
        &app,
        "account/set_time_zone",
        Some(&token),
        &[("zone", "Mars/Base")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("Pick a time zone from the list."),
        "{}",
        bad.body
    );
    let setting = call(&app, "account/time_zone", Some(&token), &[])
        .await
        .json();
    assert_eq!(setting["chosen"], "Europe/Berlin");
    assert!(setting["names"].as_array().unwrap().len() > 300);

    // The browser's own zone: not over a choice.
    let offered = call(
        &app,
        "account/browser_time_zone",
        Some(&token),
        &[("zone", "Asia/Tokyo")],
    )
    .await;
    assert_eq!(offered.json(), "Europe/Berlin");
    // A customer with no choice takes it.
    let fresh = sign_up(&app, "fresh@example.com").await;
    let offered = call(
        &app,
        "account/browser_time_zone",
        Some(&fresh),
        &[("zone", "Asia/Tokyo")],
    )
    .await;
    assert_eq!(offered.json(), "Asia/Tokyo");
    assert_eq!(
        cookie_set(&offered, "studio_tz").as_deref(),
        Some("studio_tz=Asia/Tokyo")
    );
    let nonsense = call(
        &app,
        "account/browser_time_zone",
        Some(&fresh),
        &[("zone", "not a zone")],
    )
    .await;
    assert_eq!(nonsense.json(), serde_json::Value::Null);

    // On another browser, signing in brings the choice along.
    let signed_in = call(
        &app,
        "auth/sign_in",
        None,
        &[("email", "zone@example.com"), ("password", PASSWORD)],
    )
    .await;
    assert!(session_of(&signed_in).is_some());
    assert_eq!(
        cookie_set(&signed_in, "studio_tz").as_deref(),
        Some("studio_tz=Europe/Berlin")
    );
    app.cleanup().await;
}

/// A local payment has the app's own receipt, for its customer only, and only once the
/// money is received.
async fn a_local_payment_has_its_own_receipt(backend: Backend) {
    let app = TestApp::start(backend).await;
    let token = sign_up(&app, "receipt@example.com").await;
    subscribe_locally(&app, &token, "creator").await;
    let overview = call(&app, "subscription/overview", Some(&token), &[])
        .await
        .json();
    let payment = &overview["payments"][0];
    let id = payment["id"].as_i64().unwrap();
    assert_eq!(payment["test_mode"], true);
    let receipt = call(
        &app,
        "payments/receipt",
        Some(&token),
        &[("id", &id.to_string()), ("stripe_unavailable", "false")],
    )
    .await;
    assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.body);
    let receipt = receipt.json();
    assert_eq!(receipt["number"], format!("P-{id:06}"));
    assert_eq!(receipt["line"]["plan_name"], "Creator");
    assert_eq!(receipt["email"], "receipt@example.com");
    let shown = page(
        &app,
        &format!("/payments/{id}"),
        &format!("sb_session={token}"),
    )
    .await;
    assert!(shown.body.contains(r#"data-testid="payment-receipt""#));
    assert!(shown.body.contains("Creator plan: 5,000 credits"));

    let other = sign_up(&app, "nosy@example.com").await;
    let theirs = call(
        &app,
        "payments/receipt",
        Some(&other),
        &[("id", &id.to_string()), ("stripe_unavailable", "false")],
    )
    .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    // A checkout still open (not paid) has no receipt.
    let open = call(
        &app,
        "top-up/buy",
        Some(&token),
        &[("pack", "small"), ("request_key", "receipt-open-key-0001")],
    )
    .await;
    assert!(open.header("location").starts_with("/checkout/local/"));
    let open_id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM payments")
        .fetch_one(app.state.db.reader())
        .await
        .unwrap();
    let none = call(
        &app,
        "payments/receipt",
        Some(&token),
        &[
            ("id", &open_id.to_string()),
            ("stripe_unavailable", "false"),
        ],
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    app.cleanup().await;
}

on_both_backends!(
    a_form_error_comes_back_at_the_form_and_only_once,
    a_form_result_comes_back_with_the_page_once,
    a_top_up_from_a_shortfall_leads_back_to_the_panel,
    times_are_shown_in_the_customers_time_zone,
    a_local_payment_has_its_own_receipt,
);
